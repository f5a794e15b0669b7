//! No acknowledged write is lost: the server is killed with SIGKILL while
//! creates are in flight, restarted on the same data dir, and every create
//! that was answered 201 must be there unchanged; watches resume across the
//! restart from a resourceVersion handed out before it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{eventually, Server};

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";
const WRITERS: usize = 16;

/// What the server answered for one acknowledged create.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Acked {
    uid: String,
    resource_version: String,
}

/// Where the writers report, shared with the test.
#[derive(Default)]
struct Ledger {
    acked: Mutex<BTreeMap<String, Acked>>,
    count: AtomicUsize,
    /// Answers other than 201 from a live server: valid creates must not fail.
    refused: Mutex<Vec<String>>,
    stop: AtomicBool,
}

fn configmap(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"writer": name}})
}

/// Post configmaps `d-{writer}-{i}` as fast as the server takes them, until
/// told to stop or the server goes away. Only 201 answers are recorded: a
/// request cut off by the kill may or may not have been committed.
async fn writer(http: reqwest::Client, url: String, token: String, id: usize, ledger: Arc<Ledger>) {
    for i in 0u64.. {
        if ledger.stop.load(Ordering::Relaxed) {
            return;
        }
        let name = format!("d-{id}-{i}");
        let resp = match http.post(&url).bearer_auth(&token).json(&configmap(&name)).send().await {
            Ok(r) => r,
            Err(_) => return, // the server is gone
        };
        if resp.status() != StatusCode::CREATED {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            ledger.refused.lock().expect("ledger lock").push(format!("{name}: {status} {body}"));
            return;
        }
        let Ok(body) = resp.json::<Value>().await else { return };
        let meta = &body["metadata"];
        let acked = Acked {
            uid: meta["uid"].as_str().unwrap_or_default().to_string(),
            resource_version: meta["resourceVersion"].as_str().unwrap_or_default().to_string(),
        };
        ledger.acked.lock().expect("ledger lock").insert(name, acked);
        ledger.count.fetch_add(1, Ordering::Relaxed);
    }
}

fn revision(rv: &str) -> u64 {
    rv.parse().unwrap_or_else(|_| panic!("resourceVersion {rv:?} is not the store revision"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_mid_write_loses_no_acknowledged_create() {
    let mut server = Server::start();
    let http = server.http();
    let ledger = Arc::new(Ledger::default());
    let writers: Vec<_> = (0..WRITERS)
        .map(|id| tokio::spawn(writer(http.clone(), server.path(CONFIGMAPS), server.token.clone(), id, ledger.clone())))
        .collect();

    // Let the writers run for about a second, then kill the server under them.
    let started = std::time::Instant::now();
    eventually("a second of acknowledged writes", Duration::from_secs(20), || {
        let n = ledger.count.load(Ordering::Relaxed);
        async move { (n > 0 && started.elapsed() >= Duration::from_secs(1)).then_some(()) }
    })
    .await;
    let in_flight = writers.iter().filter(|w| !w.is_finished()).count();
    server.kill9();
    ledger.stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer task");
    }
    let acked = ledger.acked.lock().expect("ledger lock").clone();
    let refused = ledger.refused.lock().expect("ledger lock").clone();
    assert!(refused.is_empty(), "{} valid creates refused by the live server: {refused:?}", refused.len());
    assert_eq!(in_flight, WRITERS, "all writers must still be writing when the server is killed");
    assert!(!acked.is_empty(), "no create was acknowledged before the kill");

    server.restart();
    let http = server.http();
    let mut missing = Vec::new();
    let mut changed = Vec::new();
    for (name, want) in &acked {
        let resp = http.get(server.path(&format!("{CONFIGMAPS}/{name}"))).bearer_auth(&server.token).send().await;
        let resp = resp.expect("GET after restart");
        if resp.status() == StatusCode::NOT_FOUND {
            missing.push(name.clone());
            continue;
        }
        let body: Value = resp.json().await.expect("object JSON");
        let got = Acked {
            uid: body["metadata"]["uid"].as_str().unwrap_or_default().to_string(),
            resource_version: body["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string(),
        };
        if &got != want {
            changed.push(format!("{name}: acknowledged {want:?}, now {got:?}"));
        }
    }
    assert!(
        missing.is_empty() && changed.is_empty(),
        "{} acknowledged creates; {} lost after kill -9: {:?}; {} changed: {:?}",
        acked.len(),
        missing.len(),
        missing.iter().take(20).collect::<Vec<_>>(),
        changed.len(),
        changed.iter().take(20).collect::<Vec<_>>()
    );

    eprintln!(
        "durability: {} creates acknowledged by {WRITERS} writers before kill -9; all intact after restart",
        acked.len()
    );

    // The server takes new writes, and its revision never goes back: a new
    // write gets a resourceVersion above every one handed out before the kill.
    let resp =
        http.post(server.path(CONFIGMAPS)).bearer_auth(&server.token).json(&configmap("after-restart")).send().await;
    let resp = resp.expect("POST after restart");
    assert_eq!(resp.status(), StatusCode::CREATED, "create after restart");
    let body: Value = resp.json().await.expect("object JSON");
    let new_rv = revision(body["metadata"]["resourceVersion"].as_str().unwrap_or_default());
    let max_acked = acked.values().map(|a| revision(&a.resource_version)).max().unwrap_or(0);
    assert!(
        new_rv > max_acked,
        "revision went back after restart: new write got {new_rv}, pre-kill writes reached {max_acked}"
    );

    let list: Value = http
        .get(server.path(CONFIGMAPS))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("list JSON");
    let listed = list["items"].as_array().map(|i| i.len()).unwrap_or(0);
    assert!(
        listed > acked.len(),
        "list after restart has {listed} configmaps, {} were acknowledged plus one new",
        acked.len()
    );
}

async fn post(server: &Server, http: &reqwest::Client, name: &str) -> String {
    let resp = http.post(server.path(CONFIGMAPS)).bearer_auth(&server.token).json(&configmap(name)).send().await;
    let resp = resp.expect("POST");
    assert_eq!(resp.status(), StatusCode::CREATED, "create {name}");
    let body: Value = resp.json().await.expect("object JSON");
    body["metadata"]["resourceVersion"].as_str().expect("resourceVersion").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_after_restart_from_a_pre_kill_resource_version() {
    let mut server = Server::start();
    let http = server.http();
    let from = post(&server, &http, "w-a").await;
    post(&server, &http, "w-c").await;
    server.kill9();
    server.restart();
    let http = server.http();

    let watch_url = server.path(&format!("{CONFIGMAPS}?watch=true&resourceVersion={from}&timeoutSeconds=20"));
    let resp = http.get(watch_url).bearer_auth(&server.token).send().await.expect("watch request");
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "watch from pre-kill resourceVersion {from}: {}",
        resp.text().await.unwrap_or_default()
    );
    let mut stream = resp.bytes_stream();

    // Live events after the restart, on top of the one committed before it.
    post(&server, &http, "w-b").await;
    let patch = http
        .patch(server.path(&format!("{CONFIGMAPS}/w-a")))
        .bearer_auth(&server.token)
        .header(reqwest::header::CONTENT_TYPE, "application/merge-patch+json")
        .body(r#"{"data":{"changed":"yes"}}"#)
        .send()
        .await
        .expect("PATCH");
    assert_eq!(patch.status(), StatusCode::OK, "patch w-a");
    let delete = http.delete(server.path(&format!("{CONFIGMAPS}/w-c"))).bearer_auth(&server.token).send().await;
    assert_eq!(delete.expect("DELETE").status(), StatusCode::OK, "delete w-c");

    let want = ["ADDED w-c", "ADDED w-b", "MODIFIED w-a", "DELETED w-c"];
    let mut seen: Vec<String> = Vec::new();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), async {
        while seen.len() < want.len() {
            let Some(chunk) = stream.next().await else { break };
            buf.extend_from_slice(&chunk.expect("watch chunk"));
            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let Ok(ev) = serde_json::from_slice::<Value>(&line) else { continue };
                let kind = ev["type"].as_str().unwrap_or_default();
                if kind != "BOOKMARK" {
                    seen.push(format!("{kind} {}", ev["object"]["metadata"]["name"].as_str().unwrap_or_default()));
                }
            }
        }
    })
    .await;
    assert!(read.is_ok() || seen.len() >= want.len(), "watch from {from} timed out; saw {seen:?}, wanted {want:?}");
    assert_eq!(seen, want, "events of a watch resumed from pre-kill resourceVersion {from}");
}
