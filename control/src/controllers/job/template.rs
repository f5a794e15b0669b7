//! The pods a Job creates from its template: upstream's labels, the owner
//! reference, the tracking finalizer and, for Indexed Jobs, the completion
//! index (annotation, label, `JOB_COMPLETION_INDEX` and the hostname).

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;

use super::pods::{COMPLETION_INDEX_KEY, TRACKING_FINALIZER};
use crate::controllers::ControllerError;

/// The owner reference a Job's pods carry.
pub fn controller_ref(job: &Job) -> Result<OwnerReference, ControllerError> {
    let owner = job.controller_owner_ref(&()).ok_or_else(|| ControllerError::Invalid("the Job has no name or uid".into()))?;
    Ok(OwnerReference { block_owner_deletion: Some(true), ..owner })
}

/// A new pod for `job` (for completion `index` of an Indexed Job).
pub fn pod_for(job: &Job, index: Option<i32>) -> Result<Pod, ControllerError> {
    let name = job.metadata.name.clone().unwrap_or_default();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let spec = job.spec.as_ref().ok_or_else(|| ControllerError::Invalid("the Job has no spec".into()))?;
    let template = &spec.template;
    let mut pod_spec = template.spec.clone().ok_or_else(|| ControllerError::Invalid("the Job's pod template has no spec".into()))?;
    let template_meta = template.metadata.clone().unwrap_or_default();
    let mut labels = template_meta.labels.unwrap_or_default();
    for (key, value) in [
        ("batch.kubernetes.io/controller-uid", &uid),
        ("controller-uid", &uid),
        ("batch.kubernetes.io/job-name", &name),
        ("job-name", &name),
    ] {
        labels.entry(key.to_string()).or_insert_with(|| value.clone());
    }
    let mut annotations = template_meta.annotations.unwrap_or_default();
    let mut generate_name = format!("{name}-");
    if let Some(index) = index {
        labels.insert(COMPLETION_INDEX_KEY.into(), index.to_string());
        annotations.insert(COMPLETION_INDEX_KEY.into(), index.to_string());
        generate_name = format!("{name}-{index}-");
        pod_spec.hostname.get_or_insert_with(|| format!("{name}-{index}"));
        // Upstream reads the index from the annotation, so it follows the pod.
        let from_annotation = EnvVar {
            name: "JOB_COMPLETION_INDEX".into(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: format!("metadata.annotations['{COMPLETION_INDEX_KEY}']"),
                    api_version: None,
                }),
                ..Default::default()
            }),
            value: None,
        };
        for container in pod_spec.init_containers.iter_mut().flatten().chain(pod_spec.containers.iter_mut()) {
            let env = container.env.get_or_insert_with(Vec::new);
            if !env.iter().any(|e| e.name == "JOB_COMPLETION_INDEX") {
                env.push(from_annotation.clone());
            }
        }
    }
    Ok(Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name),
            namespace: job.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: Some(vec![controller_ref(job)?]),
            finalizers: Some(vec![TRACKING_FINALIZER.into()]),
            ..Default::default()
        },
        spec: Some(pod_spec),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::JobSpec;
    use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};

    fn job() -> Job {
        Job {
            metadata: ObjectMeta { name: Some("pi".into()), namespace: Some("ns".into()), uid: Some("u-1".into()), ..Default::default() },
            spec: Some(JobSpec {
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta { labels: Some([("app".to_string(), "pi".to_string())].into()), ..Default::default() }),
                    spec: Some(PodSpec { containers: vec![Container { name: "c".into(), ..Default::default() }], ..Default::default() }),
                },
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn pods_carry_labels_owner_and_finalizer() {
        let pod = pod_for(&job(), None).expect("pod");
        let meta = &pod.metadata;
        assert_eq!(meta.generate_name.as_deref(), Some("pi-"));
        let labels = meta.labels.as_ref().expect("labels");
        assert_eq!(labels["app"], "pi");
        assert_eq!(labels["batch.kubernetes.io/controller-uid"], "u-1");
        assert_eq!(labels["job-name"], "pi");
        let owner = &meta.owner_references.as_ref().expect("owner")[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str(), owner.controller, owner.block_owner_deletion), ("Job", "u-1", Some(true), Some(true)));
        assert_eq!(meta.finalizers.as_deref(), Some(&[TRACKING_FINALIZER.to_string()][..]));
    }

    #[test]
    fn indexed_pods_know_their_index() {
        let pod = pod_for(&job(), Some(2)).expect("pod");
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("pi-2-"));
        assert_eq!(pod.metadata.annotations.as_ref().expect("annotations")[COMPLETION_INDEX_KEY], "2");
        let spec = pod.spec.expect("spec");
        assert_eq!(spec.hostname.as_deref(), Some("pi-2"));
        let env = spec.containers[0].env.as_ref().expect("env");
        assert_eq!(env[0].name, "JOB_COMPLETION_INDEX");
    }

    #[test]
    fn a_template_without_spec_is_invalid_not_a_panic() {
        let mut j = job();
        if let Some(spec) = j.spec.as_mut() {
            spec.template.spec = None;
        }
        assert!(matches!(pod_for(&j, None), Err(ControllerError::Invalid(_))));
    }
}
