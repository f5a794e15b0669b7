//! Starts real `wasmkube server` processes on 127.0.0.1 and drives them with
//! the real kubectl (and a raw HTTPS client for what kubectl cannot send).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running server, killed (and its data removed) when dropped.
pub struct Server {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// `https://127.0.0.1:PORT`
    pub url: String,
    pub token: String,
    /// Run the embedded node agent (the default `start` disables it).
    with_agent: bool,
    /// Registries the server reaches over plain HTTP (`--insecure-registry`).
    insecure_registries: Vec<String>,
    /// More `wasmkube server` flags, kept across restarts (see [`Server::start_with_flags`]).
    pub(crate) extra_flags: Vec<String>,
}

impl Server {
    /// A fresh server with an empty data dir.
    pub fn start() -> Server {
        let mut s = Server::unstarted(false);
        s.launch("127.0.0.1:0");
        s
    }

    /// A server over a fresh data dir, not started yet.
    fn unstarted(with_agent: bool) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        Server {
            child: None,
            dir,
            url: String::new(),
            token: String::new(),
            with_agent,
            insecure_registries: Vec::new(),
            extra_flags: Vec::new(),
        }
    }

    /// A fresh server with its embedded node agent, whose image store already holds the
    /// sample wasm modules as `local/<name>:1.0` (pods use them with `imagePullPolicy: Never`).
    pub fn start_with_agent() -> Server {
        Server::start_with_samples(DEFAULT_SAMPLES)
    }

    /// Like [`Server::start_with_agent`] (embedded node or not: `with_agent`), with more
    /// `wasmkube server` flags such as `--node-monitor-grace-period 6`.
    pub fn start_with_flags(with_agent: bool, flags: &[&str]) -> Server {
        let mut s = Server::unstarted(with_agent);
        s.extra_flags = flags.iter().map(|f| f.to_string()).collect();
        if with_agent {
            import_samples(&s.data_dir(), DEFAULT_SAMPLES);
        }
        s.launch("127.0.0.1:0");
        s
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir().join("kubeconfig.yaml")
    }

    /// Start the server process on `listen` over this server's data dir.
    pub(crate) fn launch(&mut self, listen: &str) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wasmkube"))
            .args(["server", "--listen", listen])
            .args((!self.with_agent).then_some("--disable-agent"))
            .args(self.insecure_registries.iter().flat_map(|r| ["--insecure-registry", r.as_str()]))
            .args(&self.extra_flags)
            // Many test servers share this machine's 127.0.0.1: only tests of the
            // ingress controller open its port, on a free one of their own.
            .args((!self.extra_flags.iter().any(|f| f == "--ingress-port")).then_some(["--ingress-port", "0"]).into_iter().flatten())
            .arg("--data-dir")
            .arg(self.data_dir())
            .env("WASMKUBE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn wasmkube server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("wasmkube API server ready on ") {
                    if !sent {
                        let _ = tx.send(url.trim().to_string());
                        sent = true;
                    }
                }
            }
        });
        self.url = rx.recv_timeout(Duration::from_secs(60)).expect("server did not become ready within 60 s");
        self.token = std::fs::read_to_string(self.data_dir().join("admin.token")).expect("admin token").trim().to_string();
        self.child = Some(child);
    }

    /// `kill -9` the server: no chance to flush or shut down.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM the server and wait for it to exit; returns its exit status.
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        let pid = child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().expect("wait for server") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the server did not exit within {within:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Start again on the same data dir and the same port.
    pub fn restart(&mut self) {
        self.kill9();
        let port = self.url.rsplit(':').next().unwrap_or("0").to_string();
        let listen = format!("127.0.0.1:{port}");
        // The port can take a moment to be free again.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpListener::bind(&listen).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.launch(&listen);
    }

    fn kubectl_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("kubectl");
        c.env("KUBECONFIG", self.kubeconfig())
            // Discovery is cached per server: never reuse another server's cache.
            .arg("--cache-dir")
            .arg(self.dir.path().join("kube-cache"))
            .args(args);
        c
    }

    /// Run kubectl; returns its whole output.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_cmd(args).output().expect("run kubectl")
    }

    /// Run kubectl with `stdin` as standard input (for `-f -`).
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .kubectl_cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
        child.wait_with_output().expect("kubectl output")
    }

    /// Run kubectl, panic with its stderr unless it succeeds; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        check(args, self.kubectl(args))
    }

    /// `kubectl_ok` with standard input.
    pub fn kubectl_stdin_ok(&self, args: &[&str], stdin: &str) -> String {
        check(args, self.kubectl_stdin(args, stdin))
    }

    /// Start kubectl in the background (for `get -w`), output piped.
    pub fn kubectl_spawn(&self, args: &[&str]) -> Child {
        self.kubectl_cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn kubectl")
    }

    /// An HTTPS client that trusts this cluster's CA.
    pub fn http(&self) -> reqwest::Client {
        let ca = std::fs::read(self.data_dir().join("pki/ca.crt")).expect("ca.crt");
        reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA pem"))
            .build()
            .expect("http client")
    }

    pub fn path(&self, p: &str) -> String {
        format!("{}{p}", self.url)
    }
}

fn check(args: &[&str], out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "kubectl {} failed ({}):\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        if self.with_agent {
            remove_dead_node_networks();
        }
    }
}

/// `wasmkube cleanup`: a SIGKILLed node leaves its network namespace (and bridge) behind.
pub fn remove_dead_node_networks() {
    let _ = Command::new(env!("CARGO_BIN_EXE_wasmkube")).arg("cleanup").stdout(Stdio::null()).stderr(Stdio::null()).status();
}

/// Poll `f` until it returns Some, or panic after `timeout` naming `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// stderr of a kubectl run as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Write `contents` to a file in `dir` and return its path as a string.
pub fn write_file(dir: &Path, name: &str, contents: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, contents).expect("write manifest");
    p.to_string_lossy().to_string()
}

/// Async twin of [`wait_for`]: poll the future `f` makes until it returns
/// Some, or panic after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The sample modules a node's image store gets by default.
pub const DEFAULT_SAMPLES: &[&str] = &["hello", "crasher", "logger", "memhog", "emptydir"];

/// Imports `samples/wasm/<name>.wasm` as `local/<name>:1.0` into the image store of the node
/// whose data dir is `data_dir` (pods use them with `imagePullPolicy: Never`).
pub fn import_samples(data_dir: &Path, names: &[&str]) {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/wasm");
    for name in names {
        let status = Command::new(env!("CARGO_BIN_EXE_wasmkube"))
            .args(["images", "--data-dir"])
            .arg(data_dir)
            .arg("import")
            .arg(samples.join(format!("{name}.wasm")))
            .args(["--tag", &format!("local/{name}:1.0")])
            .stdout(Stdio::null())
            .status()
            .expect("run wasmkube images import");
        assert!(status.success(), "importing {name}.wasm");
    }
}

impl Server {
    /// A fresh server with its embedded node agent whose image store holds exactly the named
    /// sample modules (`samples/wasm/<name>.wasm`) as `local/<name>:1.0`; for samples that
    /// [`Server::start_with_agent`] does not import (burner, loop).
    pub fn start_with_samples(names: &[&str]) -> Server {
        let mut s = Server::unstarted(true);
        import_samples(&s.data_dir(), names);
        s.launch("127.0.0.1:0");
        s
    }

    /// [`Server::start_with_samples`] with more `wasmkube server` flags (kept across restarts),
    /// e.g. `--insecure-registry` and `--ingress-port`.
    pub fn start_with_samples_and_flags(names: &[&str], flags: &[&str]) -> Server {
        let mut s = Server::unstarted(true);
        s.extra_flags = flags.iter().map(|f| f.to_string()).collect();
        import_samples(&s.data_dir(), names);
        s.launch("127.0.0.1:0");
        s
    }

    /// The name of the first registered node, waiting up to 30 s for one.
    pub fn node_name(&self) -> String {
        wait_for("a node", Duration::from_secs(30), || {
            // `{.items[*]}`: kubectl fails on an index into a still-empty list.
            let names = stdout(&self.kubectl(&["get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"]));
            names.split_whitespace().next().map(str::to_string)
        })
    }

    /// `kubectl get pod POD -o jsonpath=...`; empty when the pod or the field is missing.
    pub fn pod_field(&self, pod: &str, jsonpath: &str) -> String {
        stdout(&self.kubectl(&["get", "pod", pod, "-o", &format!("jsonpath={jsonpath}")]))
    }

    /// Waits up to `timeout` for `jsonpath` of `pod` to read `want`.
    pub fn wait_pod_field(&self, pod: &str, jsonpath: &str, want: &str, timeout: Duration) {
        let what = format!("{jsonpath} of pod {pod} to be {want:?}");
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.pod_field(pod, jsonpath);
            if last == want {
                return;
            }
            if Instant::now() > deadline {
                let describe = stdout(&self.kubectl(&["describe", "pod", pod]));
                panic!("timed out after {timeout:?} waiting for {what}; last {last:?}\n{describe}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Server {
    /// CPU time (user + system, all threads) the server process has used so far, from
    /// `/proc/PID/stat`; the embedded agent runs wasm guests on the server's threads.
    pub fn cpu_time(&self) -> Duration {
        let pid = self.child.as_ref().expect("server running").id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let rest = stat.rsplit_once(')').map(|(_, rest)| rest).expect("stat format");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        // USER_HZ is 100 on every Linux ABI this project targets.
        Duration::from_millis(ticks * 10)
    }
}

/// The test images of `tests/infra/build-test-images.sh` in a local registry, one per test
/// binary: started by the first test that asks, shared by the rest.
///
/// The registries are `setsid` processes, so they would outlive the test binary; a watchdog
/// shell started with them stops them (and removes their data) once this process is gone,
/// however it ends: a normal exit, a panic in another thread or a `kill -9`.
pub struct TestRegistry {
    /// `127.0.0.1:PORT` of the anonymous registry, to prefix image names with.
    pub addr: String,
}

static TEST_REGISTRY: std::sync::OnceLock<Result<TestRegistry, String>> = std::sync::OnceLock::new();

impl TestRegistry {
    /// The shared registry, or `None` (after printing why) when it cannot start on this machine
    /// and `CI` is not `true`; under CI a missing registry fails the test instead.
    pub fn get() -> Option<&'static TestRegistry> {
        match TEST_REGISTRY.get_or_init(TestRegistry::start) {
            Ok(registry) => Some(registry),
            Err(why) if std::env::var("CI").is_ok_and(|ci| ci == "true") => panic!("CI=true: {why}"),
            Err(why) => {
                eprintln!("skipped: {why} (run tests/infra/install-deps.sh)");
                None
            }
        }
    }

    /// `HOST:PORT/NAME` of an image in this registry.
    pub fn image(&self, name: &str) -> String {
        format!("{}/{name}", self.addr)
    }

    fn start() -> Result<TestRegistry, String> {
        let infra = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/infra");
        // Kept on disk until the watchdog removes it: a static is never dropped.
        let dir = tempfile::Builder::new().prefix("wasmkube-e2e-registry").tempdir().map_err(|e| format!("temp dir: {e}"))?.keep();
        let run = |script: &str, args: &[&Path]| -> Result<(), String> {
            let out = Command::new("bash").arg(infra.join(script)).args(args).output().map_err(|e| format!("running {script}: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!("{script} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()))
            }
        };
        let started = run("registry.sh", &[Path::new("start"), &dir]);
        // Start the watchdog even after a failed start: one of the two registries may be up.
        let watchdog = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; bash {script} stop {dir}; rm -rf {dir}",
            pid = std::process::id(),
            script = infra.join("registry.sh").display(),
            dir = dir.display(),
        );
        Command::new("setsid")
            .args(["sh", "-c", &watchdog])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting the registry watchdog: {e}"))?;
        started?;
        run("build-test-images.sh", &[&dir])?;
        let addr = std::fs::read_to_string(dir.join("plain.addr")).map_err(|e| format!("reading plain.addr: {e}"))?;
        Ok(TestRegistry { addr: addr.trim().to_string() })
    }
}

impl Server {
    /// A fresh server with its embedded node agent that pulls from `registry` over plain HTTP.
    pub fn start_with_registry(registry: &TestRegistry) -> Server {
        let mut s = Server::unstarted(true);
        s.insecure_registries = vec![registry.addr.clone()];
        s.launch("127.0.0.1:0");
        s
    }

    /// Process id of the server (for `/proc` checks).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }
}
