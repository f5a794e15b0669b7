//! The status conditions a Terminating namespace shows while it is emptied,
//! worded as upstream's namespace controller words them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::NamespaceCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// What one pass over a namespace's content found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContentReport {
    /// Why deleting some kinds failed.
    pub failures: Vec<String>,
    /// Objects still present, by resource (`pods`, `replicasets.apps`).
    pub remaining: BTreeMap<String, usize>,
    /// Objects still present, by finalizer they wait on.
    pub finalizers: BTreeMap<String, usize>,
}

impl ContentReport {
    pub fn is_empty(&self) -> bool {
        self.remaining.values().all(|n| *n == 0)
    }
}

/// (type, reason, message) when all is well.
const OK: [(&str, &str, &str); 5] = [
    ("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered", "All resources successfully discovered"),
    ("NamespaceDeletionGroupVersionParsingFailure", "ParsedGroupVersions", "All legacy kube types successfully parsed"),
    ("NamespaceDeletionContentFailure", "ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
    ("NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"),
    ("NamespaceFinalizersRemaining", "ContentHasNoFinalizers", "All content-preserving finalizers finished"),
];

/// The problem `report` shows for a condition type, as (reason, message).
fn problem(report: &ContentReport, kind: &str) -> Option<(&'static str, String)> {
    match kind {
        "NamespaceDeletionContentFailure" if !report.failures.is_empty() => Some((
            "ContentDeletionFailed",
            format!("Failed to delete all resource types, {} remaining: {}", report.failures.len(), report.failures.join(", ")),
        )),
        "NamespaceContentRemaining" if !report.is_empty() => {
            let parts: Vec<String> = report
                .remaining
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(resource, n)| format!("{} has {n} resource instances", dotted(resource)))
                .collect();
            Some(("SomeResourcesRemain", format!("Some resources are remaining: {}", parts.join(", "))))
        }
        "NamespaceFinalizersRemaining" if report.finalizers.values().any(|n| *n > 0) => {
            let parts: Vec<String> =
                report.finalizers.iter().filter(|(_, n)| **n > 0).map(|(f, n)| format!("{f} in {n} resource instances")).collect();
            Some(("SomeFinalizersRemain", format!("Some content in the namespace has finalizers remaining: {}", parts.join(", "))))
        }
        _ => None,
    }
}

/// Upstream prints `resource.group`, so a core resource reads `pods.`.
fn dotted(resource: &str) -> String {
    if resource.contains('.') { resource.to_string() } else { format!("{resource}.") }
}

/// The conditions `report` calls for; a condition whose status did not
/// change keeps its `lastTransitionTime` from `current`.
pub fn conditions(report: &ContentReport, current: &[NamespaceCondition], now: Time) -> Vec<NamespaceCondition> {
    OK.iter()
        .map(|(kind, ok_reason, ok_message)| {
            let (status, reason, message) = match problem(report, kind) {
                Some((reason, message)) => ("True", reason.to_string(), message),
                None => ("False", ok_reason.to_string(), ok_message.to_string()),
            };
            let since = current
                .iter()
                .find(|c| c.type_ == *kind && c.status == status)
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| now.clone());
            NamespaceCondition {
                type_: kind.to_string(),
                status: status.to_string(),
                reason: Some(reason),
                message: Some(message),
                last_transition_time: Some(since),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    #[test]
    fn remaining_content_and_finalizers_are_spelled_out() {
        let report = ContentReport {
            failures: Vec::new(),
            remaining: [("pods".to_string(), 2), ("replicasets.apps".to_string(), 1), ("secrets".to_string(), 0)].into(),
            finalizers: [("example.com/hold".to_string(), 1)].into(),
        };
        let c = conditions(&report, &[], time("2024-01-01T00:00:00Z"));
        let by = |t: &str| c.iter().find(|c| c.type_ == t).unwrap().clone();
        assert_eq!(by("NamespaceContentRemaining").status, "True");
        assert_eq!(
            by("NamespaceContentRemaining").message.unwrap(),
            "Some resources are remaining: pods. has 2 resource instances, replicasets.apps has 1 resource instances"
        );
        assert_eq!(
            by("NamespaceFinalizersRemaining").message.unwrap(),
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
        );
        assert_eq!(by("NamespaceDeletionContentFailure").status, "False");
        assert_eq!(c.len(), 5);
    }

    #[test]
    fn unchanged_status_keeps_its_transition_time() {
        let first = conditions(&ContentReport::default(), &[], time("2024-01-01T00:00:00Z"));
        let again = conditions(&ContentReport::default(), &first, time("2024-01-01T00:05:00Z"));
        assert_eq!(first, again, "a second pass over the same state changes nothing");
        let failing = ContentReport { failures: vec!["pods: boom".into()], ..Default::default() };
        let changed = conditions(&failing, &first, time("2024-01-01T00:05:00Z"));
        let c = changed.iter().find(|c| c.type_ == "NamespaceDeletionContentFailure").unwrap();
        assert_eq!(c.status, "True");
        assert_eq!(c.last_transition_time, Some(time("2024-01-01T00:05:00Z")));
    }
}
