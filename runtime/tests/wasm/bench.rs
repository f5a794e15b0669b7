//! The benchmark entry points run and report plausible figures.

use std::time::Duration;

use runtime::wasm::bench::{burner_cpu_time, instantiate_cached, BurnMode};

use crate::fixture::{cpu_heavy, sample_bytes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instantiation_from_a_cached_instance_pre_takes_microseconds() {
    let timing = instantiate_cached(&sample_bytes("logger"), 200, Some(8)).await.expect("bench");
    assert!(timing.median < Duration::from_millis(2), "{timing:?}");
    assert!(timing.median <= timing.p99 && timing.p99 <= timing.max);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_burner_runs_in_every_mode() {
    let _alone = cpu_heavy().await;
    let burner = sample_bytes("burner");
    for mode in [BurnMode::Plain, BurnMode::Epochs, BurnMode::Fuel] {
        let cpu = burner_cpu_time(&burner, 20, mode).await.expect("burner");
        assert!(cpu > Duration::ZERO && cpu < Duration::from_secs(10), "{mode:?}: {cpu:?}");
    }
}
