//! The scheduler and the controller manager act only while holding their
//! Leases in kube-system; a restarted server is the same candidate and takes
//! them back at once instead of waiting for them to expire.

use std::time::{Duration, Instant};

use crate::harness::{stdout, wait_for, Server};

fn holder(s: &Server, lease: &str) -> String {
    stdout(&s.kubectl(&["get", "lease", lease, "-n", "kube-system", "-o", "jsonpath={.spec.holderIdentity}"]))
}

#[test]
fn control_loops_hold_their_leases_and_take_them_back_after_a_kill() {
    let mut s = Server::start_with_agent();
    for lease in ["kube-scheduler", "kube-controller-manager"] {
        let who = wait_for(&format!("a holder of {lease}"), Duration::from_secs(30), || {
            let h = holder(&s, lease);
            (!h.is_empty()).then_some(h)
        });
        assert!(who.ends_with(&s.url.trim_start_matches("https://").to_string()), "{lease} held by this server: {who}");
    }
    let before = holder(&s, "kube-controller-manager");

    // kill -9: the Leases are not given back, and have 15 s left to run.
    s.restart();
    let restarted = Instant::now();
    s.kubectl_ok(&["create", "deployment", "again", "--image=local/logger:1.0", "--replicas=1"]);
    wait_for("the restarted server's controllers and scheduler to act", Duration::from_secs(30), || {
        let nodes = stdout(&s.kubectl(&["get", "pods", "-l", "app=again", "-o", "jsonpath={.items[*].spec.nodeName}"]));
        (!nodes.is_empty()).then_some(())
    });
    assert!(
        restarted.elapsed() < Duration::from_secs(10),
        "the same server took its Leases back at once, not after their 15 s expiry ({:?})",
        restarted.elapsed()
    );
    assert_eq!(holder(&s, "kube-controller-manager"), before);
}
