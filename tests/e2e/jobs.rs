//! Jobs and CronJobs on the embedded node, driven by the real kubectl: a Job
//! of 5 completions that never runs more than 2 pods at once and completes
//! (`kubectl wait --for=condition=complete`), an Indexed Job, the backoff
//! limit, the active deadline, `ttlSecondsAfterFinished`, and CronJobs (a
//! Job made by hand with `kubectl create job --from=cronjob/...`, a
//! scheduled run, concurrencyPolicy Forbid).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::harness::{stdout, wait_for, Server};

fn job_manifest(name: &str, image: &str, spec: &str) -> String {
    format!(
        r#"
apiVersion: batch/v1
kind: Job
metadata: {{ name: {name} }}
spec:
{spec}
  template:
    spec:
      restartPolicy: Never
      containers:
      - {{ name: main, image: "{image}", imagePullPolicy: Never }}
"#
    )
}

fn field(s: &Server, resource: &str, jsonpath: &str) -> String {
    stdout(&s.kubectl(&["get", resource, "-o", &format!("jsonpath={jsonpath}")]))
}

/// Phases of the pods labelled `job-name=<job>` that are not being deleted.
fn live_pod_phases(s: &Server, job: &str) -> Vec<String> {
    let out = stdout(&s.kubectl(&[
        "get",
        "pods",
        "-l",
        &format!("job-name={job}"),
        "-o",
        r#"jsonpath={range .items[*]}{.status.phase}/{.metadata.deletionTimestamp}{"\n"}{end}"#,
    ]));
    out.lines().filter(|l| l.ends_with('/')).map(|l| l.trim_end_matches('/').to_string()).collect()
}

#[test]
fn completions_run_at_most_parallelism_pods_at_once_and_complete() {
    let s = Arc::new(Server::start_with_agent());
    s.node_name();
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &job_manifest("five", "local/hello:1.0", "  completions: 5\n  parallelism: 2"));

    // A watcher samples the running pods the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (s, stop) = (s.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut most = 0;
            while !stop.load(Ordering::Relaxed) {
                let running = live_pod_phases(&s, "five").iter().filter(|p| matches!(p.as_str(), "" | "Pending" | "Running")).count();
                most = most.max(running);
                let active: usize = field(&s, "job/five", "{.status.active}").parse().unwrap_or(0);
                most = most.max(active);
            }
            most
        })
    };
    s.kubectl_ok(&["wait", "--for=condition=complete", "job/five", "--timeout=120s"]);
    stop.store(true, Ordering::Relaxed);
    let most = watcher.join().expect("watcher");
    assert!(most <= 2, "at most 2 pods at once, saw {most}");
    assert!(most >= 1, "the watcher saw the pods run");

    assert_eq!(field(&s, "job/five", "{.status.succeeded}"), "5");
    assert_eq!(field(&s, "job/five", "{.status.failed}"), "0");
    assert!(!field(&s, "job/five", "{.status.completionTime}").is_empty());
    let pods = field(&s, "pods", "{range .items[*]}{.status.phase} {.metadata.finalizers}{\"\\n\"}{end}");
    let phases: Vec<&str> = pods.lines().collect();
    assert_eq!(phases.len(), 5, "{pods}");
    assert!(phases.iter().all(|p| p.starts_with("Succeeded") && !p.contains("job-tracking")), "all succeeded, none still tracked: {pods}");
    let labels = field(&s, "pods", "{.items[0].metadata.labels}");
    for label in ["batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name", "controller-uid", "job-name"] {
        assert!(labels.contains(label), "{label} in {labels}");
    }
    let describe = s.kubectl_ok(&["describe", "job", "five"]);
    assert!(describe.contains("SuccessfulCreate") && describe.contains("Completed"), "{describe}");
    let conditions = field(&s, "job/five", "{.status.conditions[*].type}");
    assert!(conditions.contains("SuccessCriteriaMet") && conditions.contains("Complete"), "{conditions}");
}

#[test]
fn indexed_job_gives_each_pod_its_index() {
    let s = Server::start_with_agent();
    s.node_name();
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &job_manifest("idx", "local/hello:1.0", "  completions: 3\n  parallelism: 3\n  completionMode: Indexed"));
    s.kubectl_ok(&["wait", "--for=condition=complete", "job/idx", "--timeout=120s"]);
    assert_eq!(field(&s, "job/idx", "{.status.completedIndexes}"), "0-2");
    let names = field(&s, "pods", "{.items[*].metadata.name}");
    for index in 0..3 {
        let pod = names.split_whitespace().find(|n| n.starts_with(&format!("idx-{index}-"))).unwrap_or_else(|| panic!("a pod for index {index} in {names}"));
        let logs = s.kubectl_ok(&["logs", pod]);
        assert!(logs.contains(&format!("env JOB_COMPLETION_INDEX={index}")), "{logs}");
    }
}

#[test]
fn a_suspended_job_starts_nothing_until_resumed() {
    let s = Server::start_with_agent();
    s.node_name();
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &job_manifest("later", "local/hello:1.0", "  suspend: true\n  completions: 2"));
    wait_for("the Suspended condition", Duration::from_secs(30), || {
        (field(&s, "job/later", r#"{.status.conditions[?(@.type=="Suspended")].status}"#) == "True").then_some(())
    });
    assert!(live_pod_phases(&s, "later").is_empty(), "no pods while suspended");
    assert!(field(&s, "job/later", "{.status.startTime}").is_empty());
    s.kubectl_ok(&["patch", "job", "later", "--type=merge", "-p", r#"{"spec":{"suspend":false}}"#]);
    s.kubectl_ok(&["wait", "--for=condition=complete", "job/later", "--timeout=90s"]);
    assert_eq!(field(&s, "job/later", r#"{.status.conditions[?(@.type=="Suspended")].reason}"#), "JobResumed");
    assert_eq!(field(&s, "job/later", "{.status.succeeded}"), "2");
}

#[test]
fn crashing_pods_exhaust_the_backoff_limit() {
    let s = Server::start_with_agent();
    s.node_name();
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &job_manifest("crash", "local/crasher:1.0", "  backoffLimit: 1"));
    s.kubectl_ok(&["wait", "--for=condition=failed", "job/crash", "--timeout=120s"]);
    let reason = field(&s, "job/crash", r#"{.status.conditions[?(@.type=="Failed")].reason}"#);
    assert_eq!(reason, "BackoffLimitExceeded");
    assert_eq!(field(&s, "job/crash", "{.status.failed}"), "2", "one try and one retry");
    let describe = s.kubectl_ok(&["describe", "job", "crash"]);
    assert!(describe.contains("BackoffLimitExceeded"), "{describe}");
}

#[test]
fn the_active_deadline_stops_a_running_job() {
    let s = Server::start_with_agent();
    s.node_name();
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &job_manifest("slow", "local/logger:1.0", "  parallelism: 2\n  activeDeadlineSeconds: 5"));
    s.kubectl_ok(&["wait", "--for=condition=failed", "job/slow", "--timeout=60s"]);
    let reason = field(&s, "job/slow", r#"{.status.conditions[?(@.type=="Failed")].reason}"#);
    assert_eq!(reason, "DeadlineExceeded");
    wait_for("the job's pods stopped", Duration::from_secs(60), || {
        live_pod_phases(&s, "slow").iter().all(|p| p != "Running" && p != "Pending").then_some(())
    });
    assert_eq!(field(&s, "job/slow", "{.status.active}"), "0");
    assert_eq!(field(&s, "job/slow", "{.status.failed}"), "2", "the stopped pods count as failed, as upstream");
    let describe = s.kubectl_ok(&["describe", "job", "slow"]);
    assert!(describe.contains("DeadlineExceeded") && describe.contains("SuccessfulDelete"), "{describe}");
}

#[test]
fn a_finished_job_with_ttl_zero_is_deleted() {
    let s = Server::start_with_agent();
    s.node_name();
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &job_manifest("brief", "local/hello:1.0", "  ttlSecondsAfterFinished: 0"));
    wait_for("job brief deleted after finishing", Duration::from_secs(90), || {
        let out = s.kubectl(&["get", "job", "brief"]);
        String::from_utf8_lossy(&out.stderr).contains("NotFound").then_some(())
    });
}

fn cronjob_manifest(name: &str, image: &str, policy: &str) -> String {
    format!(
        r#"
apiVersion: batch/v1
kind: CronJob
metadata: {{ name: {name} }}
spec:
  schedule: "*/1 * * * *"
  concurrencyPolicy: {policy}
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - {{ name: main, image: "{image}", imagePullPolicy: Never }}
"#
    )
}

/// Names of the Jobs the CronJob started on its schedule (`<cronjob>-<minutes>`).
fn scheduled_jobs(s: &Server, cronjob: &str) -> Vec<String> {
    let names = field(s, "jobs", "{.items[*].metadata.name}");
    let prefix = format!("{cronjob}-");
    names.split_whitespace().filter(|n| n.strip_prefix(&prefix).is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit()))).map(str::to_string).collect()
}

#[test]
fn cronjob_runs_by_hand_and_on_schedule() {
    let s = Server::start_with_agent();
    s.node_name();
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &cronjob_manifest("tick", "local/hello:1.0", "Allow"));
    // By hand first: independent of the clock.
    s.kubectl_ok(&["create", "job", "manual", "--from=cronjob/tick"]);
    s.kubectl_ok(&["wait", "--for=condition=complete", "job/manual", "--timeout=90s"]);
    let owner = field(&s, "job/manual", "{.metadata.ownerReferences[0].kind}");
    assert_eq!(owner, "CronJob");

    // Then on the schedule: within the next minute (and a margin).
    let job = wait_for("a scheduled job", Duration::from_secs(80), || scheduled_jobs(&s, "tick").into_iter().next());
    s.kubectl_ok(&["wait", "--for=condition=complete", &format!("job/{job}"), "--timeout=90s"]);
    let scheduled = field(&s, &format!("job/{job}"), "{.metadata.annotations.batch\\.kubernetes\\.io/cronjob-scheduled-timestamp}");
    assert!(scheduled.ends_with(":00Z") || scheduled.contains(":00+") || scheduled.contains(":00-"), "{scheduled}");
    assert!(!field(&s, "cronjob/tick", "{.status.lastScheduleTime}").is_empty());
    wait_for("lastSuccessfulTime", Duration::from_secs(30), || (!field(&s, "cronjob/tick", "{.status.lastSuccessfulTime}").is_empty()).then_some(()));
    let describe = s.kubectl_ok(&["describe", "cronjob", "tick"]);
    assert!(describe.contains("SuccessfulCreate"), "{describe}");
}

#[test]
fn cronjob_forbid_skips_while_a_job_runs() {
    let s = Server::start_with_agent();
    s.node_name();
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &cronjob_manifest("busy", "local/logger:1.0", "Forbid"));
    let first = wait_for("a scheduled job", Duration::from_secs(80), || scheduled_jobs(&s, "busy").into_iter().next());
    let active = wait_for("the job listed as active", Duration::from_secs(20), || {
        let active = field(&s, "cronjob/busy", "{.status.active[*].name}");
        (!active.is_empty()).then_some(active)
    });
    assert_eq!(active, first);
    // The next schedule time passes while the first job still runs.
    wait_for("JobAlreadyActive", Duration::from_secs(80), || {
        s.kubectl_ok(&["describe", "cronjob", "busy"]).contains("JobAlreadyActive").then_some(())
    });
    assert_eq!(scheduled_jobs(&s, "busy"), [first]);
}
