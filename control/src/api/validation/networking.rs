//! Ingresses: rules, hosts, paths and their types, and backends.

use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};

use super::checks::syntax;
use super::names;
use super::path::FieldPath;
use crate::error::FieldError;

const PATH_TYPES: &[&str] = &["Exact", "Prefix", "ImplementationSpecific"];

pub fn validate_ingress(ing: &Ingress, errs: &mut Vec<FieldError>) {
    let p = FieldPath::new("spec");
    let Some(spec) = &ing.spec else { return errs.push(FieldError::required(&p)) };
    let rules = spec.rules.as_deref().unwrap_or_default();
    if rules.is_empty() && spec.default_backend.is_none() {
        errs.push(FieldError::invalid(&p, "", "either `defaultBackend` or `rules` must be specified"));
    }
    if let Some(class) = spec.ingress_class_name.as_deref() {
        syntax(errs, &p.child("ingressClassName"), class, names::dns1123_subdomain);
    }
    if let Some(backend) = &spec.default_backend {
        validate_backend(backend, &p.child("defaultBackend"), errs);
    }
    for (i, rule) in rules.iter().enumerate() {
        let rp = p.child("rules").index(i);
        if let Some(host) = rule.host.as_deref().filter(|h| !h.is_empty()) {
            // A leading `*.` is a wildcard for one DNS label.
            let bare = host.strip_prefix("*.").unwrap_or(host);
            for problem in names::dns1123_subdomain(bare) {
                errs.push(FieldError::invalid(rp.child("host"), host, problem));
            }
        }
        let Some(http) = &rule.http else { continue };
        let hp = rp.child("http").child("paths");
        if http.paths.is_empty() {
            errs.push(FieldError::required(&hp));
        }
        for (j, path) in http.paths.iter().enumerate() {
            let pp = hp.index(j);
            let value = path.path.as_deref().unwrap_or("");
            match path.path_type.as_str() {
                "" => errs.push(FieldError {
                    detail: "pathType must be specified".into(),
                    ..FieldError::required(pp.child("pathType"))
                }),
                "Exact" | "Prefix" if !value.starts_with('/') => {
                    errs.push(FieldError::invalid(pp.child("path"), value, "must be an absolute path"));
                }
                t if !PATH_TYPES.contains(&t) => {
                    errs.push(FieldError::not_supported(pp.child("pathType"), t, PATH_TYPES))
                }
                _ => {}
            }
            validate_backend(&path.backend, &pp.child("backend"), errs);
        }
    }
}

fn validate_backend(backend: &IngressBackend, p: &FieldPath, errs: &mut Vec<FieldError>) {
    match (&backend.service, &backend.resource) {
        (Some(_), Some(_)) => errs.push(FieldError::invalid(p, "", "cannot set both resource and service backends")),
        (None, None) => errs.push(FieldError::invalid(p, "", "resource or service backend is required")),
        _ => {}
    }
    let Some(service) = &backend.service else { return };
    let sp = p.child("service");
    if service.name.is_empty() {
        errs.push(FieldError::required(sp.child("name")));
    } else {
        syntax(errs, &sp.child("name"), &service.name, names::dns1035_label);
    }
    let port = service.port.as_ref();
    let number = port.and_then(|p| p.number).filter(|n| *n != 0);
    let name = port.and_then(|p| p.name.as_deref()).filter(|n| !n.is_empty());
    let pp = sp.child("port");
    match (number, name) {
        (Some(_), Some(_)) => errs.push(FieldError::invalid(&pp, "", "cannot set both port name & port number")),
        (None, None) => {
            errs.push(FieldError { detail: "port name or number is required".into(), ..FieldError::required(&pp) })
        }
        (Some(n), None) => {
            for problem in names::port_number(n.into()) {
                errs.push(FieldError::invalid(pp.child("number"), n, problem));
            }
        }
        (None, Some(n)) => syntax(errs, &pp.child("name"), n, names::iana_svc_name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn check(spec: Value) -> Vec<String> {
        let ing: Ingress =
            serde_json::from_value(json!({"metadata": {"name": "i"}, "spec": spec})).expect("well-formed ingress");
        let mut errs = Vec::new();
        validate_ingress(&ing, &mut errs);
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn good_ingress() {
        let errs = check(json!({"ingressClassName": "nginx", "rules": [{"host": "*.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
            {"path": "/api", "pathType": "ImplementationSpecific", "backend": {"service": {"name": "api", "port": {"name": "http"}}}}]}}]}));
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn bad_ingress() {
        assert_eq!(
            check(json!({})),
            vec!["spec: Invalid value: \"\": either `defaultBackend` or `rules` must be specified"]
        );
        let errs = check(json!({"rules": [{"host": "Bad_Host", "http": {"paths": [
            {"path": "api", "pathType": "Exact", "backend": {"service": {"name": "web", "port": {"number": 0}}}},
            {"path": "/", "pathType": "Regex", "backend": {"service": {"name": "", "port": {"number": 80, "name": "http"}}}},
            {"path": "/", "backend": {}}]}}]}));
        assert!(errs[0].starts_with("spec.rules[0].host: Invalid value: \"Bad_Host\""));
        assert_eq!(errs[1], "spec.rules[0].http.paths[0].path: Invalid value: \"api\": must be an absolute path");
        assert_eq!(
            errs[2],
            "spec.rules[0].http.paths[0].backend.service.port: Required value: port name or number is required"
        );
        assert!(errs[3].starts_with("spec.rules[0].http.paths[1].pathType: Unsupported value: \"Regex\""));
        assert_eq!(errs[4], "spec.rules[0].http.paths[1].backend.service.name: Required value");
        assert!(errs[5].ends_with("cannot set both port name & port number"));
        assert_eq!(errs[6], "spec.rules[0].http.paths[2].pathType: Required value: pathType must be specified");
        assert!(errs[7].ends_with("resource or service backend is required"));
    }
}
