//! What can go wrong while patching or applying, and how each failure maps to
//! the status code upstream answers with.

use crate::error::{ApiError, ConflictCause};

/// One field that another manager owns and an apply would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The manager as upstream prints it: `"kubectl"`, or
    /// `"kubectl-client-side-apply" using apps/v1` for an Update manager.
    pub manager: String,
    /// The field as upstream prints it: `.spec.replicas`.
    pub field: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatchError {
    /// The patch document itself is malformed (400).
    #[error("{0}")]
    Malformed(String),
    /// A well-formed JSON patch that cannot be applied to this object: a failed
    /// `test`, a path that does not exist (422).
    #[error("{0}")]
    NotApplicable(String),
    /// Server-side apply would change fields other managers own (409).
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
}

/// Upstream's wording: one conflict inline, several grouped by manager.
fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [one] = conflicts {
        return format!("Apply failed with 1 conflict: conflict with {}: {}", one.manager, one.field);
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let mut lines = Vec::new();
    for manager in managers {
        lines.push(format!("conflicts with {manager}:"));
        lines.extend(conflicts.iter().filter(|c| c.manager == manager).map(|c| format!("- {}", c.field)));
    }
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

impl From<PatchError> for ApiError {
    fn from(e: PatchError) -> Self {
        match e {
            PatchError::Malformed(msg) => ApiError::BadRequest(msg),
            PatchError::NotApplicable(detail) => ApiError::Unprocessable(detail),
            PatchError::Conflicts(ref conflicts) => ApiError::ApplyConflict {
                message: e.to_string(),
                causes: conflicts
                    .iter()
                    .map(|c| ConflictCause { field: c.field.clone(), message: format!("conflict with {}", c.manager) })
                    .collect(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict(manager: &str, field: &str) -> Conflict {
        Conflict { manager: manager.into(), field: field.into() }
    }

    #[test]
    fn one_conflict_reads_like_upstream() {
        let e = PatchError::Conflicts(vec![conflict("\"kubectl-client-side-apply\" using apps/v1", ".spec.replicas")]);
        assert_eq!(
            e.to_string(),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
        );
        let status = ApiError::from(e).status();
        assert_eq!(status["code"], 409);
        assert_eq!(status["reason"], "Conflict");
        assert_eq!(status["details"]["causes"][0]["reason"], "FieldManagerConflict");
        assert_eq!(status["details"]["causes"][0]["field"], ".spec.replicas");
    }

    #[test]
    fn several_conflicts_are_grouped_by_manager() {
        let e = PatchError::Conflicts(vec![
            conflict("\"b\"", ".spec.replicas"),
            conflict("\"a\"", ".spec.paused"),
            conflict("\"b\"", ".spec.minReadySeconds"),
        ]);
        assert_eq!(
            e.to_string(),
            "Apply failed with 3 conflicts: conflicts with \"a\":\n- .spec.paused\nconflicts with \"b\":\n- .spec.replicas\n- .spec.minReadySeconds"
        );
    }

    #[test]
    fn failures_map_to_upstream_codes() {
        assert_eq!(ApiError::from(PatchError::Malformed("bad".into())).code().as_u16(), 400);
        let status = ApiError::from(PatchError::NotApplicable("value did not match".into())).status();
        assert_eq!(status["code"], 422);
        assert_eq!(status["message"], "the server rejected our request due to an error in our request");
        assert_eq!(status["details"]["causes"][0]["message"], "value did not match");
    }
}
