//! Admission of a pod to this node: pull its images (Events Pulling and
//! Pulled) and choose, once, the runtime that will run it: the handler of
//! its RuntimeClass, or else what the image is (a wasm module → `wasmtime`,
//! a root filesystem → `linux`). Nothing after admission looks at the kind.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use images::{Content, ImageRef, Keyring, PullFailureReason, PullPolicy, Silent};
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::Api;

use crate::agent::context::AgentContext;
use crate::agent::events::EventType;
use crate::agent::spec::argv::ImageCommand;
use crate::cri::{ContainerRuntime, ImageContent};

/// An image present on the node, with what its config says about running it.
#[derive(Clone, Debug)]
pub struct PulledImage {
    pub content: ImageContent,
    /// `<name>@<manifest digest>`, for `imageID`.
    pub image_id: String,
    pub command: ImageCommand,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
}

/// The outcome of admission.
pub struct Admitted {
    pub handler: &'static str,
    pub runtime: Arc<dyn ContainerRuntime>,
    /// By image reference as the spec writes it.
    pub images: HashMap<String, PulledImage>,
}

#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// A pull failed; the reason is the container's waiting reason.
    #[error("{message}")]
    Pull { container: String, reason: PullFailureReason, message: String },
    /// No runtime on this node can run the pod.
    #[error("{0}")]
    NoRuntime(String),
}

/// Pulls every image of `pod` and resolves its runtime.
pub async fn admit(ctx: &AgentContext, pod: &Pod) -> Result<Admitted, AdmitError> {
    let spec = pod.spec.clone().unwrap_or_default();
    let keys = keyring(ctx, pod).await;
    let mut pulled: HashMap<String, PulledImage> = HashMap::new();
    let containers = spec.init_containers.iter().flatten().chain(&spec.containers);
    for container in containers {
        let image_name = container.image.clone().unwrap_or_default();
        if pulled.contains_key(&image_name) {
            continue;
        }
        let image = pull_one(ctx, pod, &container.name, &image_name, container.image_pull_policy.as_deref(), &keys).await?;
        pulled.insert(image_name, image);
    }
    let handler = match spec.runtime_class_name.as_deref() {
        Some(class) => runtime_class_handler(ctx, class).await?,
        None => {
            let first = spec.init_containers.iter().flatten().chain(&spec.containers).next();
            let content = first.and_then(|c| pulled.get(c.image.as_deref().unwrap_or_default())).map(|p| &p.content);
            match content {
                Some(ImageContent::Rootfs { .. }) => "linux".to_string(),
                _ => "wasmtime".to_string(),
            }
        }
    };
    let Some((&handler, runtime)) = ctx.runtimes.get_key_value(handler.as_str()) else {
        return Err(AdmitError::NoRuntime(format!(
            "this pod needs the {handler:?} runtime, but this node only has {:?}",
            ctx.handler_names()
        )));
    };
    Ok(Admitted { handler, runtime: runtime.clone(), images: pulled })
}

async fn pull_one(
    ctx: &AgentContext,
    pod: &Pod,
    container: &str,
    image_name: &str,
    policy: Option<&str>,
    keys: &Keyring,
) -> Result<PulledImage, AdmitError> {
    let fail = |reason: PullFailureReason, message: String| AdmitError::Pull { container: container.to_string(), reason, message };
    let reference: ImageRef = image_name
        .parse()
        .map_err(|e: images::ImageError| fail(PullFailureReason::InvalidImageName, e.to_string()))?;
    let explicit = policy.map(str::parse::<PullPolicy>).transpose().map_err(|e| fail(PullFailureReason::ErrImagePull, e))?;
    let policy = PullPolicy::effective(explicit, &reference);
    let present = ctx.images.get(&reference).is_some();
    let will_pull = policy == PullPolicy::Always || (!present && policy == PullPolicy::IfNotPresent);
    let started = Instant::now();
    if will_pull {
        ctx.recorder.record(pod, Some(container), EventType::Normal, "Pulling", format!("Pulling image {image_name:?}"));
    }
    let local = match ctx.images.ensure(&reference, policy, keys, &Silent).await {
        Ok(local) => local,
        Err(err) => {
            let reason = PullFailureReason::of(&err);
            let message = format!("Failed to pull image {image_name:?}: {err}");
            ctx.recorder.record(pod, Some(container), EventType::Warning, "Failed", message.clone());
            return Err(fail(reason, message));
        }
    };
    let message = if will_pull {
        format!("Successfully pulled image {image_name:?} in {:.3}s", started.elapsed().as_secs_f64())
    } else {
        format!("Container image {image_name:?} already present on machine")
    };
    ctx.recorder.record(pod, Some(container), EventType::Normal, "Pulled", message);
    let content = match &local.content {
        Content::Wasm { module } => {
            let bytes = ctx.images.module_bytes(module).map_err(|e| fail(PullFailureReason::ErrImagePull, e.to_string()))?;
            ImageContent::Wasm { digest: module.to_string(), bytes: Arc::from(bytes) }
        }
        Content::Rootfs(snapshot) => ImageContent::Rootfs {
            layers: match &snapshot.layout {
                images::unpack::SnapshotLayout::Overlay { lower_dirs } => lower_dirs.clone(),
                images::unpack::SnapshotLayout::Merged { path } => vec![path.clone()],
            },
        },
    };
    let run = &local.record.run;
    let mut entrypoint = run.entrypoint.clone().unwrap_or_default();
    // A wasm image's program is its module: with no entrypoint of its own it
    // is the module, named after the image, so `args` stay arguments and the
    // guest sees a program name in argv[0] as under any WASI host.
    if entrypoint.is_empty() && matches!(local.content, Content::Wasm { .. }) {
        entrypoint = vec![module_program_name(&local.record.name)];
    }
    Ok(PulledImage {
        content,
        image_id: format!("{}@{}", local.record.name, local.record.manifest_digest),
        command: ImageCommand { entrypoint, cmd: run.cmd.clone().unwrap_or_default() },
        env: run.env.clone().unwrap_or_default(),
        working_dir: run.working_dir.clone().filter(|d| !d.is_empty()),
    })
}

/// `registry/wasm/hello:1.0` → `hello.wasm`.
fn module_program_name(image: &str) -> String {
    let repo = image.split('@').next().unwrap_or(image);
    let last = repo.rsplit('/').next().unwrap_or(repo);
    let name = last.split(':').next().unwrap_or(last);
    format!("{name}.wasm")
}

async fn runtime_class_handler(ctx: &AgentContext, class: &str) -> Result<String, AdmitError> {
    let classes: Api<RuntimeClass> = Api::all(ctx.client.clone());
    match classes.get_opt(class).await {
        Ok(Some(rc)) => Ok(rc.handler),
        Ok(None) => Err(AdmitError::NoRuntime(format!("RuntimeClass {class:?} not found"))),
        Err(err) => Err(AdmitError::NoRuntime(format!("reading RuntimeClass {class:?}: {err}"))),
    }
}

/// Registry credentials from the pod's `imagePullSecrets` (missing ones are skipped, as kubelet does).
async fn keyring(ctx: &AgentContext, pod: &Pod) -> Keyring {
    let mut keys = Keyring::default();
    let namespace = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    for reference in pod.spec.iter().flat_map(|s| s.image_pull_secrets.iter().flatten()) {
        let Ok(Some(secret)) = secrets.get_opt(&reference.name).await else { continue };
        let Some(json) = secret.data.as_ref().and_then(|d| d.get(".dockerconfigjson")) else { continue };
        match Keyring::from_docker_config(&json.0) {
            Ok(found) => keys.merge(found),
            Err(err) => tracing::warn!(secret = %reference.name, error = %err, "unusable image pull secret"),
        }
    }
    keys
}

#[cfg(test)]
mod program_name_tests {
    use super::module_program_name;

    #[test]
    fn a_wasm_image_is_run_as_its_module() {
        assert_eq!(module_program_name("127.0.0.1:5000/wasm/hello:1.0"), "hello.wasm");
        assert_eq!(module_program_name("docker.io/local/logger@sha256:abc"), "logger.wasm");
        assert_eq!(module_program_name("burner"), "burner.wasm");
    }
}
