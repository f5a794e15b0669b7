//! Interactive streams of Linux containers, driven by the real kubectl:
//! `exec -i` with piped stdin (EOF included), `exec -it` on a terminal from
//! the container's devpts (kubectl refuses a TTY unless its own stdin is a
//! terminal, so util-linux `script` gives it one), and `attach` to a
//! container's live output and, with `stdin: true`, to its stdin (`stdinOnce`
//! and `tty: true` included); wasm containers refuse attach with a clear error.
//!
//! Each test skips (with a printed reason) when the test registry cannot start
//! and `CI` is unset; see [`TestRegistry::get`].

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{stderr, stdout, wait_for, Server};

use crate::linux_pods::{Cluster, POD_TIMEOUT};

impl Cluster {
    /// [`Cluster::run_sh`], then waits until the pod runs.
    fn run_sh_running(&self, pod: &str, script: &str, extra: &str) {
        self.run_sh(pod, script, extra);
        self.wait_phase(pod, "Running");
    }

    /// The kubectl command line for this server, for a shell (`script -c`).
    fn kubectl_line(&self, args: &str) -> String {
        format!(
            "kubectl --kubeconfig {} --cache-dir {} {args}",
            self.server.kubeconfig().display(),
            self.server.data_dir().join("kube-cache-tty").display()
        )
    }

    /// Runs `shell_line` under `script`, so kubectl's stdin and stdout are a terminal.
    fn on_terminal(&self, shell_line: &str) -> Output {
        let mut child = Command::new("script")
            .args(["-qec", shell_line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run script (util-linux)");
        // Held open until the end: at EOF on its input, script would type an EOF character.
        let _input = child.stdin.take();
        child.wait_with_output().expect("script output")
    }

    /// `kubectl` started in the background with piped stdin/stdout/stderr.
    fn kubectl_piped(&self, args: &str) -> std::process::Child {
        Command::new("sh")
            .args(["-c", &format!("exec {}", self.kubectl_line(args))])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kubectl")
    }
}

/// Lines of terminal output, without the carriage returns a terminal adds.
fn terminal_lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes).lines().map(|l| l.trim_end_matches('\r').to_string()).collect()
}

/// Reads what `child` prints on stdout until `done` accepts it or `timeout` passes.
fn read_until(child: &mut std::process::Child, timeout: Duration, done: impl Fn(&str) -> bool) -> String {
    let mut out = child.stdout.take().expect("stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + timeout;
    let mut seen = String::new();
    while !done(&seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            Err(_) => break,
        }
    }
    seen
}

#[test]
fn exec_i_feeds_stdin_and_closes_it_at_eof() {
    let Some(c) = Cluster::start() else { return };
    c.run_sh_running("target", "exec sleep 3600", "");
    let echoed = c.server.kubectl_stdin_ok(&["exec", "-i", "target", "--", "cat"], "hi\nthere\n");
    assert_eq!(echoed, "hi\nthere\n", "cat ends at EOF and echoes everything");
    let counted = c.server.kubectl_stdin(&["exec", "-i", "target", "--", "sh", "-c", "wc -l; exit 4"], "a\nb\nc\n");
    assert_eq!(stdout(&counted).trim(), "3");
    assert_eq!(counted.status.code(), Some(4), "{}", stderr(&counted));
    assert!(stderr(&counted).contains("command terminated with exit code 4"), "{}", stderr(&counted));
}

#[test]
fn exec_it_runs_on_a_terminal_of_the_requested_size() {
    let Some(c) = Cluster::start() else { return };
    c.run_sh_running("target", "exec sleep 3600", "");
    // The size of script's terminal is what kubectl sends on the resize channel.
    let line = format!("stty cols 91 rows 37; {}", c.kubectl_line("exec -it target -- sh -c 'tty; stty size; exit 5'"));
    let out = c.on_terminal(&line);
    let lines = terminal_lines(&out.stdout);
    assert!(lines.iter().any(|l| l.starts_with("/dev/pts/")), "tty names the container's terminal: {lines:?} {}", stderr(&out));
    assert!(lines.iter().any(|l| l == "37 91"), "stty size reads the client's size: {lines:?}");
    assert_eq!(out.status.code(), Some(5), "the exit code passes through: {lines:?}");
    assert!(!lines.iter().any(|l| l.contains("Unhandled Error")), "kubectl closes the session cleanly: {lines:?}");
    // Without -t the same command has no terminal.
    let plain = c.server.kubectl(&["exec", "target", "--", "sh", "-c", "tty"]);
    assert_eq!(stdout(&plain).trim(), "not a tty");
}

#[test]
fn attach_streams_live_output() {
    let Some(c) = Cluster::start() else { return };
    c.run_sh_running("ticker", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 1; done", "");
    // Let a few ticks go by: attach shows what comes next, not the log from the start.
    wait_for("three ticks in the log", POD_TIMEOUT, || c.server.kubectl_ok(&["logs", "ticker"]).contains("tick 3").then_some(()));
    let mut attached = c.kubectl_piped("attach ticker -c c");
    let seen = read_until(&mut attached, Duration::from_secs(10), |s| s.matches("tick").count() >= 2);
    let _ = attached.kill();
    let _ = attached.wait();
    assert!(seen.matches("tick").count() >= 2, "attach streams the ticks: {seen:?}");
    assert!(!seen.contains("tick 1\n"), "only output from the moment of attaching: {seen:?}");
}

#[test]
fn attach_i_forwards_stdin_to_the_container() {
    let Some(c) = Cluster::start() else { return };
    c.run_sh_running("reader", "while read line; do echo got $line; done; echo stdin closed", "    stdin: true\n");
    let mut attached = c.kubectl_piped("attach -i reader -c c");
    let mut input = attached.stdin.take().expect("stdin piped");
    input.write_all(b"hello\n").expect("write");
    input.flush().expect("flush");
    let seen = read_until(&mut attached, Duration::from_secs(10), |s| s.contains("got hello"));
    let _ = attached.kill();
    let _ = attached.wait();
    assert!(seen.contains("got hello"), "the container read what was typed: {seen:?}");
    // The container keeps its stdin after the attach (no stdinOnce): it still runs.
    assert_eq!(c.server.pod_field("reader", "{.status.phase}"), "Running");
}

#[test]
fn attach_i_with_stdin_once_closes_the_containers_stdin_at_eof() {
    let Some(c) = Cluster::start() else { return };
    c.run_sh_running("once", "cat; echo stdin closed", "    stdin: true\n    stdinOnce: true\n");
    let mut attached = c.kubectl_piped("attach -i once -c c");
    let mut input = attached.stdin.take().expect("stdin piped");
    input.write_all(b"hello\n").expect("write");
    drop(input);
    let seen = read_until(&mut attached, Duration::from_secs(15), |s| s.contains("stdin closed"));
    let _ = attached.kill();
    let _ = attached.wait();
    assert!(seen.contains("hello\nstdin closed"), "cat echoed, then read EOF: {seen:?}");
    c.server.wait_pod_field("once", "{.status.phase}", "Succeeded", POD_TIMEOUT);
}

#[test]
fn attach_it_to_a_tty_container() {
    let Some(c) = Cluster::start() else { return };
    c.run_sh_running("term", "while read line; do echo got $line; stty size; done", "    stdin: true\n    tty: true\n");
    // script forwards what the test types to kubectl's terminal, and kubectl to the container's.
    let line = format!("stty cols 77 rows 21; {}", c.kubectl_line("attach -it term -c c"));
    let mut attached = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script (util-linux)");
    let mut input = attached.stdin.take().expect("stdin piped");
    std::thread::sleep(Duration::from_secs(2));
    input.write_all(b"ping\r").expect("type");
    input.flush().expect("flush");
    let seen = read_until(&mut attached, Duration::from_secs(10), |s| s.contains("got ping") && s.contains("21 77"));
    let _ = attached.kill();
    let _ = attached.wait();
    assert!(seen.contains("got ping"), "the container's terminal got the line: {seen:?}");
    assert!(seen.contains("21 77"), "and the client's size: {seen:?}");
}

#[test]
fn attach_to_a_wasm_container_says_it_is_not_supported() {
    let server = Server::start_with_samples(&["logger"]);
    let node = server.node_name();
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{ name: logger }}\nspec:\n  nodeName: {node}\n  containers:\n  - {{ name: c, image: local/logger:1.0, imagePullPolicy: Never }}\n"
    );
    server.kubectl_stdin_ok(&["apply", "-f", "-"], &manifest);
    server.wait_pod_field("logger", "{.status.phase}", "Running", POD_TIMEOUT);
    let out = server.kubectl(&["attach", "logger", "-c", "c"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not supported for wasmtime containers yet"), "{}", stderr(&out));
}
