//! Wasm pods on a pod network, without the agent: a stand-in network that gives the pod's
//! namespace a loopback only (the real one, with eth0 and a pod IP, is the agent's; e2e tests
//! cover it). Needs root (network namespaces); skipped with a message otherwise.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use runtime::cri::{ContainerRuntime, PortMapping, SandboxConfig};
use runtime::net::netns::NetNs;
use runtime::net::{DnsSettings, NetError, PodNetwork};
use runtime::wasm::{WasmOptions, WasmRuntime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fixture::{log_path, wait_for_log, Node};

/// Brings the namespace's loopback up and calls 127.0.0.1 the pod's IP.
#[derive(Debug, Default)]
struct LoopbackNetwork {
    detached: std::sync::Mutex<Vec<String>>,
}

#[async_trait]
impl PodNetwork for LoopbackNetwork {
    async fn attach(&self, pod_uid: &str, netns: &Arc<NetNs>) -> Result<IpAddr, NetError> {
        let up = netns
            .run(|| std::process::Command::new("ip").args(["link", "set", "lo", "up"]).status())
            .and_then(|status| status)
            .map_err(|source| NetError::Io { context: format!("lo up for {pod_uid}"), source })?;
        assert!(up.success(), "ip link set lo up");
        Ok(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    async fn detach(&self, pod_uid: &str) {
        self.detached.lock().unwrap().push(pod_uid.to_owned());
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

struct NetNode {
    node: Node,
    network: Arc<LoopbackNetwork>,
    netns: Arc<NetNs>,
}

async fn node_with_ports(ports: &[u16]) -> NetNode {
    node_with(ports, DnsSettings::default()).await
}

async fn node_with(ports: &[u16], dns: DnsSettings) -> NetNode {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = WasmOptions::new(dir.path().join("data"));
    options.max_pods = 4;
    options.pool_slots = Some(8);
    let runtime = WasmRuntime::new(options).expect("runtime");
    let network = Arc::new(LoopbackNetwork::default());
    let sandbox = runtime
        .run_sandbox(&SandboxConfig {
            pod_uid: "uid-net".into(),
            namespace: "default".into(),
            name: "web".into(),
            hostname: "web".into(),
            log_dir: dir.path().join("logs"),
            ports: ports.iter().map(|p| PortMapping { container_port: *p, protocol: "TCP".into(), name: None }).collect(),
            network: Some(network.clone()),
            dns,
            ..SandboxConfig::default()
        })
        .await
        .expect("sandbox");
    let status = runtime.sandbox_status(&sandbox).await.expect("status");
    assert_eq!(status.ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let netns = status.netns.expect("a wasm sandbox on a network has a namespace");
    assert!(!netns.same_as(&NetNs::current().expect("current")), "the pod's namespace is its own");
    NetNode { node: Node { runtime, dir, sandbox }, network, netns }
}

/// Network tests need root (network namespaces), and run their servers under load
/// alone, not beside the tests that measure CPU rates: the guard keeps them apart.
async fn network_test() -> Option<tokio::sync::MutexGuard<'static, ()>> {
    if !is_root() {
        eprintln!("skipped: needs root for network namespaces");
        return None;
    }
    Some(crate::fixture::cpu_heavy().await)
}

/// One HTTP/1.0 exchange from inside the pod's namespace.
async fn get(netns: &NetNs, port: u16, path: &str) -> String {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = tokio::time::timeout(Duration::from_secs(10), netns.tcp_connect(addr)).await.expect("connect in time").expect("connect");
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes()).await.expect("send");
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut response)).await.expect("answer in time").expect("read");
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview1_server_answers_on_its_declared_ports_inside_the_pod_namespace() {
    let Some(_alone) = network_test().await else { return };
    let NetNode { node, network, netns } = node_with_ports(&[8080, 9090]).await;
    let mut config = node.config("httpd", "httpd", &[]);
    config.env.push(("HOSTNAME".into(), "web-1".into()));
    let id = node.start(&config).await;
    wait_for_log(&log_path(&config), "serving 2 socket(s) from fd 3", Duration::from_secs(20)).await;

    let answer = get(&netns, 8080, "/").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nweb-1\n"), "{answer}");
    let second = get(&netns, 9090, "/healthz").await;
    assert!(second.ends_with("ok\n"), "{second}");
    for _ in 0..20 {
        assert!(get(&netns, 8080, "/nope").await.starts_with("HTTP/1.1 404"));
    }
    let log = wait_for_log(&log_path(&config), "GET /healthz 200", Duration::from_secs(5)).await;
    assert!(log.contains("GET / 200"), "{log}");

    node.runtime.stop_container(&id, Duration::from_secs(1)).await.expect("stop");
    node.runtime.remove_sandbox(&node.sandbox).await.expect("remove");
    assert_eq!(network.detached.lock().unwrap().as_slice(), ["uid-net"]);
}

/// `count` GETs of `path` on one keep-alive HTTP/1.1 connection (hyper's client), as
/// "<status> <body>".
async fn get_keepalive(netns: &NetNs, port: u16, path: &str, count: usize) -> Vec<String> {
    use http_body_util::BodyExt;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream = tokio::time::timeout(Duration::from_secs(10), netns.tcp_connect(addr)).await.expect("connect in time").expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    let mut answers = Vec::new();
    for _ in 0..count {
        let request = http::Request::get(path).header("host", "x").body(http_body_util::Empty::<bytes::Bytes>::new()).expect("request");
        sender.ready().await.expect("connection ready for the next request");
        let response = sender.send_request(request).await.expect("response");
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.expect("body").to_bytes();
        answers.push(format!("{status} {}", String::from_utf8_lossy(&body)));
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasi_http_component_is_served_an_instance_per_request_and_drains_on_stop() {
    let Some(_alone) = network_test().await else { return };
    let NetNode { node, netns, .. } = node_with_ports(&[8081]).await;
    let config = node.config("hello", "http-hello", &[]);
    let id = node.start(&config).await;
    let mut answers = Vec::new();
    for _ in 0..50 {
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(200), netns.tcp_connect(SocketAddr::from((Ipv4Addr::LOCALHOST, 8081)))).await {
            answers = get_keepalive(&netns, 8081, "/a/b?c=d", 20).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(answers.len(), 20, "served 20 requests on one connection");
    for answer in &answers {
        assert_eq!(answer, "200 hello from wasi:http /a/b?c=d\n");
    }
    let one = get(&netns, 8081, "/x").await;
    assert!(one.starts_with("HTTP/1.0 200") && one.ends_with("hello from wasi:http /x\n"), "{one}");
    assert!(matches!(node.runtime.container_state(&id).await.expect("state"), runtime::cri::ContainerState::Running { .. }));

    node.runtime.stop_container(&id, Duration::from_secs(5)).await.expect("stop");
    let exited = node.wait(&id).await;
    assert_eq!(exited.code, 0, "a drained server ends cleanly: {exited:?}");
    assert!(netns.tcp_connect(SocketAddr::from((Ipv4Addr::LOCALHOST, 8081))).await.is_err(), "no longer accepting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_request_answers_500_and_the_server_goes_on() {
    let Some(_alone) = network_test().await else { return };
    let NetNode { node, netns, .. } = node_with_ports(&[8082]).await;
    let mut config = node.config("tiny", "http-hello", &[]);
    // Less memory than the component's minimum: every instantiation fails.
    config.limits.memory_bytes = Some(64 * 1024);
    let id = node.start(&config).await;
    let mut answer = String::new();
    for _ in 0..50 {
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(200), netns.tcp_connect(SocketAddr::from((Ipv4Addr::LOCALHOST, 8082)))).await {
            answer = get(&netns, 8082, "/boom").await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answer.contains(" 500 Internal Server Error"), "{answer}");
    assert!(get(&netns, 8082, "/again").await.contains(" 500 "));
    wait_for_log(&log_path(&config), "wasmkube: GET /boom failed", Duration::from_secs(5)).await;
    assert!(matches!(node.runtime.container_state(&id).await.expect("state"), runtime::cri::ContainerState::Running { .. }), "one request's failure is not the container's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview2_guest_listens_and_connects_inside_the_pod_and_egress_is_closed() {
    let Some(_alone) = network_test().await else { return };
    let NetNode { node, netns, .. } = node_with_ports(&[]).await;
    let mut server = node.config("serve", "netcat-p2", &["serve", "8083"]);
    server.env.push(("HOSTNAME".into(), "nc-server".into()));
    let _server = node.start(&server).await;
    // The guest's own socket is in the pod's namespace: reachable there.
    for _ in 0..100 {
        if crate::fixture::log_text(&log_path(&server)).contains("serving on") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("server log: {}", crate::fixture::log_text(&log_path(&server)));
    let answer = get(&netns, 8083, "/p2").await;
    assert!(answer.ends_with("nc-server\n"), "{answer}: {}", crate::fixture::log_text(&log_path(&server)));

    // Another guest of the pod connects to it over the pod's loopback.
    let fetch = node.config("fetch", "netcat-p2", &["fetch", "127.0.0.1", "8083", "/from-p2"]);
    let exited = node.run(&fetch).await;
    assert_eq!(exited.code, 0, "{exited:?}: {}", crate::fixture::log_text(&log_path(&fetch)));
    assert!(crate::fixture::log_text(&log_path(&fetch)).contains("nc-server"));

    // Outside the cluster: refused before any packet, and the log says why.
    let out = node.config("egress", "netcat-p2", &["fetch", "1.1.1.1", "80", "/"]);
    let exited = node.run(&out).await;
    assert_ne!(exited.code, 0);
    let log = crate::fixture::log_text(&log_path(&out));
    assert!(log.contains("1.1.1.1:80 refused") && log.contains("egress is closed"), "{log}");
    assert!(log.contains("access-denied"), "the guest saw access-denied: {log}");
}

/// A name server inside the pod's namespace at 127.0.0.1:53 that knows one name.
async fn serve_one_name(netns: &NetNs, name: &'static str, ip: Ipv4Addr) {
    use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
    use hickory_proto::rr::{rdata::A, RData, Record};
    let server = netns.udp_socket(SocketAddr::from((Ipv4Addr::LOCALHOST, 53))).expect("dns socket in the pod");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 512];
        while let Ok((n, from)) = server.recv_from(&mut buf).await {
            let Ok(query) = Message::from_vec(&buf[..n]) else { continue };
            let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
            reply.add_query(query.queries[0].clone());
            if query.queries[0].name().to_ascii() == name {
                reply.add_answer(Record::from_rdata(query.queries[0].name().clone(), 5, RData::A(A(ip))));
            } else {
                reply.metadata.response_code = ResponseCode::NXDomain;
            }
            let _ = server.send_to(&reply.to_vec().expect("encode"), from).await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview2_guest_resolves_names_with_the_pod_dns_and_search_path() {
    let Some(_alone) = network_test().await else { return };
    let dns = DnsSettings {
        nameservers: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        searches: vec!["default.svc.cluster.local".into(), "svc.cluster.local".into(), "cluster.local".into()],
        options: vec!["ndots:5".into()],
    };
    let NetNode { node, netns, .. } = node_with(&[], dns).await;
    // Only the pod's namespace has this server: an answer proves the query left from the pod.
    serve_one_name(&netns, "web.default.svc.cluster.local.", Ipv4Addr::new(10, 43, 0, 9)).await;
    let resolve = node.config("resolve", "netcat-p2", &["resolve", "web"]);
    let exited = node.run(&resolve).await;
    let log = crate::fixture::log_text(&log_path(&resolve));
    assert_eq!(exited.code, 0, "{exited:?}: {log}");
    assert_eq!(log.trim(), "10.43.0.9", "{log}");
    let missing = node.config("missing", "netcat-p2", &["resolve", "nowhere"]);
    assert_ne!(node.run(&missing).await.code, 0);
    assert!(crate::fixture::log_text(&log_path(&missing)).contains("name-unresolvable"));
}

/// Joins nothing: the cost of the pod's own namespace alone (the real network adds its veth).
#[derive(Debug)]
struct NoopNetwork;

#[async_trait]
impl PodNetwork for NoopNetwork {
    async fn attach(&self, _pod_uid: &str, _netns: &Arc<NetNs>) -> Result<IpAddr, NetError> {
        Ok(IpAddr::V4(Ipv4Addr::new(10, 42, 0, 9)))
    }

    async fn detach(&self, _pod_uid: &str) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figure_sandbox_to_running_with_and_without_a_namespace() {
    let Some(_alone) = network_test().await else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = WasmOptions::new(dir.path().join("data"));
    options.max_pods = 8;
    options.pool_slots = Some(16);
    let runtime = WasmRuntime::new(options).expect("runtime");
    let helper = Node { runtime: WasmRuntime::new(WasmOptions::new(dir.path().join("other"))).expect("runtime"), dir, sandbox: runtime::cri::SandboxId(String::new()) };
    let config = helper.config("hello", "hello", &[]);
    let mut figures = Vec::new();
    for network in [None, Some(Arc::new(NoopNetwork) as Arc<dyn PodNetwork>)] {
        let mut samples = Vec::new();
        for i in 0..40 {
            let started = std::time::Instant::now();
            let sandbox = runtime
                .run_sandbox(&SandboxConfig { pod_uid: format!("uid-{i}"), name: format!("p{i}"), network: network.clone(), ..SandboxConfig::default() })
                .await
                .expect("sandbox");
            let id = runtime.create_container(&sandbox, &config).await.expect("create");
            runtime.start_container(&id).await.expect("start");
            samples.push(started.elapsed());
            runtime.wait_container(&id).await.expect("wait");
            runtime.remove_sandbox(&sandbox).await.expect("remove");
        }
        samples.sort();
        figures.push((network.is_some(), samples[samples.len() / 2], samples[samples.len() * 9 / 10]));
    }
    for (with, p50, p90) in &figures {
        eprintln!("figure: wasm sandbox + container start, {} namespace: p50 {p50:?} p90 {p90:?}", if *with { "with its own" } else { "without a" });
    }
    // A namespace costs the kernel well under 10 ms, never tens.
    assert!(figures[1].1 < Duration::from_millis(20), "{figures:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_with_sockets_still_finds_its_mounts_after_them() {
    let Some(_alone) = network_test().await else { return };
    // Sockets take fds 3 and 4, the mount comes after them; libc's preopen scan must step over
    // the sockets, and files it opens get descriptors the guest can use.
    let NetNode { node, .. } = node_with_ports(&[8084, 8085]).await;
    for expected in ["count 0", "count 1"] {
        let mut config = node.config("counter", "emptydir", &["/data"]);
        config.mounts.push(node.volume("data", "/data", false));
        let exited = node.run(&config).await;
        let log = crate::fixture::log_text(&log_path(&config));
        assert_eq!(exited.code, 0, "{exited:?}: {log}");
        assert!(log.contains(expected), "{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_wasi_http_requests_leave_from_the_pod_and_stay_in_the_cluster() {
    use http_body_util::BodyExt;
    use runtime::wasm::http::outgoing::send_from_pod;
    use runtime::wasm::net::policy::default_cluster_networks;
    use runtime::wasm::net::PodNet;
    use wasmtime_wasi_http::Error;

    let Some(_alone) = network_test().await else { return };
    let dns = DnsSettings {
        nameservers: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        searches: vec!["default.svc.cluster.local".into()],
        options: vec!["ndots:5".into()],
    };
    let NetNode { node, netns, .. } = node_with(&[8086], dns.clone()).await;
    serve_one_name(&netns, "hello.default.svc.cluster.local.", Ipv4Addr::LOCALHOST).await;
    let config = node.config("hello", "http-hello", &[]);
    node.start(&config).await;
    let pod = Arc::new(PodNet::new(netns.clone(), IpAddr::V4(Ipv4Addr::LOCALHOST), dns, &[], default_cluster_networks().into()));
    let request = |uri: &str| {
        http::Request::get(uri)
            .header("host", "hello")
            .body(http_body_util::Empty::<bytes::Bytes>::new().map_err(|never| match never {}).boxed_unsync())
            .expect("request")
    };
    let mut body = String::new();
    for _ in 0..50 {
        match send_from_pod(pod.clone(), request("http://hello:8086/named?x=1"), None).await {
            Ok((response, _)) => {
                assert_eq!(response.status(), 200);
                body = String::from_utf8_lossy(&response.into_body().collect().await.expect("body").to_bytes()).into_owned();
                break;
            }
            Err(Error::ConnectionRefused) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(body, "hello from wasi:http /named?x=1\n", "a name of the pod's DNS, a connection from the pod's namespace");
    let by_ip = send_from_pod(pod.clone(), request("http://127.0.0.1:8086/ip"), None).await.expect("by IP");
    assert_eq!(by_ip.0.status(), 200);
    assert!(matches!(send_from_pod(pod.clone(), request("http://1.1.1.1/"), None).await, Err(Error::DestinationIpProhibited)));
    assert!(matches!(send_from_pod(pod.clone(), request("https://10.43.0.1/"), None).await, Err(Error::HttpRequestDenied)));
    assert!(matches!(send_from_pod(pod, request("http://nowhere/"), None).await, Err(Error::DnsError { .. })));
}
