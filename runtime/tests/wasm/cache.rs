//! Compiled modules survive the runtime: a second one loads them from disk.

use runtime::cri::ExitReason;

use crate::fixture::Node;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_runtime_instantiates_from_the_disk_cache() {
    let first = Node::new().await;
    let exit = first.run(&first.config("hello", "hello", &[])).await;
    assert_eq!(exit.reason, ExitReason::Completed);
    assert_eq!(first.runtime.cache_counters().compiles, 1);

    let Node { runtime, dir, .. } = first;
    drop(runtime);
    let second = Node::on(dir).await;
    let exit = second.run(&second.config("hello", "hello", &[])).await;
    assert_eq!(exit.reason, ExitReason::Completed);
    let counters = second.runtime.cache_counters();
    assert_eq!((counters.compiles, counters.disk_hits), (0, 1), "{counters:?}");

    // The same image again comes from memory.
    second.run(&second.config("again", "hello", &[])).await;
    assert_eq!(second.runtime.cache_counters().memory_hits, 1);
}
