//! Bad input never breaks the API server: a table of malformed or invalid
//! requests, each answered with the `Status` upstream Kubernetes gives (same
//! code, same reason, a message naming the problem), and afterwards the server
//! still serves normal requests.
//!
//! The rows live in one file per theme (`body`, `query`, `routing`, `objects`,
//! `patch`, `conflicts`); this module holds the row type, the fixtures the rows
//! refer to and the runner.

mod body;
mod conflicts;
mod objects;
mod patch;
mod query;
mod routing;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::Server;

/// Namespaced collections the rows address.
const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";
const SECRETS: &str = "/api/v1/namespaces/default/secrets";
const PODS: &str = "/api/v1/namespaces/default/pods";
const SERVICES: &str = "/api/v1/namespaces/default/services";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";
const NAMESPACES: &str = "/api/v1/namespaces";

/// Which credentials a request carries.
#[derive(Clone, Copy, Debug)]
enum Auth {
    Admin,
    Missing,
    WrongToken,
    /// The admin token, but under the `Basic` scheme.
    WrongScheme,
}

/// One malformed request and the answer upstream Kubernetes gives to it.
struct Case {
    what: &'static str,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    auth: Auth,
    code: u16,
    reason: &'static str,
    /// `|`-separated alternatives, matched case-insensitively against the
    /// message and every cause's message and field. Alternatives exist only
    /// where upstream's own wording is not the one good way to name the
    /// problem (e.g. "array|object" for a body that is not an object).
    needle: &'static str,
}

fn case(what: &'static str, method: Method, path: impl Into<String>) -> Case {
    Case {
        what,
        method,
        path: path.into(),
        content_type: None,
        body: Vec::new(),
        auth: Auth::Admin,
        code: 0,
        reason: "",
        needle: "",
    }
}

impl Case {
    /// A JSON body with `Content-Type: application/json`.
    fn json(self, body: Value) -> Self {
        self.raw("application/json", body.to_string())
    }

    /// A body sent as-is under `content_type`.
    fn raw(mut self, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        self.content_type = Some(content_type);
        self.body = body.into();
        self
    }

    fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    fn expect(mut self, code: u16, reason: &'static str, needle: &'static str) -> Self {
        self.code = code;
        self.reason = reason;
        self.needle = needle;
        self
    }
}

/// Objects that exist before the rows run, and facts about them.
struct Fixtures {
    /// A resourceVersion of configmap `existing` that is no longer current.
    stale_rv: String,
}

/// Minimal valid objects, for rows to break one field of.
fn configmap(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}})
}

fn pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "c1", "image": "busybox:1.0"}]},
    })
}

fn deployment(name: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c1", "image": "busybox:1.0"}]},
            },
        },
    })
}

fn service(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    })
}

/// `v` with the value at JSON `pointer` set to `x` (the parent must exist),
/// or removed when `x` is null.
fn with(mut v: Value, pointer: &str, x: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a '/'");
    let target = v.pointer_mut(parent).unwrap_or_else(|| panic!("no {parent} in fixture"));
    match target {
        Value::Object(map) if x.is_null() => {
            map.remove(key);
        }
        Value::Object(map) => {
            map.insert(key.to_string(), x);
        }
        Value::Array(items) => {
            let i: usize = key.parse().expect("array index");
            items[i] = x;
        }
        other => panic!("cannot set {key} in {other}"),
    }
    v
}

/// Send `c` and check the answer; Err says what differed.
async fn check(server: &Server, http: &reqwest::Client, c: &Case) -> Result<(), String> {
    let mut req = http.request(c.method.clone(), server.path(&c.path));
    if let Some(ct) = c.content_type {
        req = req.header(reqwest::header::CONTENT_TYPE, ct);
    }
    req = match c.auth {
        Auth::Admin => req.bearer_auth(&server.token),
        Auth::Missing => req,
        Auth::WrongToken => req.bearer_auth("0123456789abcdef-not-the-token"),
        Auth::WrongScheme => req.header(reqwest::header::AUTHORIZATION, format!("Basic {}", server.token)),
    };
    let resp = req.body(c.body.clone()).send().await.map_err(|e| format!("transport error: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| format!("{status}, then reading the body failed: {e}"))?;
    let got = || format!("got {status}: {}", truncate(&text, 400));
    if status != StatusCode::from_u16(c.code).expect("valid code in table") {
        return Err(format!("expected {} {}, {}", c.code, c.reason, got()));
    }
    let s: Value = serde_json::from_str(&text).map_err(|_| format!("not a JSON Status: {}", got()))?;
    if s["kind"] != "Status" || s["code"] != c.code || s["status"] != "Failure" {
        return Err(format!("Status must say kind Status, code {}, status Failure: {}", c.code, got()));
    }
    if s["reason"] != c.reason {
        return Err(format!("expected reason {}, {}", c.reason, got()));
    }
    let mut said = vec![s["message"].as_str().unwrap_or_default().to_lowercase()];
    for cause in s["details"]["causes"].as_array().into_iter().flatten() {
        said.push(cause["message"].as_str().unwrap_or_default().to_lowercase());
        said.push(cause["field"].as_str().unwrap_or_default().to_lowercase());
    }
    let named = c.needle.split('|').any(|n| said.iter().any(|m| m.contains(&n.to_lowercase())));
    if !named {
        return Err(format!("message must name {:?}: {}", c.needle, got()));
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// POST `obj` to `collection` as admin; panics unless it is created.
async fn create(server: &Server, http: &reqwest::Client, collection: &str, obj: &Value) -> Value {
    let resp = http.post(server.path(collection)).bearer_auth(&server.token).json(obj).send().await.expect("POST");
    let status = resp.status();
    let body: Value = resp.json().await.expect("JSON answer");
    assert_eq!(status, StatusCode::CREATED, "creating fixture in {collection}: {body}");
    body
}

/// The objects the table refers to: configmaps `existing` (updated once, so
/// its first resourceVersion is stale) and `keep-me`, deployment `web`.
async fn fixtures(server: &Server, http: &reqwest::Client) -> Fixtures {
    let first = create(server, http, CONFIGMAPS, &configmap("existing")).await;
    let stale_rv = first["metadata"]["resourceVersion"].as_str().expect("resourceVersion").to_string();
    let mut changed = first.clone();
    changed["data"]["a"] = json!("2");
    let resp = http
        .put(server.path(&format!("{CONFIGMAPS}/existing")))
        .bearer_auth(&server.token)
        .json(&changed)
        .send()
        .await
        .expect("PUT");
    assert_eq!(resp.status(), StatusCode::OK, "updating fixture: {}", resp.text().await.unwrap_or_default());
    create(server, http, CONFIGMAPS, &configmap("keep-me")).await;
    create(server, http, DEPLOYMENTS, &deployment("web")).await;
    Fixtures { stale_rv }
}

fn all_cases(f: &Fixtures) -> Vec<Case> {
    [body::cases(), query::cases(), routing::cases(), objects::cases(), patch::cases(), conflicts::cases(f)]
        .into_iter()
        .flatten()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_gets_the_upstream_status_and_the_server_survives() {
    let server = Server::start();
    let http = server.http();
    let f = fixtures(&server, &http).await;
    let cases = all_cases(&f);
    assert!(cases.len() >= 50, "the table must hold at least 50 rows, has {}", cases.len());

    let mut failures = Vec::new();
    for c in &cases {
        if let Err(why) = check(&server, &http, c).await {
            failures.push(format!("[{}] {} {}: {why}", c.what, c.method, c.path));
        }
    }

    // Whatever went wrong above, the server must still be up and writable.
    let ready = http.get(server.path("/readyz")).send().await.map(|r| r.status());
    assert!(matches!(ready, Ok(StatusCode::OK)), "/readyz after the bad requests: {ready:?}");
    let after = create(&server, &http, CONFIGMAPS, &configmap("after-the-storm")).await;
    assert_eq!(after["data"]["a"], "1", "a normal create still works: {after}");

    assert!(
        failures.is_empty(),
        "{} of {} rows got the wrong answer:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
