//! One reconcile of a StatefulSet: observe its pods and revisions through
//! the API, make sure a revision of the current template exists, take the
//! steps [`plan`](super::plan) decides (claims first, then the pod), apply
//! the claims' retention policy, record status and prune history.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, PodTemplateSpec};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::Selector;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::claims::{claims_for, ordinal_of_claim, owners_to_write, scaled_away};
use super::identity::{controlled_by, new_pod, pod_name, start_ordinal};
use super::plan::{plan, DeleteReason, Desired, Step, Strategy};
use super::revision::{template_of, to_prune, update_revision, UpdateRevision};
use super::status::{compute, Revisions};
use super::{pods, SetContext};
use crate::controllers::ControllerError;
use crate::events::EventType;

/// A level-triggered resync, like upstream's informer resync.
const RESYNC: Duration = Duration::from_secs(30);
/// How soon to look again when a step had to wait on something we do not watch.
const SHORT_RETRY: Duration = Duration::from_secs(1);
/// Name collisions tolerated before giving up on a revision (upstream loops too).
const MAX_COLLISIONS: usize = 8;

fn is_code(err: &kube::Error, code: u16) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == code)
}

pub async fn reconcile(set: Arc<StatefulSet>, ctx: Arc<SetContext>) -> Result<Action, ControllerError> {
    if set.metadata.deletion_timestamp.is_some() {
        // The garbage collector removes the pods with the set.
        return Ok(Action::await_change());
    }
    let namespace = set.namespace().unwrap_or_else(|| "default".into());
    let spec = set.spec.clone().ok_or_else(|| ControllerError::Invalid("a StatefulSet without spec".into()))?;
    let selector = Selector::try_from(spec.selector.clone()).map_err(|e| ControllerError::Invalid(format!("spec.selector: {e}")))?;
    let by_selector = ListParams::default().labels_from(&selector);
    let client = ctx.ctx.client.clone();
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let revisions_api: Api<ControllerRevision> = Api::namespaced(client.clone(), &namespace);
    let claims_api: Api<PersistentVolumeClaim> = Api::namespaced(client, &namespace);

    let pods = pods_api.list(&by_selector).await?.items;
    let mut revisions: Vec<ControllerRevision> =
        revisions_api.list(&by_selector).await?.items.into_iter().filter(|r| controlled_by(r.owner_references(), &set)).collect();
    let collisions = set.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0);
    let (update_rev, collisions) = ensure_update_revision(&set, &revisions_api, &mut revisions, collisions).await?;
    let current_rev = set
        .status
        .as_ref()
        .and_then(|s| s.current_revision.clone())
        .filter(|name| revisions.iter().any(|r| r.name_any() == *name))
        .unwrap_or_else(|| update_rev.clone());

    let replicas = pods::replicas(&set, &pods);
    let strategy = match spec.update_strategy.as_ref().and_then(|s| s.type_.as_deref()) {
        Some("OnDelete") => Strategy::OnDelete,
        _ => Strategy::RollingUpdate {
            partition: spec.update_strategy.as_ref().and_then(|s| s.rolling_update.as_ref()).and_then(|r| r.partition).unwrap_or(0),
        },
    };
    let desired = Desired {
        replicas: spec.replicas.unwrap_or(1),
        start: start_ordinal(&set),
        parallel: spec.pod_management_policy.as_deref() == Some("Parallel"),
        strategy,
        current_revision: &current_rev,
        update_revision: &update_rev,
    };
    let mut retry_soon = false;
    for step in plan(&desired, &replicas) {
        let done = match step {
            Step::Create { ordinal, revision } => {
                let template = template_for(&set, &revisions, &revision);
                create_replica(&set, &ctx, &pods_api, &claims_api, ordinal, &template, &revision).await?
            }
            Step::Delete { name, reason } => delete_replica(&set, &ctx, &pods_api, &name, reason).await?,
        };
        retry_soon |= !done;
    }

    let live_ordinals: HashSet<i32> = replicas.iter().map(|r| r.ordinal).collect();
    sync_claims(&set, &ctx, &claims_api, &by_selector, &live_ordinals).await?;

    let min_ready = Duration::from_secs(u64::try_from(spec.min_ready_seconds.unwrap_or(0)).unwrap_or(0));
    let owned: Vec<Pod> = pods.into_iter().filter(|p| controlled_by(p.owner_references(), &set)).collect();
    let (available, next_available) = pods::available(&owned, min_ready, Timestamp::now());
    let revs = Revisions { current: &current_rev, update: &update_rev, collisions };
    let status = compute(&set, &replicas, available, &revs);
    if set.status.as_ref() != Some(&status) {
        let api: Api<StatefulSet> = Api::namespaced(ctx.ctx.client.clone(), &namespace);
        api.patch_status(&set.name_any(), &PatchParams::default(), &Patch::Merge(json!({"status": status}))).await?;
    }

    let mut in_use: HashSet<String> = replicas.iter().map(|r| r.revision.clone()).collect();
    in_use.extend([current_rev.clone(), update_rev.clone()]);
    for name in to_prune(&revisions, &in_use, spec.revision_history_limit.unwrap_or(10)) {
        match revisions_api.delete(&name, &DeleteParams::default()).await {
            Err(err) if !is_code(&err, 404) => return Err(err.into()),
            _ => {}
        }
    }

    let wait = if retry_soon { SHORT_RETRY } else { next_available.map_or(RESYNC, |d| d.min(RESYNC) + Duration::from_millis(100)) };
    Ok(Action::requeue(wait))
}

/// The name of the revision of the current template (created or renumbered
/// as needed) and the collision count it took.
async fn ensure_update_revision(
    set: &StatefulSet,
    api: &Api<ControllerRevision>,
    revisions: &mut Vec<ControllerRevision>,
    mut collisions: i32,
) -> Result<(String, i32), ControllerError> {
    for _ in 0..MAX_COLLISIONS {
        match update_revision(set, revisions, collisions) {
            UpdateRevision::Newest(name) => return Ok((name, collisions)),
            UpdateRevision::Renumber { name, number } => {
                let patched = api.patch(&name, &PatchParams::default(), &Patch::Merge(json!({"revision": number}))).await?;
                revisions.retain(|r| r.name_any() != name);
                revisions.push(patched);
                return Ok((name, collisions));
            }
            UpdateRevision::Create(revision) => match api.create(&PostParams::default(), &revision).await {
                Ok(created) => {
                    let name = created.name_any();
                    revisions.push(created);
                    return Ok((name, collisions));
                }
                Err(err) if is_code(&err, 409) => {
                    let existing = api.get(&revision.name_any()).await?;
                    // Our own earlier create (the list we read was older): adopt it as it is.
                    if existing.data == revision.data && controlled_by(existing.owner_references(), set) {
                        let name = existing.name_any();
                        revisions.push(existing);
                        return Ok((name, collisions));
                    }
                    collisions += 1;
                }
                Err(err) => return Err(err.into()),
            },
        }
    }
    Err(ControllerError::Invalid(format!("no free ControllerRevision name for {} after {MAX_COLLISIONS} collisions", set.name_any())))
}

/// The pod template of revision `name` (the set's own template when it is the newest).
fn template_for(set: &StatefulSet, revisions: &[ControllerRevision], name: &str) -> PodTemplateSpec {
    revisions
        .iter()
        .find(|r| r.name_any() == name)
        .and_then(template_of)
        .unwrap_or_else(|| set.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default())
}

/// Creates replica `ordinal`'s missing claims, then its pod. `false` when it
/// had to wait (a claim of the same name is still being deleted).
async fn create_replica(
    set: &StatefulSet,
    ctx: &SetContext,
    pods_api: &Api<Pod>,
    claims_api: &Api<PersistentVolumeClaim>,
    ordinal: i32,
    template: &PodTemplateSpec,
    revision: &str,
) -> Result<bool, ControllerError> {
    let set_name = set.name_any();
    let pod = pod_name(&set_name, ordinal);
    for claim in claims_for(set, ordinal) {
        let claim_name = claim.name_any();
        match claims_api.get_opt(&claim_name).await? {
            Some(existing) if existing.metadata.deletion_timestamp.is_some() => return Ok(false),
            // The replica's claim from before: reattached as it is.
            Some(_) => {}
            None => match claims_api.create(&PostParams::default(), &claim).await {
                Ok(_) => {
                    let message = format!("create Claim {claim_name} Pod {pod} in StatefulSet {set_name} success");
                    ctx.recorder.publish(set, EventType::Normal, "SuccessfulCreate", message).await;
                }
                Err(err) if is_code(&err, 409) => {}
                Err(err) => {
                    let message = format!("create Claim {claim_name} for Pod {pod} in StatefulSet {set_name} failed error: {err}");
                    ctx.recorder.publish(set, EventType::Warning, "FailedCreate", message).await;
                    return Err(err.into());
                }
            },
        }
    }
    match pods_api.create(&PostParams::default(), &new_pod(set, template, ordinal, revision)).await {
        Ok(_) => {
            let message = format!("create Pod {pod} in StatefulSet {set_name} successful");
            ctx.recorder.publish(set, EventType::Normal, "SuccessfulCreate", message).await;
            Ok(true)
        }
        // The previous pod of that name is still on its way out.
        Err(err) if is_code(&err, 409) => Ok(false),
        Err(err) => {
            let message = format!("create Pod {pod} in StatefulSet {set_name} failed error: {err}");
            ctx.recorder.publish(set, EventType::Warning, "FailedCreate", message).await;
            Err(err.into())
        }
    }
}

async fn delete_replica(set: &StatefulSet, ctx: &SetContext, pods_api: &Api<Pod>, name: &str, reason: DeleteReason) -> Result<bool, ControllerError> {
    match pods_api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {
            let why = match reason {
                DeleteReason::ScaleDown => "",
                DeleteReason::Finished => " (it had finished)",
                DeleteReason::Update => " (to update it)",
            };
            let message = format!("delete Pod {name} in StatefulSet {} successful{why}", set.name_any());
            ctx.recorder.publish(set, EventType::Normal, "SuccessfulDelete", message).await;
            Ok(true)
        }
        Err(err) if is_code(&err, 404) => Ok(true),
        Err(err) => {
            let message = format!("delete Pod {name} in StatefulSet {} failed error: {err}", set.name_any());
            ctx.recorder.publish(set, EventType::Warning, "FailedDelete", message).await;
            Err(err.into())
        }
    }
}

/// Applies the retention policy to the claims that exist: the set owns them
/// for `whenDeleted: Delete` (and lets go otherwise), and the claims of
/// scaled-away replicas are deleted for `whenScaled: Delete`.
async fn sync_claims(
    set: &StatefulSet,
    ctx: &SetContext,
    claims_api: &Api<PersistentVolumeClaim>,
    by_selector: &ListParams,
    live_ordinals: &HashSet<i32>,
) -> Result<(), ControllerError> {
    if set.spec.as_ref().and_then(|s| s.volume_claim_templates.as_ref()).is_none_or(Vec::is_empty) {
        return Ok(());
    }
    let claims: Vec<PersistentVolumeClaim> = claims_api
        .list(by_selector)
        .await?
        .items
        .into_iter()
        .filter(|c| c.metadata.deletion_timestamp.is_none() && ordinal_of_claim(set, &c.name_any()).is_some())
        .collect();
    for claim in &claims {
        if let Some(owners) = owners_to_write(set, claim) {
            let patch = json!({"metadata": {"ownerReferences": owners}});
            claims_api.patch(&claim.name_any(), &PatchParams::default(), &Patch::Merge(patch)).await?;
        }
    }
    let names: Vec<String> = claims.iter().map(|c| c.name_any()).collect();
    for claim in scaled_away(set, &names, live_ordinals) {
        match claims_api.delete(&claim, &DeleteParams::default()).await {
            Ok(_) => {
                let message = format!("delete Claim {claim} in StatefulSet {} success", set.name_any());
                ctx.recorder.publish(set, EventType::Normal, "SuccessfulDelete", message).await;
            }
            Err(err) if is_code(&err, 404) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}
