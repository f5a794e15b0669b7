//! Parsing of API request paths into what they address.

use super::resources::{self, ResourceType, Sub};
use crate::error::ApiError;

/// What a request path addresses.
#[derive(Debug)]
pub enum ApiPath {
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/api/v1` or `/apis/{group}/{version}`
    ResourceList { group: String, version: String },
    /// A collection, an object or an object's subresource.
    Resource(ResourceRef),
}

/// A collection (`name` is None), an object, or a subresource of an object.
#[derive(Debug, Clone)]
pub struct ResourceRef {
    pub rt: &'static ResourceType,
    /// The namespace from the URL (None for cluster-scoped types, or for a
    /// namespaced type listed across all namespaces).
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<Sub>,
}

impl ResourceRef {
    /// Storage key of the addressed object. Callers check `name` first.
    pub fn key(&self) -> String {
        self.rt.key(self.namespace.as_deref(), self.name.as_deref().unwrap_or_default())
    }
}

fn unknown_path(path: &str) -> ApiError {
    ApiError::NoSuchPath(format!("the server could not find the requested resource (path {path})"))
}

/// Parse `path` (without query string).
pub fn parse(path: &str) -> Result<ApiPath, ApiError> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api"] => return Ok(ApiPath::CoreVersions),
        ["apis"] => return Ok(ApiPath::Groups),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(unknown_path(path)),
    };
    if rest.is_empty() {
        let served = resources::TYPES.iter().any(|t| t.group == group && t.version == version);
        if !served {
            return Err(unknown_path(path));
        }
        return Ok(ApiPath::ResourceList { group: group.into(), version: version.into() });
    }
    let type_of = |plural: &str| {
        resources::lookup(group, version, plural).ok_or_else(|| {
            let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
            ApiError::NoSuchPath(format!("the server doesn't have a resource type \"{plural}\" in {gv}"))
        })
    };
    let sub_of = |rt: &ResourceType, s: &str| {
        Sub::parse(s).filter(|sub| rt.has(*sub)).ok_or_else(|| unknown_path(path))
    };
    // `namespaces/{ns}/{resource}...` addresses a namespaced collection, unless
    // the third segment is a subresource of the namespace itself (`status`).
    if rest.len() >= 3 && rest[0] == "namespaces" {
        if let Some(rt) = resources::lookup(group, version, rest[2]).filter(|t| t.namespaced) {
            validate_segment(rest[1], path)?;
            let namespace = Some(rest[1].to_string());
            return match &rest[3..] {
                [] => Ok(ApiPath::Resource(ResourceRef { rt, namespace, name: None, sub: None })),
                [name] => Ok(ApiPath::Resource(ResourceRef { rt, namespace, name: Some(name_of(name, path)?), sub: None })),
                [name, sub] => Ok(ApiPath::Resource(ResourceRef {
                    rt,
                    namespace,
                    name: Some(name_of(name, path)?),
                    sub: Some(sub_of(rt, sub)?),
                })),
                _ => Err(unknown_path(path)),
            };
        }
    }
    let rt = type_of(rest[0])?;
    match &rest[1..] {
        [] => Ok(ApiPath::Resource(ResourceRef { rt, namespace: None, name: None, sub: None })),
        [name] if !rt.namespaced || rt.plural == "namespaces" => {
            Ok(ApiPath::Resource(ResourceRef { rt, namespace: None, name: Some(name_of(name, path)?), sub: None }))
        }
        [name, sub] if !rt.namespaced => Ok(ApiPath::Resource(ResourceRef {
            rt,
            namespace: None,
            name: Some(name_of(name, path)?),
            sub: Some(sub_of(rt, sub)?),
        })),
        _ => Err(unknown_path(path)),
    }
}

fn validate_segment(s: &str, path: &str) -> Result<(), ApiError> {
    if s.is_empty() || s == "." || s == ".." || s.contains('%') {
        return Err(unknown_path(path));
    }
    Ok(())
}

fn name_of(s: &str, path: &str) -> Result<String, ApiError> {
    validate_segment(s, path)?;
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(p: &str) -> ResourceRef {
        match parse(p).unwrap() {
            ApiPath::Resource(r) => r,
            other => panic!("{p}: {other:?}"),
        }
    }

    #[test]
    fn parses_kubernetes_paths() {
        let r = res("/api/v1/namespaces/default/pods");
        assert_eq!((r.rt.plural, r.namespace.as_deref(), r.name.as_deref()), ("pods", Some("default"), None));
        let r = res("/apis/apps/v1/namespaces/ns1/deployments/web/scale");
        assert_eq!((r.rt.plural, r.name.as_deref(), r.sub), ("deployments", Some("web"), Some(Sub::Scale)));
        let r = res("/api/v1/namespaces/kube-system");
        assert_eq!((r.rt.plural, r.name.as_deref()), ("namespaces", Some("kube-system")));
        let r = res("/api/v1/namespaces/x/status");
        assert_eq!((r.rt.plural, r.name.as_deref(), r.sub), ("namespaces", Some("x"), Some(Sub::Status)));
        let r = res("/api/v1/pods");
        assert_eq!((r.rt.plural, r.namespace), ("pods", None));
        let r = res("/api/v1/nodes/n1/status");
        assert_eq!((r.rt.plural, r.sub), ("nodes", Some(Sub::Status)));
        assert!(matches!(parse("/apis/apps/v1").unwrap(), ApiPath::ResourceList { .. }));
    }

    #[test]
    fn refuses_unknown_things() {
        assert!(parse("/api/v1/widgets").is_err());
        assert!(parse("/apis/nope/v1").is_err());
        assert!(parse("/api/v1/namespaces/default/pods/a/bogus").is_err());
        assert!(parse("/api/v1/namespaces/default/configmaps/a/scale").is_err());
        assert!(parse("/api/v1/pods/x").is_err());
        assert!(parse("/foo").is_err());
    }
}
