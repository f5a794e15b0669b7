//! Output, arguments, env, mounts, exit codes and stops.

use std::time::{Duration, Instant};

use runtime::cri::{ContainerRuntime, ContainerState, ExitReason};
use runtime::logs::{read_log, LogQuery};
use futures::StreamExt;

use crate::fixture::{cpu_heavy, log_path, log_text, wait_for_log, Node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_prints_args_env_and_a_mounted_file() {
    let node = Node::new().await;
    let config_dir = node.volume("config", "/config", true);
    std::fs::write(config_dir.host_path.join("greeting"), "hi from a configMap").expect("file");
    let mut config = node.config("hello", "hello", &["/config/greeting"]);
    config.env = vec![("GREETING".into(), "bonjour".into())];
    config.mounts = vec![config_dir];
    let exit = node.run(&config).await;
    assert_eq!((exit.code, exit.reason), (0, ExitReason::Completed), "{exit:?}");
    let text = log_text(&log_path(&config));
    for expected in ["hello from wasm", "arg[0]=hello", "arg[1]=/config/greeting", "env GREETING=bonjour", "hi from a configMap"] {
        assert!(text.contains(expected), "{expected:?} missing from {text}");
    }
    // The reader gives the same text to `kubectl logs`.
    let read: Vec<_> = read_log(node.runtime.log_hub(), &log_path(&config), LogQuery::default())
        .await
        .expect("log")
        .map(|chunk| chunk.expect("chunk"))
        .collect()
        .await;
    assert_eq!(String::from_utf8(read.concat()).expect("utf-8"), text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_traps() {
    let node = Node::new().await;
    let mut hello = node.config("exit3", "hello", &[]);
    hello.env = vec![("EXIT_CODE".into(), "3".into())];
    let exit = node.run(&hello).await;
    assert_eq!((exit.code, exit.reason), (3, ExitReason::Error));

    let exit = node.run(&node.config("crasher", "crasher", &[])).await;
    assert_eq!((exit.code, exit.reason), (1, ExitReason::Error));

    let trap = node.config("trapper", "crasher", &["trap"]);
    let exit = node.run(&trap).await;
    assert_eq!((exit.code, exit.reason), (134, ExitReason::Error));
    assert!(exit.message.as_deref().is_some_and(|m| m.contains("unreachable")), "{exit:?}");
    assert!(log_text(&log_path(&trap)).contains("crasher: about to trap"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_mount_refuses_writes_and_an_empty_dir_persists_across_runs() {
    let node = Node::new().await;
    let mut read_only = node.config("ro", "emptydir", &["/data"]);
    read_only.mounts = vec![node.volume("ro", "/data", true)];
    let exit = node.run(&read_only).await;
    assert_eq!((exit.code, exit.reason), (1, ExitReason::Error));
    assert!(log_text(&log_path(&read_only)).contains("cannot write /data/counter"));

    let volume = node.volume("scratch", "/data", false);
    for restart in 0..2 {
        let mut config = node.config("counter", "emptydir", &["/data"]);
        config.mounts = vec![volume.clone()];
        config.log_path = config.log_path.with_file_name(format!("{restart}.log"));
        let exit = node.run(&config).await;
        assert_eq!(exit.reason, ExitReason::Completed, "{exit:?}");
        assert!(log_text(&config.log_path).contains(&format!("count {restart}")), "run {restart}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_a_sleeping_and_a_spinning_guest_quickly() {
    let _alone = cpu_heavy().await;
    let node = Node::new().await;
    let sleeper = node.config("sleeper", "logger", &[]);
    let spinner = node.config("spinner", "loop", &[]);
    let sleeper_id = node.start(&sleeper).await;
    let spinner_id = node.start(&spinner).await;
    wait_for_log(&log_path(&sleeper), "log line 1", Duration::from_secs(20)).await;
    wait_for_log(&log_path(&spinner), "loop: spinning", Duration::from_secs(20)).await;
    for id in [&sleeper_id, &spinner_id] {
        let started = Instant::now();
        node.runtime.stop_container(id, Duration::from_secs(30)).await.expect("stop");
        let took = started.elapsed();
        assert!(took < Duration::from_millis(100), "stop took {took:?}");
        let state = node.runtime.container_state(id).await.expect("state");
        assert!(matches!(state, ContainerState::Exited { code: 137, reason: ExitReason::Killed, .. }), "{state:?}");
    }
    // Stopping the sandbox of a stopped container is fine, and idempotent.
    node.runtime.stop_sandbox(&node.sandbox).await.expect("stop sandbox");
    node.runtime.remove_sandbox(&node.sandbox).await.expect("remove sandbox");
    node.runtime.remove_sandbox(&node.sandbox).await.expect("remove again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_sandbox_stops_every_container() {
    let node = Node::new().await;
    let a = node.start(&node.config("a", "logger", &[])).await;
    let b = node.start(&node.config("b", "loop", &[])).await;
    tokio::time::timeout(Duration::from_secs(5), node.runtime.stop_sandbox(&node.sandbox)).await.expect("in time").expect("stop");
    for id in [a, b] {
        let state = node.runtime.container_state(&id).await.expect("state");
        assert!(matches!(state, ContainerState::Exited { reason: ExitReason::Killed, .. }), "{state:?}");
    }
}
