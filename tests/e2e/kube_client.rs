//! The kube-rs client (the other big Kubernetes client besides client-go)
//! works against the server: typed CRUD, merge and server-side-apply
//! patches, optimistic concurrency, the `watcher` of kube-runtime, API
//! defaulting and label selectors.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use kube::{Client, Config};
use serde_json::json;

use crate::harness::{eventually, Server};

/// A kube-rs client configured from the server's kubeconfig.
async fn client(server: &Server) -> Client {
    // kube's rustls needs a process-wide provider; another test may have set it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig = Kubeconfig::read_from(server.kubeconfig()).expect("read kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.expect("kube config");
    Client::try_from(config).expect("kube client")
}

fn configmap(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.to_string());
    cm.data = Some(data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    cm
}

fn data_of(cm: &ConfigMap) -> BTreeMap<String, String> {
    cm.data.clone().unwrap_or_default()
}

/// The `(code, reason)` of a kube API error; panics on anything else.
fn api_error<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> (u16, String) {
    match r {
        Err(kube::Error::Api(s)) => (s.code, s.reason.clone()),
        other => panic!("expected an API error Status, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmap_create_list_patch_apply_replace_delete() {
    let server = Server::start();
    let api: Api<ConfigMap> = Api::namespaced(client(&server).await, "default");

    let created = api.create(&PostParams::default(), &configmap("kc", &[("a", "1")])).await.expect("create");
    assert!(created.metadata.uid.is_some(), "create fills uid: {created:?}");
    let listed = api.list(&ListParams::default()).await.expect("list");
    let names: Vec<_> = listed.items.iter().filter_map(|c| c.metadata.name.clone()).collect();
    assert!(names.contains(&"kc".to_string()), "list shows the new configmap: {names:?}");
    assert!(listed.metadata.resource_version.is_some(), "list carries a resourceVersion");

    let merged = api
        .patch("kc", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"via": "merge"}}})))
        .await
        .expect("merge patch");
    assert_eq!(merged.metadata.labels.unwrap_or_default().get("via").map(String::as_str), Some("merge"));

    let applied_doc = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kc"}, "data": {"b": "2"}});
    let applied =
        api.patch("kc", &PatchParams::apply("mgr"), &Patch::Apply(applied_doc)).await.expect("server-side apply");
    let data = data_of(&applied);
    assert_eq!(
        (data.get("a").map(String::as_str), data.get("b").map(String::as_str)),
        (Some("1"), Some("2")),
        "apply by mgr adds b and keeps a, which the creator owns: {data:?}"
    );

    let fresh_doc =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kc-applied"}, "data": {"x": "y"}});
    let fresh =
        api.patch("kc-applied", &PatchParams::apply("mgr"), &Patch::Apply(fresh_doc)).await.expect("apply creates");
    assert_eq!(
        data_of(&fresh).get("x").map(String::as_str),
        Some("y"),
        "server-side apply of a missing object creates it"
    );

    // `created` carries the resourceVersion from before both patches.
    let mut stale = created.clone();
    stale.data = Some(BTreeMap::from([("a".to_string(), "stale".to_string())]));
    let (code, reason) = api_error(api.replace("kc", &PostParams::default(), &stale).await);
    assert_eq!((code, reason.as_str()), (409, "Conflict"), "replace with a stale resourceVersion");
    let current = api.get("kc").await.expect("get");
    assert_eq!(data_of(&current).get("a").map(String::as_str), Some("1"), "the stale replace changed nothing");

    api.delete("kc", &DeleteParams::default()).await.expect("delete");
    assert!(api.get_opt("kc").await.expect("get_opt").is_none(), "deleted configmap is gone");
    let (code, reason) = api_error(api.delete("kc", &DeleteParams::default()).await);
    assert_eq!((code, reason.as_str()), (404, "NotFound"), "second delete");
}

/// One watcher event, reduced to what the test compares.
fn describe(ev: &watcher::Event<ConfigMap>) -> String {
    let show = |verb: &str, cm: &ConfigMap| {
        format!(
            "{verb} {} v={}",
            cm.metadata.name.as_deref().unwrap_or("?"),
            data_of(cm).get("v").cloned().unwrap_or_default()
        )
    };
    match ev {
        watcher::Event::Apply(cm) => show("apply", cm),
        watcher::Event::Delete(cm) => show("delete", cm),
        watcher::Event::InitApply(cm) => show("init-apply", cm),
        watcher::Event::Init => "init".into(),
        watcher::Event::InitDone => "init-done".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_sees_objects_created_changed_and_deleted() {
    let server = Server::start();
    let api: Api<ConfigMap> = Api::namespaced(client(&server).await, "default");
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = seen.clone();
    let stream = watcher(api.clone(), watcher::Config::default().labels("suite=watcher"));
    let collector = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            let line = match ev {
                Ok(ev) => describe(&ev),
                Err(e) => format!("error {e}"),
            };
            sink.lock().expect("events lock").push(line);
        }
    });
    let saw = |what: &'static str| {
        let seen = seen.clone();
        async move { seen.lock().expect("events lock").iter().any(|l| l == what).then_some(()) }
    };
    eventually("the watcher's initial list", Duration::from_secs(10), || saw("init-done")).await;

    let mut labelled = configmap("watched", &[("v", "1")]);
    labelled.metadata.labels = Some(BTreeMap::from([("suite".to_string(), "watcher".to_string())]));
    api.create(&PostParams::default(), &labelled).await.expect("create");
    api.create(&PostParams::default(), &configmap("unlabelled", &[("v", "1")])).await.expect("create unlabelled");
    api.patch("watched", &PatchParams::default(), &Patch::Merge(json!({"data": {"v": "2"}}))).await.expect("patch");
    api.delete("watched", &DeleteParams::default()).await.expect("delete");

    let result = tokio::time::timeout(Duration::from_secs(15), async {
        while saw("delete watched v=2").await.is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    collector.abort();
    let events = seen.lock().expect("events lock").clone();
    assert!(result.is_ok(), "watcher never reported the delete; events: {events:?}");
    let after_init: Vec<_> = events.iter().skip_while(|l| *l != "init-done").skip(1).cloned().collect();
    assert_eq!(
        after_init,
        vec!["apply watched v=1", "apply watched v=2", "delete watched v=2"],
        "events after the initial list (the unlabelled configmap must not appear); all: {events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_comes_back_with_api_defaults() {
    let server = Server::start();
    let api: Api<Deployment> = Api::namespaced(client(&server).await, "default");
    let manifest: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c1", "image": "busybox:1.0"}]},
            },
        },
    }))
    .expect("deployment manifest");
    let created = api.create(&PostParams::default(), &manifest).await.expect("create deployment");
    let fetched = api.get("web").await.expect("get deployment");
    for (what, d) in [("create answer", &created), ("GET", &fetched)] {
        let spec = d.spec.as_ref().expect("spec");
        let strategy = spec.strategy.as_ref().expect("strategy defaulted");
        let rolling = strategy.rolling_update.as_ref().expect("rollingUpdate defaulted");
        assert_eq!(spec.replicas, Some(1), "{what}: replicas");
        assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"), "{what}: strategy.type");
        assert_eq!(rolling.max_surge, Some(IntOrString::String("25%".into())), "{what}: maxSurge");
        assert_eq!(rolling.max_unavailable, Some(IntOrString::String("25%".into())), "{what}: maxUnavailable");
        assert_eq!(spec.revision_history_limit, Some(10), "{what}: revisionHistoryLimit");
        assert_eq!(spec.progress_deadline_seconds, Some(600), "{what}: progressDeadlineSeconds");
        let pod = spec.template.spec.as_ref().expect("template spec");
        assert_eq!(pod.restart_policy.as_deref(), Some("Always"), "{what}: template restartPolicy");
        let c = &pod.containers[0];
        assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"), "{what}: imagePullPolicy for a tagged image");
        assert_eq!(
            c.termination_message_path.as_deref(),
            Some("/dev/termination-log"),
            "{what}: terminationMessagePath"
        );
        assert_eq!(d.metadata.generation, Some(1), "{what}: generation");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_list_filters_by_label_selector() {
    let server = Server::start();
    let api: Api<Pod> = Api::namespaced(client(&server).await, "default");
    for (name, labels) in
        [("p-a1", json!({"app": "a", "tier": "fe"})), ("p-a2", json!({"app": "a"})), ("p-b", json!({"app": "b"}))]
    {
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "c1", "image": "busybox:1.0"}]},
        }))
        .expect("pod manifest");
        api.create(&PostParams::default(), &pod).await.expect("create pod");
    }
    for (selector, want) in [
        ("app=a", vec!["p-a1", "p-a2"]),
        ("app in (b)", vec!["p-b"]),
        ("app=a,tier=fe", vec!["p-a1"]),
        ("!tier", vec!["p-a2", "p-b"]),
        ("app notin (a,b)", vec![]),
    ] {
        let list = api.list(&ListParams::default().labels(selector)).await.expect("list pods");
        let mut names: Vec<_> = list.items.iter().filter_map(|p| p.metadata.name.clone()).collect();
        names.sort();
        assert_eq!(names, want, "pods matching {selector:?}");
    }
}
