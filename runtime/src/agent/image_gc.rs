//! Image garbage collection on the node: once the image store passes its size
//! budget, images no pod on this node uses are removed, least recently used
//! first (the images crate never removes a blob or snapshot still referenced).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use super::context::AgentContext;

/// How often the store's size is checked.
const EVERY: Duration = Duration::from_secs(300);

/// The image names (as the store records them) that pods on `node` refer to.
async fn images_in_use(ctx: &AgentContext) -> Result<HashSet<String>, kube::Error> {
    let pods: Api<Pod> = Api::all(ctx.client.clone());
    let params = ListParams::default().fields(&format!("spec.nodeName={}", ctx.node.node_name));
    let mut in_use = HashSet::new();
    for pod in pods.list(&params).await?.items {
        let spec = pod.spec.unwrap_or_default();
        let containers = spec.containers.iter().chain(spec.init_containers.iter().flatten());
        for image in containers.filter_map(|c| c.image.as_deref()) {
            if let Ok(reference) = image.parse::<images::ImageRef>() {
                in_use.insert(reference.to_string());
            }
        }
    }
    Ok(in_use)
}

/// Runs forever: every few minutes, collect down to `max_bytes`.
pub async fn keep_collecting(ctx: Arc<AgentContext>, max_bytes: u64) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tick.tick().await;
        // Without an exact list of what is in use, collect nothing this round.
        let in_use = match images_in_use(&ctx).await {
            Ok(set) => set,
            Err(e) => {
                tracing::warn!(error = %e, "image GC skipped: cannot list this node's pods");
                continue;
            }
        };
        match ctx.images.gc(&in_use, max_bytes).await {
            Ok(report) if !report.removed_images.is_empty() => tracing::info!(
                removed = ?report.removed_images,
                before = report.bytes_before,
                after = report.bytes_after,
                "image GC"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "image GC failed"),
        }
    }
}
