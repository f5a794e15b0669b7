//! Taking the tracking finalizer off a pod, and nothing else: a JSON patch
//! that tests the entry before removing it, so a concurrent change to the
//! pod's finalizers fails the patch (409/422) instead of removing the wrong one.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::json;

use super::pods::TRACKING_FINALIZER;
use crate::controllers::ControllerError;

/// Removes the tracking finalizer from `pod`. Ok when it is already gone, or
/// the pod is.
pub async fn release(pods: &Api<Pod>, pod: &Pod) -> Result<(), ControllerError> {
    let Some(position) = position(pod) else { return Ok(()) };
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let ops = json!([
        {"op": "test", "path": format!("/metadata/finalizers/{position}"), "value": TRACKING_FINALIZER},
        {"op": "remove", "path": format!("/metadata/finalizers/{position}")},
    ]);
    let patch: json_patch::Patch = serde_json::from_value(ops).map_err(|e| ControllerError::Invalid(format!("finalizer patch: {e}")))?;
    match pods.patch(name, &PatchParams::default(), &Patch::Json::<()>(patch)).await {
        Ok(_) => Ok(()),
        Err(err) => {
            let err = ControllerError::from(err);
            if err.is_not_found() { Ok(()) } else { Err(err) }
        }
    }
}

fn position(pod: &Pod) -> Option<usize> {
    pod.metadata.finalizers.as_ref()?.iter().position(|f| f == TRACKING_FINALIZER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn finds_the_finalizer_among_others() {
        let pod = Pod {
            metadata: ObjectMeta { finalizers: Some(vec!["other".into(), TRACKING_FINALIZER.into()]), ..Default::default() },
            ..Default::default()
        };
        assert_eq!(position(&pod), Some(1));
        assert_eq!(position(&Pod::default()), None);
    }
}
