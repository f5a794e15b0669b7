//! The kinds the API server serves, learnt through discovery like any API
//! client would: which ones can be watched and deleted, which are namespaced,
//! and how an ownerReference's apiVersion/kind maps to a resource to GET.

use kube::discovery::{verbs, ApiCapabilities, ApiResource, Discovery, Scope};
use kube::{Api, Client};
use kube::core::DynamicObject;

/// One served resource type.
#[derive(Clone, Debug)]
pub struct Kind {
    pub resource: ApiResource,
    pub namespaced: bool,
    caps: ApiCapabilities,
}

impl Kind {
    pub fn supports(&self, verb: &str) -> bool {
        self.caps.supports_operation(verb)
    }

    /// The API for objects of this kind in `namespace` (ignored for cluster-scoped kinds).
    pub fn api(&self, client: &Client, namespace: Option<&str>) -> Api<DynamicObject> {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, &self.resource),
            _ => Api::all_with(client.clone(), &self.resource),
        }
    }

    /// `pods`, `replicasets.apps`: how Kubernetes names a resource in messages.
    pub fn qualified(&self) -> String {
        if self.resource.group.is_empty() {
            self.resource.plural.clone()
        } else {
            format!("{}.{}", self.resource.plural, self.resource.group)
        }
    }
}

/// Every served kind, from one discovery pass.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    kinds: Vec<Kind>,
}

impl Catalog {
    pub async fn discover(client: &Client) -> Result<Catalog, kube::Error> {
        let discovery = Discovery::new(client.clone()).run().await?;
        let mut kinds = Vec::new();
        for group in discovery.groups() {
            for (resource, caps) in group.recommended_resources() {
                kinds.push(Kind { namespaced: caps.scope == Scope::Namespaced, resource, caps });
            }
        }
        Ok(Catalog { kinds })
    }

    /// Kinds that can be listed, watched and deleted.
    pub fn collectable(&self) -> impl Iterator<Item = &Kind> {
        self.kinds.iter().filter(|k| [verbs::LIST, verbs::WATCH, verbs::DELETE].iter().all(|v| k.supports(v)))
    }

    /// The kind served as `plural` in `group`.
    pub fn by_plural(&self, group: &str, plural: &str) -> Option<&Kind> {
        self.kinds.iter().find(|k| k.resource.group == group && k.resource.plural == plural)
    }

    /// The kind an ownerReference (or object) names: exact apiVersion first,
    /// then the same group and kind at another version.
    pub fn lookup(&self, api_version: &str, kind: &str) -> Option<&Kind> {
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        self.kinds
            .iter()
            .find(|k| k.resource.api_version == api_version && k.resource.kind == kind)
            .or_else(|| self.kinds.iter().find(|k| k.resource.group == group && k.resource.kind == kind))
    }
}
