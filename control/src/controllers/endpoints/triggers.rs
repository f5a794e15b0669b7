//! Which Services need their endpoints reconciled, from watches: a Service
//! that changed or went, every Service that selects (or selected, before its
//! labels changed or it went) a pod that changed, and the Service behind one
//! of the controller's own objects that someone else edited.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};

use super::pods;
use super::queue::WorkQueue;

pub type ServiceKey = ObjectRef<Service>;

/// The Services each pod was last seen selected by, so that a pod that
/// stops matching (or goes) still triggers the Services it left.
#[derive(Default)]
struct PodMemory {
    selected_by: HashMap<ObjectRef<Pod>, Vec<ServiceKey>>,
    /// Pods seen since the pod watch (re)started listing, to find the ones
    /// that vanished while it was down.
    relisted: Option<HashSet<ObjectRef<Pod>>>,
}

impl PodMemory {
    /// The Services to reconcile after `pod` changed (or went, if `gone`).
    fn touched(&mut self, pod: &Pod, services: &[Arc<Service>], gone: bool) -> Vec<ServiceKey> {
        let key = ObjectRef::from_obj(pod);
        let now: Vec<ServiceKey> = services.iter().filter(|s| pods::selects(s, pod)).map(|s| ObjectRef::from_obj(s.as_ref())).collect();
        if let Some(seen) = self.relisted.as_mut() {
            seen.insert(key.clone());
        }
        let before = if gone { self.selected_by.remove(&key) } else { self.selected_by.insert(key, now.clone()) };
        let mut all = before.unwrap_or_default();
        for key in now {
            if !all.contains(&key) {
                all.push(key);
            }
        }
        all
    }

    fn relist_started(&mut self) {
        self.relisted = Some(HashSet::new());
    }

    /// The Services of pods that were not listed again: they went unseen.
    fn relist_done(&mut self) -> Vec<ServiceKey> {
        let Some(seen) = self.relisted.take() else { return Vec::new() };
        let vanished: Vec<ObjectRef<Pod>> = self.selected_by.keys().filter(|k| !seen.contains(*k)).cloned().collect();
        vanished.into_iter().flat_map(|k| self.selected_by.remove(&k).unwrap_or_default()).collect()
    }
}

/// Pushes onto `queue` every Service whose endpoints may need a change, until
/// dropped. `own` names Services whose endpoint objects changed; those are
/// pushed only while the Service exists and has a selector (the others'
/// endpoints belong to their users).
pub async fn feed(client: Client, queue: Arc<WorkQueue<ServiceKey>>, own: impl Stream<Item = ServiceKey>) {
    let (services, writer) = reflector::store::<Service>();
    let service_events = reflector::reflector(writer, watcher(Api::<Service>::all(client.clone()), watcher::Config::default())).default_backoff();
    let pod_events = watcher(Api::<Pod>::all(client), watcher::Config::default()).default_backoff();
    let mut service_events = std::pin::pin!(service_events);
    let mut pod_events = std::pin::pin!(pod_events);
    let mut own = std::pin::pin!(own);
    let mut memory = PodMemory::default();
    // Pods are mapped to Services through the cache: wait until it is complete.
    let mut services_listed = false;
    loop {
        tokio::select! {
            Some(event) = service_events.next() => match event {
                Ok(Event::Apply(s) | Event::Delete(s) | Event::InitApply(s)) => queue.push(ObjectRef::from_obj(&s)),
                Ok(Event::InitDone) => services_listed = true,
                Ok(Event::Init) => {}
                Err(err) => tracing::warn!(error = %err, "watching Services for endpoints"),
            },
            Some(event) = pod_events.next(), if services_listed => {
                let touched = match event {
                    Ok(Event::Apply(p) | Event::InitApply(p)) => memory.touched(&p, &services.state(), false),
                    Ok(Event::Delete(p)) => memory.touched(&p, &services.state(), true),
                    Ok(Event::Init) => {
                        memory.relist_started();
                        Vec::new()
                    }
                    Ok(Event::InitDone) => memory.relist_done(),
                    Err(err) => {
                        tracing::warn!(error = %err, "watching Pods for endpoints");
                        Vec::new()
                    }
                };
                touched.into_iter().for_each(|k| queue.push(k));
            },
            Some(key) = own.next() => {
                if is_managed(&services, &key) {
                    queue.push(key);
                }
            },
            else => return,
        }
    }
}

/// Whether the Service `key` exists and has a selector.
fn is_managed(services: &Store<Service>, key: &ServiceKey) -> bool {
    services.get(key).is_some_and(|s| pods::selector(&s).is_some())
}

#[cfg(test)]
mod tests {
    use super::super::pods::fixtures::*;
    use super::*;

    fn names(keys: &[ServiceKey]) -> Vec<&str> {
        keys.iter().map(|k| k.name.as_str()).collect()
    }

    #[test]
    fn a_pod_that_stops_matching_still_triggers_the_service_it_left() {
        let web = Arc::new(service("web", &[("app", "web")], vec![]));
        let db = Arc::new(service("db", &[("app", "db")], vec![]));
        let services = vec![web, db];
        let mut memory = PodMemory::default();
        let mut p = pod("a", "10.0.0.1", true);
        assert_eq!(names(&memory.touched(&p, &services, false)), ["web"]);
        p.metadata.labels = Some([("app".to_string(), "db".to_string())].into());
        assert_eq!(names(&memory.touched(&p, &services, false)), ["web", "db"]);
        assert_eq!(names(&memory.touched(&p, &services, false)), ["db"]);
        assert_eq!(names(&memory.touched(&p, &services, true)), ["db"]);
        assert!(memory.selected_by.is_empty(), "a deleted pod is forgotten");
    }

    #[test]
    fn pods_missing_from_a_relist_trigger_their_services() {
        let services = vec![Arc::new(service("web", &[("app", "web")], vec![]))];
        let mut memory = PodMemory::default();
        memory.touched(&pod("a", "10.0.0.1", true), &services, false);
        memory.touched(&pod("b", "10.0.0.2", true), &services, false);
        memory.relist_started();
        memory.touched(&pod("a", "10.0.0.1", true), &services, false);
        assert_eq!(names(&memory.relist_done()), ["web"]);
        assert_eq!(memory.selected_by.len(), 1);
        assert!(memory.relist_done().is_empty());
    }
}
