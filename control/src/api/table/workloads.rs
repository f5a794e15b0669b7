//! Printers for the apps/v1 workloads and ReplicationControllers.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{PodTemplateSpec, ReplicationController};
use serde_json::Value;

use super::format::{age, container_cells, decode, format_label_selector, format_labels, name_of};
use super::printer::{cells, Column, Printer, Row};
use crate::api::selectors::LabelSelector;

const CONTAINERS: Column = Column::string("Containers", "Names of each container in the template.").wide();
const IMAGES: Column = Column::string("Images", "Images referenced by each container in the template.").wide();
const SELECTOR: Column =
    Column::string("Selector", "A label query over pods that should match the replica count.").wide();

/// The Containers and Images cells of a pod template.
fn template_cells(template: Option<&PodTemplateSpec>) -> (String, String) {
    let containers = template.and_then(|t| t.spec.as_ref()).map(|s| s.containers.as_slice()).unwrap_or_default();
    container_cells(containers)
}

pub const DEPLOYMENTS: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Ready", "Number of the pod with ready state"),
        Column::string("Up-to-date", "Total number of non-terminating pods targeted by this deployment that have the desired template spec."),
        Column::string("Available", "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment."),
        Column::AGE,
        CONTAINERS,
        IMAGES,
        Column::string("Selector", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.").wide(),
    ],
    row: deployment_row,
};

fn deployment_row(obj: &Value, now: Timestamp) -> Row {
    let d: Deployment = decode(obj);
    let spec = d.spec.unwrap_or_default();
    let status = d.status.unwrap_or_default();
    // Upstream prints the selector's string form here, empty when it selects
    // everything, rather than FormatLabelSelector's `<none>`.
    let selector = match LabelSelector::from_k8s(&spec.selector) {
        Ok(s) => s.to_string(),
        Err(_) => "<invalid>".to_string(),
    };
    let (names, images) = template_cells(Some(&spec.template));
    cells![
        name_of(obj),
        format!("{}/{}", status.ready_replicas.unwrap_or(0), spec.replicas.unwrap_or(0)),
        status.updated_replicas.unwrap_or(0),
        status.available_replicas.unwrap_or(0),
        age(&d.metadata, now),
        names,
        images,
        selector,
    ]
    .into()
}

pub const REPLICA_SETS: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::integer("Desired", "Replicas is the number of desired pods."),
        Column::integer("Current", "Replicas is the most recently observed number of non-terminating pods."),
        Column::integer("Ready", "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition."),
        Column::AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    row: replica_set_row,
};

fn replica_set_row(obj: &Value, now: Timestamp) -> Row {
    let rs: ReplicaSet = decode(obj);
    let spec = rs.spec.unwrap_or_default();
    let status = rs.status.unwrap_or_default();
    let (names, images) = template_cells(spec.template.as_ref());
    cells![
        name_of(obj),
        spec.replicas.unwrap_or(0),
        status.replicas,
        status.ready_replicas.unwrap_or(0),
        age(&rs.metadata, now),
        names,
        images,
        format_label_selector(Some(&spec.selector)),
    ]
    .into()
}

pub const REPLICATION_CONTROLLERS: Printer = Printer {
    columns: REPLICA_SETS.columns,
    row: replication_controller_row,
};

fn replication_controller_row(obj: &Value, now: Timestamp) -> Row {
    let rc: ReplicationController = decode(obj);
    let spec = rc.spec.unwrap_or_default();
    let status = rc.status.unwrap_or_default();
    let (names, images) = template_cells(spec.template.as_ref());
    cells![
        name_of(obj),
        spec.replicas.unwrap_or(0),
        status.replicas,
        status.ready_replicas.unwrap_or(0),
        age(&rc.metadata, now),
        names,
        images,
        format_labels(spec.selector.as_ref()),
    ]
    .into()
}

pub const STATEFUL_SETS: Printer = Printer {
    columns: &[Column::NAME, Column::string("Ready", "Number of the pod with ready state"), Column::AGE, CONTAINERS, IMAGES],
    row: stateful_set_row,
};

fn stateful_set_row(obj: &Value, now: Timestamp) -> Row {
    let sts: StatefulSet = decode(obj);
    let spec = sts.spec.unwrap_or_default();
    let status = sts.status.unwrap_or_default();
    let (names, images) = template_cells(Some(&spec.template));
    cells![
        name_of(obj),
        format!("{}/{}", status.ready_replicas.unwrap_or(0), spec.replicas.unwrap_or(0)),
        age(&sts.metadata, now),
        names,
        images,
    ]
    .into()
}

pub const DAEMON_SETS: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::integer("Desired", "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod)."),
        Column::integer("Current", "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod."),
        Column::integer("Ready", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition."),
        Column::integer("Up-to-date", "The total number of nodes that are running updated daemon pod"),
        Column::integer("Available", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)"),
        Column::string("Node Selector", "NodeSelector is a selector which must be true for the pod to fit on a node."),
        Column::AGE,
        CONTAINERS,
        IMAGES,
        Column::string("Selector", "A label query over pods that are managed by the daemon set.").wide(),
    ],
    row: daemon_set_row,
};

fn daemon_set_row(obj: &Value, now: Timestamp) -> Row {
    let ds: DaemonSet = decode(obj);
    let spec = ds.spec.unwrap_or_default();
    let status = ds.status.unwrap_or_default();
    let (names, images) = template_cells(Some(&spec.template));
    let node_selector = spec.template.spec.as_ref().and_then(|s| s.node_selector.as_ref());
    cells![
        name_of(obj),
        status.desired_number_scheduled,
        status.current_number_scheduled,
        status.number_ready,
        status.updated_number_scheduled.unwrap_or(0),
        status.number_available.unwrap_or(0),
        format_labels(node_selector),
        age(&ds.metadata, now),
        names,
        images,
        format_label_selector(Some(&spec.selector)),
    ]
    .into()
}

pub const CONTROLLER_REVISIONS: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Controller", "Controller of the object"),
        Column::string("Revision", "Revision indicates the revision of the state represented by Data."),
        Column::AGE,
    ],
    row: controller_revision_row,
};

fn controller_revision_row(obj: &Value, now: Timestamp) -> Row {
    let cr: ControllerRevision = decode(obj);
    // `statefulset.apps/web`: the lower-cased group kind of the controller.
    let controller = cr
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .map(|r| {
            let group = r.api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or_default();
            let kind = if group.is_empty() { r.kind.clone() } else { format!("{}.{group}", r.kind) };
            format!("{}/{}", kind.to_lowercase(), r.name)
        })
        .unwrap_or_else(|| "<none>".to_string());
    cells![name_of(obj), controller, cr.revision, age(&cr.metadata, now)].into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn deployment_cells() {
        let d = json!({"metadata": {"name": "web", "creationTimestamp": "2024-05-01T09:00:00Z"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "busybox"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        assert_eq!(
            deployment_row(&d, now()).cells,
            vec![json!("web"), json!("2/3"), json!(3), json!(2), json!("3h"), json!("a,b"), json!("nginx,busybox"), json!("app=web")]
        );
        let fresh = json!({"metadata": {"name": "new"}, "spec": {"selector": {}, "template": {}}});
        let cells = deployment_row(&fresh, now()).cells;
        assert_eq!(cells[1], json!("0/0"));
        assert_eq!(cells[4], json!("<unknown>"));
        assert_eq!(cells[7], json!(""));
    }

    #[test]
    fn replica_set_and_rc_cells() {
        let rs = json!({"metadata": {"name": "web-1"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": 2, "readyReplicas": 1}});
        assert_eq!(&replica_set_row(&rs, now()).cells[..4], &[json!("web-1"), json!(2), json!(2), json!(1)]);
        let rc = json!({"metadata": {"name": "old"}, "spec": {"selector": {"app": "old"}}, "status": {"replicas": 0}});
        assert_eq!(replication_controller_row(&rc, now()).cells[7], json!("app=old"));
    }

    #[test]
    fn stateful_and_daemon_sets() {
        let sts = json!({"metadata": {"name": "db"}, "spec": {"replicas": 3, "selector": {}, "serviceName": "db", "template": {}},
                         "status": {"replicas": 3, "readyReplicas": 3}});
        assert_eq!(stateful_set_row(&sts, now()).cells[1], json!("3/3"));
        let ds = json!({"metadata": {"name": "agent"}, "spec": {"selector": {"matchLabels": {"app": "agent"}},
                "template": {"spec": {"nodeSelector": {"os": "linux"}, "containers": []}}},
            "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1,
                       "numberMisscheduled": 0, "updatedNumberScheduled": 2, "numberAvailable": 1}});
        let cells = daemon_set_row(&ds, now()).cells;
        assert_eq!(&cells[1..7], &[json!(2), json!(2), json!(1), json!(2), json!(1), json!("os=linux")]);
        assert_eq!(cells.len(), DAEMON_SETS.columns.len());
    }

    #[test]
    fn controller_revision_names_its_owner() {
        let cr = json!({"metadata": {"name": "web-5d8", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "u", "controller": true}]},
            "revision": 2});
        assert_eq!(controller_revision_row(&cr, now()).cells[1..3], [json!("statefulset.apps/web"), json!(2)]);
    }
}
