//! WASI preview 2 command components (`hello-p2`) get what core modules get: argv, env,
//! mounts, logs, exit codes, the memory limit, fuel, stop, exec and the disk cache.

use std::time::{Duration, Instant};

use runtime::cri::{ContainerRuntime, ExecIo, ExitReason, Limits};
use tokio::io::AsyncReadExt;

use crate::fixture::{log_path, log_text, wait_for_log, Node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_prints_args_env_and_a_mounted_file() {
    let node = Node::new().await;
    let config_dir = node.volume("config", "/config", true);
    std::fs::write(config_dir.host_path.join("greeting"), "hi from a configMap").expect("file");
    let mut config = node.config("p2", "hello-p2", &["cat", "/config/greeting"]);
    config.env = vec![("GREETING".into(), "bonjour".into())];
    config.mounts = vec![config_dir];
    let exit = node.run(&config).await;
    assert_eq!((exit.code, exit.reason), (0, ExitReason::Completed), "{exit:?}");
    let text = log_text(&log_path(&config));
    for expected in [
        "hello from a wasi preview 2 component",
        "arg[0]=hello-p2",
        "arg[2]=/config/greeting",
        "env GREETING=bonjour",
        "file /config/greeting: hi from a configMap",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_of_a_component() {
    let node = Node::new().await;
    // Built with the preview 1 adapter, `proc_exit(3)` becomes `wasi:cli/exit.exit(err)`, which
    // carries no code: 1, as in `wasmtime run`. (`exit-with-code` keeps it: see the unit tests.)
    let exit = node.run(&node.config("exit3", "hello-p2", &["exit", "3"])).await;
    assert_eq!((exit.code, exit.reason), (1, ExitReason::Error), "{exit:?}");
    let exit = node.run(&node.config("exit0", "hello-p2", &["exit", "0", "cat", "/nowhere"])).await;
    assert_eq!((exit.code, exit.reason), (0, ExitReason::Completed), "{exit:?}");
    let missing = node.config("missing", "hello-p2", &["cat", "/nowhere"]);
    let exit = node.run(&missing).await;
    assert_eq!((exit.code, exit.reason), (1, ExitReason::Error), "{exit:?}");
    assert!(log_text(&log_path(&missing)).contains("cannot open /nowhere"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_volumes_refuse_writes_and_writable_ones_keep_them() {
    let node = Node::new().await;
    let mut read_only = node.config("ro", "hello-p2", &["write", "/data/note", "x"]);
    read_only.mounts = vec![node.volume("ro", "/data", true)];
    assert_eq!(node.run(&read_only).await.code, 1);
    assert!(log_text(&log_path(&read_only)).contains("cannot write /data/note"));

    let volume = node.volume("rw", "/data", false);
    let mut writable = node.config("rw", "hello-p2", &["write", "/data/note", "kept"]);
    writable.mounts = vec![volume.clone()];
    assert_eq!(node.run(&writable).await.reason, ExitReason::Completed);
    assert_eq!(std::fs::read_to_string(volume.host_path.join("note")).expect("written"), "kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_limit_and_the_fuel_budget_end_a_component() {
    let node = Node::new().await;
    let mut hog = node.config("hog", "hello-p2", &["alloc", "64"]);
    hog.limits = Limits { memory_bytes: Some(16 << 20), ..Limits::default() };
    let exit = node.run(&hog).await;
    assert_eq!((exit.code, exit.reason), (137, ExitReason::OomKilled), "{exit:?}");
    // No "malloc failed" line: the adapter itself needs memory to write it, and traps.
    assert!(exit.message.is_some_and(|m| m.contains("16777216")));

    let mut metered = node.config("metered", "hello-p2", &["alloc", "64"]);
    metered.limits = Limits { fuel: Some(5_000_000), ..Limits::default() };
    let exit = node.run(&metered).await;
    assert_eq!((exit.code, exit.reason), (137, ExitReason::FuelExhausted), "{exit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_a_new_instance_and_stop_ends_a_sleeping_component() {
    let node = Node::new().await;
    let config_dir = node.volume("config", "/config", true);
    std::fs::write(config_dir.host_path.join("greeting"), "from exec").expect("file");
    let mut config = node.config("sleeper", "hello-p2", &["sleep", "3600"]);
    config.mounts = vec![config_dir];
    let id = node.start(&config).await;
    wait_for_log(&log_path(&config), "arg[2]=3600", Duration::from_secs(20)).await;

    let (stdout, mut stdout_client) = tokio::io::duplex(1 << 16);
    let io = ExecIo { stdin: None, stdout: Some(Box::new(stdout)), stderr: None, tty: false, resize: None };
    let argv = ["hello-p2", "cat", "/config/greeting", "cat", "/nowhere"].map(String::from).to_vec();
    assert_eq!(node.runtime.exec(&id, argv, io).await.expect("exec"), 1);
    let mut out = String::new();
    stdout_client.read_to_string(&mut out).await.expect("stdout");
    assert!(out.contains("arg[0]=hello-p2") && out.contains("file /config/greeting: from exec"), "{out}");
    assert!(!log_text(&log_path(&config)).contains("from exec"), "exec output stays out of the log");

    let stats = node.runtime.stats(&id).await.expect("stats");
    assert!(stats.cpu_nanos > 0 && stats.memory_bytes > 0, "{stats:?}");
    let asked = Instant::now();
    node.runtime.stop_container(&id, Duration::from_secs(30)).await.expect("stop");
    assert!(asked.elapsed() < Duration::from_secs(1), "took {:?}", asked.elapsed());
    assert_eq!(node.wait(&id).await.reason, ExitReason::Killed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_runtime_loads_the_compiled_component_from_disk() {
    let first = Node::new().await;
    assert_eq!(first.run(&first.config("p2", "hello-p2", &[])).await.reason, ExitReason::Completed);
    assert_eq!(first.runtime.cache_counters().compiles, 1);
    let Node { runtime, dir, .. } = first;
    drop(runtime);
    let second = Node::on(dir).await;
    assert_eq!(second.run(&second.config("p2", "hello-p2", &[])).await.reason, ExitReason::Completed);
    let counters = second.runtime.cache_counters();
    assert_eq!((counters.compiles, counters.disk_hits), (0, 1), "{counters:?}");
}
