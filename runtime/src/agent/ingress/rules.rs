//! The routing table of the ingress controller, built from every Ingress of
//! our class: which Service port a request goes to by its host and path.
//!
//! Matching follows the Ingress API: hosts match exactly or by a `*.`
//! wildcard of exactly one leading label; rules without a host match every
//! host. A more specific host wins (exact, then wildcard, then any), then
//! the longest matching path, and `Exact` before `Prefix` for the same path.
//! `Prefix` matches element-wise on `/`-separated segments (`/foo` matches
//! `/foo` and `/foo/bar`, not `/foobar`; a trailing `/` in the rule is
//! ignored); `ImplementationSpecific` is treated as `Prefix`. With no rule
//! matching, the oldest Ingress's `defaultBackend` answers, if any.

use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};

/// A Service port as an Ingress backend names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortRef {
    Number(u16),
    Name(String),
}

/// Where a matched request goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    Service { namespace: String, name: String, port: PortRef },
    /// A backend this controller cannot serve (a `resource` backend, a bad port): 503.
    Unsupported(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum PathType {
    Prefix,
    Exact,
}

#[derive(Clone, Debug)]
enum HostMatch {
    Any,
    /// `*.example.com`: the part after the `*`, `.example.com`.
    Wildcard(String),
    Exact(String),
}

impl HostMatch {
    fn parse(host: Option<&str>) -> HostMatch {
        match host.map(str::to_ascii_lowercase).filter(|h| !h.is_empty()) {
            None => HostMatch::Any,
            Some(h) => match h.strip_prefix('*') {
                Some(suffix) => HostMatch::Wildcard(suffix.to_string()),
                None => HostMatch::Exact(h),
            },
        }
    }

    /// How specifically this matches `host` (higher is more specific); `None` if not at all.
    fn rank(&self, host: &str) -> Option<u8> {
        match self {
            HostMatch::Exact(h) => (h == host).then_some(2),
            // One label replaces the `*`: `a.example.com`, not `a.b.example.com` nor `example.com`.
            HostMatch::Wildcard(suffix) => {
                let label = host.strip_suffix(suffix.as_str())?;
                (!label.is_empty() && !label.contains('.')).then_some(1)
            }
            HostMatch::Any => Some(0),
        }
    }
}

#[derive(Clone, Debug)]
struct Route {
    host: HostMatch,
    path: String,
    path_type: PathType,
    backend: Backend,
}

impl Route {
    fn matches_path(&self, path: &str) -> bool {
        match self.path_type {
            PathType::Exact => path == self.path,
            PathType::Prefix => {
                let prefix = self.path.trim_end_matches('/');
                if prefix.is_empty() {
                    return true;
                }
                match path.strip_prefix(prefix) {
                    Some(rest) => rest.is_empty() || rest.starts_with('/'),
                    None => false,
                }
            }
        }
    }
}

/// Every rule of our Ingresses, ready to match.
#[derive(Clone, Debug, Default)]
pub struct Routes {
    routes: Vec<Route>,
    default: Option<Backend>,
}

impl Routes {
    /// Builds the table from `ingresses` (those of our class only). Older
    /// Ingresses come first, so on a tie the oldest one wins, as in most controllers.
    pub fn build(ingresses: &[&Ingress]) -> Routes {
        let mut sorted: Vec<&Ingress> = ingresses.to_vec();
        sorted.sort_by_key(|i| (i.metadata.creation_timestamp.as_ref().map(|t| t.0), i.metadata.namespace.clone(), i.metadata.name.clone()));
        let mut table = Routes::default();
        for ing in sorted {
            let namespace = ing.metadata.namespace.clone().unwrap_or_else(|| "default".into());
            let Some(spec) = &ing.spec else { continue };
            if table.default.is_none() {
                table.default = spec.default_backend.as_ref().map(|b| backend(&namespace, b));
            }
            for rule in spec.rules.iter().flatten() {
                let host = HostMatch::parse(rule.host.as_deref());
                for path in rule.http.iter().flat_map(|h| h.paths.iter()) {
                    let path_type = match path.path_type.as_str() {
                        "Exact" => PathType::Exact,
                        _ => PathType::Prefix,
                    };
                    let text = path.path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "/".into());
                    table.routes.push(Route { host: host.clone(), path: text, path_type, backend: backend(&namespace, &path.backend) });
                }
            }
        }
        table
    }

    /// The backend for a request to `host` (no port, any case) and `path` (no query).
    pub fn route(&self, host: &str, path: &str) -> Option<&Backend> {
        let host = host.to_ascii_lowercase();
        let path = if path.is_empty() { "/" } else { path };
        // Stable max: among equals, the first (oldest) route wins.
        let mut best: Option<(&Route, (u8, usize, PathType))> = None;
        for route in &self.routes {
            let Some(host_rank) = route.host.rank(&host) else { continue };
            if !route.matches_path(path) {
                continue;
            }
            let key = (host_rank, route.path.trim_end_matches('/').len(), route.path_type);
            if best.as_ref().is_none_or(|(_, k)| key > *k) {
                best = Some((route, key));
            }
        }
        best.map(|(r, _)| &r.backend).or(self.default.as_ref())
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty() && self.default.is_none()
    }
}

fn backend(namespace: &str, b: &IngressBackend) -> Backend {
    let Some(service) = &b.service else {
        return Backend::Unsupported("only Service backends are supported".into());
    };
    let port = service.port.as_ref();
    let port = match (port.and_then(|p| p.number), port.and_then(|p| p.name.clone()).filter(|n| !n.is_empty())) {
        (Some(n), _) => match u16::try_from(n) {
            Ok(n) if n > 0 => PortRef::Number(n),
            _ => return Backend::Unsupported(format!("invalid port {n}")),
        },
        (None, Some(name)) => PortRef::Name(name),
        (None, None) => return Backend::Unsupported(format!("service {} names no port", service.name)),
    };
    Backend::Service { namespace: namespace.to_string(), name: service.name.clone(), port }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ingress(name: &str, created: &str, spec: serde_json::Value) -> Ingress {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "web", "creationTimestamp": created},
            "spec": spec,
        }))
        .unwrap()
    }

    fn path(p: &str, t: &str, svc: &str) -> serde_json::Value {
        json!({"path": p, "pathType": t, "backend": {"service": {"name": svc, "port": {"number": 80}}}})
    }

    fn svc(b: Option<&Backend>) -> Option<&str> {
        match b {
            Some(Backend::Service { name, .. }) => Some(name.as_str()),
            _ => None,
        }
    }

    fn table() -> Routes {
        let a = ingress("a", "2026-01-01T00:00:00Z", json!({"rules": [
            {"host": "foo.example", "http": {"paths": [path("/", "Prefix", "foo-root"), path("/api", "Prefix", "foo-api"), path("/api/v1", "Exact", "foo-v1")]}},
            {"host": "*.wild.example", "http": {"paths": [path("/", "Prefix", "wild")]}},
            {"http": {"paths": [path("/any", "ImplementationSpecific", "anyhost")]}},
        ]}));
        let b = ingress("b", "2026-01-02T00:00:00Z", json!({
            "defaultBackend": {"service": {"name": "fallback", "port": {"name": "http"}}},
            "rules": [{"host": "foo.example", "http": {"paths": [path("/api/", "Prefix", "later-api"), path("/aaa/bbb/", "Prefix", "ab")]}}],
        }));
        Routes::build(&[&b, &a])
    }

    #[test]
    fn hosts_exact_and_wildcard() {
        let t = table();
        assert_eq!(svc(t.route("FOO.example", "/")), Some("foo-root"));
        assert_eq!(svc(t.route("a.wild.example", "/x")), Some("wild"));
        assert_eq!(svc(t.route("a.b.wild.example", "/x")), Some("fallback"), "a wildcard covers one label");
        assert_eq!(svc(t.route("wild.example", "/x")), Some("fallback"));
        assert_eq!(svc(t.route("other.example", "/any/thing")), Some("anyhost"));
    }

    #[test]
    fn prefix_is_element_wise_and_longest_wins() {
        let t = table();
        assert_eq!(svc(t.route("foo.example", "/api")), Some("foo-api"));
        assert_eq!(svc(t.route("foo.example", "/api/x")), Some("foo-api"), "the older of two equal prefixes");
        assert_eq!(svc(t.route("foo.example", "/apix")), Some("foo-root"));
        assert_eq!(svc(t.route("foo.example", "/api/v1")), Some("foo-v1"));
        assert_eq!(svc(t.route("foo.example", "/api/v1/")), Some("foo-api"), "Exact does not match a trailing slash");
        assert_eq!(svc(t.route("foo.example", "/aaa/bbb")), Some("ab"), "a rule's trailing slash is ignored");
        assert_eq!(svc(t.route("foo.example", "/aaa/bbbxyz")), Some("foo-root"));
    }

    #[test]
    fn default_backend_and_no_match() {
        let t = table();
        assert_eq!(t.route("nothing.example", "/"), Some(&Backend::Service { namespace: "web".into(), name: "fallback".into(), port: PortRef::Name("http".into()) }));
        let only = ingress("c", "2026-01-01T00:00:00Z", json!({"rules": [{"host": "x.example", "http": {"paths": [path("/a", "Exact", "a")]}}]}));
        let t = Routes::build(&[&only]);
        assert_eq!(t.route("x.example", "/b"), None);
        assert_eq!(t.route("y.example", "/a"), None);
    }
}
