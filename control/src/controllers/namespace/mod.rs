//! The namespace controller: a namespace being deleted is emptied of every
//! namespaced object, its status conditions tell what is left, and once
//! nothing is, it gives up the `kubernetes` finalizer through
//! `PUT namespaces/{name}/finalize` so the API server deletes it.

mod conditions;
mod content;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use super::gc::catalog::Catalog;
use super::{Context, ControllerError};

/// The finalizer of `spec.finalizers` this controller is responsible for.
const FINALIZER: &str = "kubernetes";
/// How soon a namespace with content still going away is looked at again.
const RECHECK: Duration = Duration::from_secs(1);

pub async fn run(ctx: Context) {
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    Controller::new(api, watcher::Config::default())
        .run(reconcile, error_policy, Arc::new(ctx.client.clone()))
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "namespace controller");
            }
        })
        .await;
}

fn error_policy(_: Arc<Namespace>, err: &ControllerError, _: Arc<Client>) -> Action {
    if err.is_conflict() {
        return Action::requeue(Duration::from_millis(100));
    }
    tracing::warn!(error = %err, "namespace controller: retrying");
    Action::requeue(Duration::from_secs(2))
}

async fn reconcile(ns: Arc<Namespace>, client: Arc<Client>) -> Result<Action, ControllerError> {
    let waiting_on_us = ns.spec.as_ref().and_then(|s| s.finalizers.as_ref()).is_some_and(|f| f.iter().any(|x| x == FINALIZER));
    if ns.metadata.deletion_timestamp.is_none() || !waiting_on_us {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let catalog = Catalog::discover(&client).await?;
    let report = content::delete_content(&client, &catalog, &name).await;
    let api: Api<Namespace> = Api::all((*client).clone());
    let current = ns.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let wanted = conditions::conditions(&report, &current, Time(jiff::Timestamp::now()));
    if wanted != current {
        let patch = json!({"status": {"conditions": wanted}});
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(patch)).await?;
    }
    if !report.is_empty() || !report.failures.is_empty() {
        return Ok(Action::requeue(RECHECK));
    }
    finalize(&api, &name).await?;
    Ok(Action::await_change())
}

/// Give up our finalizer on the namespace as it is now (its resourceVersion
/// guards against a concurrent change: a 409 is retried).
async fn finalize(api: &Api<Namespace>, name: &str) -> Result<(), ControllerError> {
    let Some(mut latest) = api.get_opt(name).await? else { return Ok(()) };
    if let Some(spec) = latest.spec.as_mut() {
        spec.finalizers = Some(spec.finalizers.take().unwrap_or_default().into_iter().filter(|f| f != FINALIZER).collect());
    }
    match api.replace_subresource("finalize", name, &PostParams::default(), &latest).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}
