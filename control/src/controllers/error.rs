//! What can go wrong in a reconcile. Every reconcile returns these; the loop
//! logs them and retries with backoff, so none of them ends a controller.

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error(transparent)]
    Api(#[from] kube::Error),
    /// The object cannot be acted on as it is (e.g. a selector that does not
    /// parse); retried only when the object changes.
    #[error("{0}")]
    Invalid(String),
}

impl ControllerError {
    /// A 409 Conflict: someone else wrote first; re-read and try again at once.
    pub fn is_conflict(&self) -> bool {
        matches!(self, ControllerError::Api(kube::Error::Api(s)) if s.code == 409)
    }

    /// A 404: the object went away meanwhile, which is the desired end anyway.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ControllerError::Api(kube::Error::Api(s)) if s.code == 404)
    }
}
