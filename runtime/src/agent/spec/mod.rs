//! Turning a pod spec into what a runtime runs: argv, environment, limits,
//! Downward API values and the QoS class. Pure functions over the spec and the
//! objects it refers to (fetched by the caller), so they test without a server.

pub mod argv;
pub mod dns;
pub mod downward;
pub mod env;
pub mod limits;
pub mod quantity;

/// Why a container cannot be configured; shown as `CreateContainerConfigError`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("configmap {0:?} not found")]
    ConfigMapNotFound(String),
    #[error("secret {0:?} not found")]
    SecretNotFound(String),
    #[error("couldn't find key {key} in {kind} {name}")]
    KeyNotFound { kind: &'static str, name: String, key: String },
    #[error("unsupported field {0:?}")]
    UnsupportedField(String),
    #[error("invalid quantity {0:?}")]
    BadQuantity(String),
    #[error("no command specified: neither the pod nor the image gives one")]
    NoCommand,
}
