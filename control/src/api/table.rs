//! `meta.k8s.io/v1` Table output for `kubectl get`.
//! STUB: to be written (helper "selectors+tables").
