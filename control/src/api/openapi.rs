//! A small OpenAPI v3 document set: enough for kubectl's `apply` and
//! `create -f` to hand field validation to the server (`fieldValidation=Strict`)
//! instead of downloading full schemas. Each group version lists a PATCH
//! operation per kind tagged with its GVK and declaring `fieldValidation`.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::resources::{self, ResourceType};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn all_gvs() -> Vec<(&'static str, &'static str)> {
    let mut gvs = vec![("", "v1")];
    gvs.extend(resources::groups());
    gvs
}

/// The document for one group version (`api/v1`, `apis/apps/v1`).
pub fn group_version_doc(path: &str) -> Option<Value> {
    let (group, version) = all_gvs().into_iter().find(|(g, v)| gv_path(g, v) == path)?;
    let mut paths = Map::new();
    for t in resources::TYPES.iter().filter(|t| t.group == group && t.version == version) {
        paths.insert(object_path(t), patch_op(t));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

fn object_path(t: &ResourceType) -> String {
    let base = format!("/{}", gv_path(t.group, t.version));
    if t.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
    } else {
        format!("{base}/{}/{{name}}", t.plural)
    }
}

fn patch_op(t: &ResourceType) -> Value {
    json!({"patch": {
        "operationId": format!("patch{}", t.kind),
        "x-kubernetes-group-version-kind": {"group": t.group, "version": t.version, "kind": t.kind},
        "x-kubernetes-action": "patch",
        "parameters": [
            {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
            {"name": "force", "in": "query", "schema": {"type": "boolean"}},
        ],
        "responses": {"200": {"description": "OK"}},
    }})
}

/// Content hash of a group version document, used as its cache-busting `hash`.
pub fn hash_of(doc: &Value) -> String {
    let bytes = serde_json::to_vec(doc).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest.iter().take(16).map(|b| format!("{b:02X}")).collect()
}

/// The `/openapi/v3` root: one entry per served group version.
pub fn root() -> Value {
    let mut paths = Map::new();
    for (g, v) in all_gvs() {
        let p = gv_path(g, v);
        if let Some(doc) = group_version_doc(&p) {
            paths.insert(p.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", hash_of(&doc))}));
        }
    }
    json!({"paths": paths})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_version_has_a_patch_op_per_kind() {
        let root = root();
        assert!(root["paths"]["api/v1"]["serverRelativeURL"].as_str().unwrap().starts_with("/openapi/v3/api/v1?hash="));
        let apps = group_version_doc("apis/apps/v1").unwrap();
        let op = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(op["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        assert!(op["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"));
        assert!(group_version_doc("apis/nope/v1").is_none());
    }
}
