//! API discovery: `/api`, `/apis`, `/api/v1`, `/apis/{group}/{version}`, in
//! both the legacy documents and the aggregated (apidiscovery.k8s.io/v2) form
//! kubectl asks for first. The aggregated form saves kubectl one request per
//! group on a cold cache.

use serde_json::{json, Value};

use super::resources::{self, ResourceType, VERBS};

/// Content type that tells kubectl the body is aggregated discovery; it
/// decides on the response header, not on the body.
pub const AGGREGATED_CONTENT_TYPE: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether the client accepts aggregated discovery.
pub fn wants_aggregated(accept: &str) -> bool {
    accept.contains("as=APIGroupDiscoveryList") && accept.contains("v=v2")
}

pub fn core_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
        {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}
    ]})
}

pub fn groups() -> Value {
    let groups: Vec<Value> = resources::groups()
        .into_iter()
        .map(|(g, v)| {
            let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
            json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn types_in<'a>(group: &'a str, version: &'a str) -> impl Iterator<Item = &'static ResourceType> + 'a {
    resources::TYPES.iter().filter(move |t| t.group == group && t.version == version)
}

/// Legacy `APIResourceList` for one group version.
pub fn resource_list(group: &str, version: &str) -> Value {
    let mut out = Vec::new();
    for t in types_in(group, version) {
        out.push(json!({
            "name": t.plural,
            "singularName": t.singular,
            "namespaced": t.namespaced,
            "kind": t.kind,
            "verbs": VERBS,
            "shortNames": t.short_names,
            "categories": t.categories,
        }));
        for sub in t.subresources {
            let (g, v, k, verbs) = sub.discovery();
            let mut entry = json!({
                "name": format!("{}/{}", t.plural, sub.name()),
                "singularName": "",
                "namespaced": t.namespaced,
                "kind": if k.is_empty() { t.kind } else { k },
                "verbs": verbs,
            });
            if !g.is_empty() {
                entry["group"] = json!(g);
                entry["version"] = json!(v);
            }
            out.push(entry);
        }
    }
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out})
}

fn aggregated_group(group: &str, version: &str) -> Value {
    let resources: Vec<Value> = types_in(group, version)
        .map(|t| {
            let subs: Vec<Value> = t
                .subresources
                .iter()
                .map(|sub| {
                    let (g, v, k, verbs) = sub.discovery();
                    let (g, v, k) = if k.is_empty() { (t.group, t.version, t.kind) } else { (g, v, k) };
                    json!({"subresource": sub.name(),
                           "responseKind": {"group": g, "version": v, "kind": k},
                           "verbs": verbs})
                })
                .collect();
            json!({
                "resource": t.plural,
                "responseKind": {"group": "", "version": "", "kind": t.kind},
                "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": t.singular,
                "verbs": VERBS,
                "shortNames": t.short_names,
                "categories": t.categories,
                "subresources": subs,
            })
        })
        .collect();
    json!({
        "metadata": {"name": group, "creationTimestamp": null},
        "versions": [{"version": version, "resources": resources, "freshness": "Current"}],
    })
}

/// Aggregated discovery for `/api` (core) or `/apis` (every group).
pub fn aggregated(core: bool) -> Value {
    let items: Vec<Value> = if core {
        vec![aggregated_group("", "v1")]
    } else {
        resources::groups().into_iter().map(|(g, v)| aggregated_group(g, v)).collect()
    };
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_lists_subresources_with_their_kinds() {
        let l = resource_list("apps", "v1");
        let scale = l["resources"].as_array().unwrap().iter().find(|r| r["name"] == "deployments/scale").unwrap();
        assert_eq!(scale["kind"], "Scale");
        assert_eq!(scale["group"], "autoscaling");
        let core = resource_list("", "v1");
        assert!(core["resources"].as_array().unwrap().iter().any(|r| r["name"] == "pods" && r["shortNames"][0] == "po"));
    }

    #[test]
    fn aggregated_has_every_group() {
        let a = aggregated(false);
        let names: Vec<&str> = a["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"apps") && names.contains(&"batch") && names.contains(&"rbac.authorization.k8s.io"));
        assert_eq!(aggregated(true)["items"][0]["metadata"]["name"], "");
    }
}
