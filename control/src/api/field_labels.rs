//! Which fields each type can be selected by (`?fieldSelector=`), as the
//! upstream API server allows them: anything else is refused with 400.

use super::resources::ResourceType;
use super::selectors::FieldSelector;
use crate::error::ApiError;

fn supported(rt: &ResourceType) -> &'static [&'static str] {
    match (rt.group, rt.plural) {
        ("", "pods") => &[
            "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
            "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName",
        ],
        ("", "events") => &[
            "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
            "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
            "reason", "reportingComponent", "source", "type",
        ],
        ("", "secrets") => &["type"],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "namespaces") => &["status.phase"],
        ("", "replicationcontrollers") | ("apps", "replicasets") => &["status.replicas"],
        ("batch", "jobs") => &["status.successful"],
        _ => &[],
    }
}

/// Refuse selectors on fields the type cannot be selected by.
pub fn check(rt: &ResourceType, selector: &FieldSelector) -> Result<(), ApiError> {
    for term in selector.terms() {
        let path = term.path.as_str();
        if path == "metadata.name" || path == "metadata.namespace" || supported(rt).contains(&path) {
            continue;
        }
        return Err(ApiError::BadRequest(format!(
            "field label not supported: {path} (a {} can be selected by metadata.name, metadata.namespace{})",
            rt.kind,
            supported(rt).iter().map(|f| format!(", {f}")).collect::<String>()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resources::lookup;

    #[test]
    fn pods_select_by_node_but_not_by_anything() {
        let pods = lookup("", "v1", "pods").unwrap();
        assert!(check(pods, &FieldSelector::parse("spec.nodeName=n1,metadata.name=x").unwrap()).is_ok());
        let err = check(pods, &FieldSelector::parse("spec.foo=bar").unwrap()).unwrap_err();
        assert!(err.to_string().starts_with("field label not supported: spec.foo"), "{err}");
        let events = lookup("", "v1", "events").unwrap();
        assert!(check(events, &FieldSelector::parse("involvedObject.uid=1,type=Normal").unwrap()).is_ok());
    }
}
