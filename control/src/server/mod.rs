//! Server bootstrap: TLS, tokens, kubeconfig, HTTP listener.
