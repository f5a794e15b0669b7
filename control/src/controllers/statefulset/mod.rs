//! The StatefulSet controller: replicas with a stable identity. Replica `n`
//! of set `web` is always the pod `web-n` (hostname `web-n`, subdomain the
//! set's `serviceName`) with its own claims `<template>-web-n`, which
//! survive the pod: a deleted replica comes back under the same name with the
//! same data. Ordering and updates follow upstream (see [`plan`]); every pod
//! records the ControllerRevision it was made from, so `kubectl rollout
//! status/history sts` work.
//!
//! Files: [`identity`] (names, labels, the pod of an ordinal), [`revision`]
//! (ControllerRevisions), [`plan`] (what to create/delete, pure), [`claims`]
//! (the replicas' PVCs and their retention), [`pods`] (reading pods),
//! [`status`] (pure), [`reconcile`] (observe → plan → act → status).

pub mod claims;
pub mod identity;
pub mod plan;
pub mod pods;
pub mod reconcile;
pub mod revision;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::controller::Action;
use kube::runtime::{watcher, Controller};
use kube::{Api, ResourceExt};

use super::{Context, ControllerError};
use crate::events::Recorder;

/// What every reconcile gets.
pub struct SetContext {
    pub ctx: Context,
    pub recorder: Recorder,
}

/// Watches StatefulSets and the pods and revisions they own, until dropped.
pub async fn run(ctx: Context) {
    let sets: Api<StatefulSet> = Api::all(ctx.client.clone());
    let pods: Api<Pod> = Api::all(ctx.client.clone());
    let revisions: Api<ControllerRevision> = Api::all(ctx.client.clone());
    let shared = Arc::new(SetContext { recorder: ctx.recorder("statefulset-controller"), ctx });
    Controller::new(sets, watcher::Config::default())
        .owns(pods, watcher::Config::default())
        .owns(revisions, watcher::Config::default())
        .run(reconcile::reconcile, error_policy, shared)
        .for_each(|_| async {})
        .await;
}

fn error_policy(set: Arc<StatefulSet>, err: &ControllerError, _: Arc<SetContext>) -> Action {
    if err.is_conflict() || err.is_not_found() {
        return Action::requeue(Duration::from_millis(200));
    }
    tracing::warn!(statefulset = %set.name_any(), error = %err, "reconciling a StatefulSet failed");
    Action::requeue(Duration::from_secs(5))
}
