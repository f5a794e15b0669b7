//! Pod volumes: unique DNS-label names, exactly one source each, and the
//! required fields of the common sources.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::Volume;

use crate::api::validation::checks::required_syntax;
use crate::api::validation::names;
use crate::api::validation::path::FieldPath;
use crate::api::validation::quantity::Quantity;
use crate::error::FieldError;

/// Validate `volumes` and return the names they define, for volume mounts to refer to.
pub fn validate_volumes(volumes: &[Volume], path: &FieldPath, errs: &mut Vec<FieldError>) -> HashSet<String> {
    let mut seen = HashSet::new();
    for (i, volume) in volumes.iter().enumerate() {
        let p = path.index(i);
        required_syntax(errs, &p.child("name"), &volume.name, names::dns1123_label);
        if !volume.name.is_empty() && !seen.insert(volume.name.clone()) {
            errs.push(FieldError::duplicate(p.child("name"), &volume.name));
        }
        match source_count(volume) {
            0 => errs.push(FieldError { detail: "must specify a volume type".into(), ..FieldError::required(&p) }),
            1 => validate_source(volume, &p, errs),
            _ => errs.push(FieldError::forbidden(&p, "may not specify more than 1 volume type")),
        }
    }
    seen
}

/// Every field of `Volume` except `name` is a source; counting the fields that
/// serialize covers all source kinds without listing them.
fn source_count(volume: &Volume) -> usize {
    match serde_json::to_value(volume) {
        Ok(serde_json::Value::Object(fields)) => fields.keys().filter(|k| *k != "name").count(),
        _ => 0,
    }
}

fn validate_source(volume: &Volume, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let require = |errs: &mut Vec<FieldError>, field: FieldPath, value: Option<&str>| {
        if value.unwrap_or("").is_empty() {
            errs.push(FieldError::required(field));
        }
    };
    if let Some(cm) = &volume.config_map {
        require(errs, path.child("configMap").child("name"), Some(cm.name.as_str()));
    }
    if let Some(secret) = &volume.secret {
        require(errs, path.child("secret").child("secretName"), secret.secret_name.as_deref());
    }
    if let Some(host) = &volume.host_path {
        require(errs, path.child("hostPath").child("path"), Some(host.path.as_str()));
    }
    if let Some(claim) = &volume.persistent_volume_claim {
        require(errs, path.child("persistentVolumeClaim").child("claimName"), Some(claim.claim_name.as_str()));
    }
    if let Some(limit) = volume.empty_dir.as_ref().and_then(|e| e.size_limit.as_ref()) {
        if let Err(e) = Quantity::parse(&limit.0) {
            errs.push(FieldError::invalid(path.child("emptyDir").child("sizeLimit"), &limit.0, e.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: serde_json::Value) -> (Vec<String>, HashSet<String>) {
        let volumes: Vec<Volume> = serde_json::from_value(v).expect("well-formed volumes");
        let mut errs = Vec::new();
        let names = validate_volumes(&volumes, &FieldPath::new("spec").child("volumes"), &mut errs);
        (errs.iter().map(ToString::to_string).collect(), names)
    }

    #[test]
    fn good_volumes_define_names() {
        let (errs, names) = check(json!([
            {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
            {"name": "cfg", "configMap": {"name": "app-config"}},
            {"name": "tls", "secret": {"secretName": "tls"}}
        ]));
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(names.len(), 3);
        assert!(names.contains("cfg"));
    }

    #[test]
    fn names_sources_and_required_fields() {
        let (errs, _) = check(json!([
            {"name": "data", "emptyDir": {}},
            {"name": "data", "emptyDir": {}},
            {"name": "Bad_Name", "emptyDir": {}},
            {"name": "none"},
            {"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}},
            {"name": "cm", "configMap": {}},
            {"name": "sz", "emptyDir": {"sizeLimit": "lots"}}
        ]));
        assert_eq!(errs[0], "spec.volumes[1].name: Duplicate value: \"data\"");
        assert!(errs[1].starts_with("spec.volumes[2].name: Invalid value: \"Bad_Name\""));
        assert_eq!(errs[2], "spec.volumes[3]: Required value: must specify a volume type");
        assert_eq!(errs[3], "spec.volumes[4]: Forbidden: may not specify more than 1 volume type");
        assert_eq!(errs[4], "spec.volumes[5].configMap.name: Required value");
        assert!(errs[5].starts_with("spec.volumes[6].emptyDir.sizeLimit: Invalid value: \"lots\""));
        assert_eq!(errs.len(), 6);
    }
}
