//! `limits.memory`, `limits.cpu` and `wasmkube.io/fuel` on real guests.

use std::time::Duration;

use runtime::cri::{ContainerRuntime, ContainerState, ExitReason, Limits};

use crate::fixture::{cpu_heavy, last_counter, log_path, log_text, wait_for_log, Node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memhog_past_16_mib_is_oom_killed_while_its_neighbour_runs_on() {
    let node = Node::new().await;
    let neighbour = node.config("neighbour", "logger", &[]);
    let neighbour_id = node.start(&neighbour).await;
    let mut hog = node.config("hog", "memhog", &["1", "64"]);
    hog.limits = Limits { memory_bytes: Some(16 << 20), ..Limits::default() };
    let exit = node.run(&hog).await;
    assert_eq!((exit.code, exit.reason), (137, ExitReason::OomKilled), "{exit:?}");
    // The guest saw malloc fail and said so before exiting: the reason came from the limiter.
    let text = log_text(&log_path(&hog));
    assert!(text.contains("malloc failed after"), "{text}");
    assert!(!text.contains("allocated 16 MiB"), "{text}");

    wait_for_log(&log_path(&neighbour), "log line 2", Duration::from_secs(20)).await;
    let state = node.runtime.container_state(&neighbour_id).await.expect("state");
    assert!(matches!(state, ContainerState::Running { .. }), "{state:?}");
    let stats = node.runtime.stats(&neighbour_id).await.expect("stats");
    assert!(stats.memory_bytes > 0 && stats.fuel_consumed.is_none(), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200m_burner_runs_at_a_fifth_of_an_unlimited_one() {
    let _alone = cpu_heavy().await;
    let node = Node::new().await;
    let free = node.config("free", "burner", &[]);
    let mut limited = node.config("limited", "burner", &[]);
    limited.limits = Limits { cpu_millis: Some(200), ..Limits::default() };
    let free_id = node.start(&free).await;
    let limited_id = node.start(&limited).await;
    let window = Duration::from_secs(3);
    tokio::time::sleep(window).await;
    let free_stats = node.runtime.stats(&free_id).await.expect("stats");
    let free_rounds = last_counter(&log_path(&free), "progress ");
    let limited_rounds = last_counter(&log_path(&limited), "progress ");
    let state = node.runtime.container_state(&limited_id).await.expect("state");
    assert!(matches!(state, ContainerState::Running { .. }), "throttled, not killed: {state:?}");
    node.runtime.stop_sandbox(&node.sandbox).await.expect("stop");

    // The unlimited burner's rate per second of a whole core (its CPU time, so that other load on
    // the machine does not skew it), against the limited one's rate per second of wall time.
    let free_rate = free_rounds as f64 / Duration::from_nanos(free_stats.cpu_nanos).as_secs_f64();
    let limited_rate = limited_rounds as f64 / window.as_secs_f64();
    let ratio = limited_rate / free_rate;
    assert!((0.15..=0.25).contains(&ratio), "ratio {ratio:.3} (free {free_rounds} rounds, limited {limited_rounds})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fuel_budget_ends_the_loop_at_the_same_point_every_time() {
    let node = Node::new().await;
    let budget = 20_000_000;
    let mut outcomes = Vec::new();
    for run in 0..2 {
        let mut config = node.config(&format!("loop{run}"), "loop", &[]);
        config.limits = Limits { fuel: Some(budget), ..Limits::default() };
        let id = node.start(&config).await;
        let exit = node.wait(&id).await;
        assert_eq!((exit.code, exit.reason), (137, ExitReason::FuelExhausted), "{exit:?}");
        let stats = node.runtime.stats(&id).await.expect("stats");
        assert_eq!(stats.fuel_consumed, Some(budget));
        outcomes.push(exit.message);
    }
    assert_eq!(outcomes[0], outcomes[1]);
    assert_eq!(outcomes[0].as_deref(), Some("fuel budget of 20000000 exhausted after 15 bytes of output"));
}
