//! Emptying a Terminating namespace: every namespaced kind the server serves
//! is deleted as a collection (pods get their grace period, as any delete
//! gives them), then listed again to see what is still on its way out.

use kube::api::{DeleteParams, ListParams};
use kube::Client;

use super::conditions::ContentReport;
use crate::controllers::gc::catalog::Catalog;

pub async fn delete_content(client: &Client, catalog: &Catalog, namespace: &str) -> ContentReport {
    let mut report = ContentReport::default();
    for kind in catalog.collectable().filter(|k| k.namespaced) {
        let api = kind.api(client, Some(namespace));
        let resource = kind.qualified();
        let listed = match api.list(&ListParams::default()).await {
            Ok(l) => l,
            Err(err) => {
                report.failures.push(format!("{resource}: {err}"));
                continue;
            }
        };
        let alive = listed.items.iter().any(|o| o.metadata.deletion_timestamp.is_none());
        let remaining = if alive {
            if let Err(err) = api.delete_collection(&DeleteParams::background(), &ListParams::default()).await {
                report.failures.push(format!("{resource}: {err}"));
            }
            match api.list(&ListParams::default()).await {
                Ok(l) => l.items,
                Err(err) => {
                    report.failures.push(format!("{resource}: {err}"));
                    continue;
                }
            }
        } else {
            listed.items
        };
        if remaining.is_empty() {
            continue;
        }
        report.remaining.insert(resource, remaining.len());
        for finalizer in remaining.iter().flat_map(|o| o.metadata.finalizers.iter().flatten()) {
            *report.finalizers.entry(finalizer.clone()).or_default() += 1;
        }
    }
    report
}
