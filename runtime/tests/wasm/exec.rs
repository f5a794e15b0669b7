//! `exec`: a new instance of the container's module with the exec argv.

use std::time::Duration;

use runtime::cri::{ContainerRuntime, ExecIo};
use tokio::io::AsyncReadExt;

use crate::fixture::{log_path, wait_for_log, Node};

fn piped() -> (ExecIo, tokio::io::DuplexStream, tokio::io::DuplexStream) {
    let (stdout, stdout_client) = tokio::io::duplex(1 << 16);
    let (stderr, stderr_client) = tokio::io::duplex(1 << 16);
    let io = ExecIo { stdin: None, stdout: Some(Box::new(stdout)), stderr: Some(Box::new(stderr)), tty: false, resize: None };
    (io, stdout_client, stderr_client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_streams_output_and_returns_the_exit_code() {
    let node = Node::new().await;
    let mut config = node.config("app", "logger", &[]);
    config.env = vec![("MODE".into(), "test".into())];
    let id = node.start(&config).await;
    wait_for_log(&log_path(&config), "log line 1", Duration::from_secs(20)).await;

    let (io, mut stdout, _stderr) = piped();
    let code = node.runtime.exec(&id, vec!["logger".into(), "2".into(), "7".into()], io).await.expect("exec");
    assert_eq!(code, 7);
    let mut out = String::new();
    stdout.read_to_string(&mut out).await.expect("stdout");
    assert_eq!(out, "log line 1\nlog line 2\n");

    // Exec output does not reach the container's log.
    let (io, _stdout, _stderr) = piped();
    assert_eq!(node.runtime.exec(&id, vec!["logger".into(), "1".into()], io).await.expect("exec"), 0);

    node.runtime.stop_container(&id, Duration::ZERO).await.expect("stop");
    let (io, _stdout, _stderr) = piped();
    assert!(node.runtime.exec(&id, vec!["logger".into()], io).await.is_err(), "no exec into a stopped container");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_ends_when_its_container_stops() {
    let node = Node::new().await;
    let config = node.config("app", "logger", &[]);
    let id = node.start(&config).await;
    let (io, _stdout, _stderr) = piped();
    let runtime = &node.runtime;
    let exec = runtime.exec(&id, vec!["logger".into()], io);
    let stop = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        runtime.stop_container(&id, Duration::ZERO).await.expect("stop");
    };
    let (code, ()) = tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(exec, stop) }).await.expect("in time");
    assert_eq!(code.expect("exec"), 137);
}
