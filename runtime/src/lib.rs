//! Node side of wasmkube: the agent (kubelet), the ContainerRuntime trait and its wasm and linux implementations. Arrives with the node issue.
