//! `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward`: checked
//! here, then passed to the agent of the pod's node, upgrades included (exec
//! speaks WebSocket `v5.channel.k8s.io`, port-forward SPDY inside WebSocket).
//! The byte streams are copied both ways untouched.

use axum::body::Body;
use axum::http::{header, HeaderName, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::read::fetch;
use super::{ApiState, Ctx};
use crate::api::node_client::{self, AgentEndpoint};
use crate::api::path::ResourceRef;
use crate::api::resources::{self, Sub};
use crate::error::ApiError;

/// Headers that make an upgrade (or describe the body) and must reach the agent.
const FORWARDED: &[&str] = &[
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "x-stream-protocol-version",
    "content-type",
];

/// Headers of the agent's answer that kubectl needs to see.
const RETURNED: &[&str] = &[
    "connection",
    "upgrade",
    "sec-websocket-accept",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "x-stream-protocol-version",
    "content-type",
];

fn container_names(pod: &Value, field: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(|c| c.as_array())
        .map(|a| a.iter().filter_map(|c| c.get("name").and_then(|n| n.as_str()).map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The container a request addresses: the `container` parameter, or the
/// pod's only container.
fn pick_container(pod: &Value, pod_name: &str, asked: Option<&str>) -> Result<String, ApiError> {
    let main = container_names(pod, "containers");
    let mut all = main.clone();
    all.extend(container_names(pod, "initContainers"));
    all.extend(container_names(pod, "ephemeralContainers"));
    match asked.filter(|c| !c.is_empty()) {
        Some(c) if all.iter().any(|x| x == c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::BadRequest(format!("container {c} is not valid for pod {pod_name}"))),
        None if main.len() == 1 => Ok(main[0].clone()),
        None => Err(ApiError::BadRequest(format!(
            "a container name must be specified for pod {pod_name}, choose one of: [{}]",
            main.join(" ")
        ))),
    }
}

pub async fn proxy(
    state: &ApiState,
    r: &ResourceRef,
    ctx: &Ctx,
    method: Method,
    upgrade: Option<OnUpgrade>,
    body: Body,
) -> Result<Response, ApiError> {
    let sub = r.sub.unwrap_or(Sub::Log);
    let pod_ref = ResourceRef { sub: None, ..r.clone() };
    let pod = fetch(state.store.as_ref(), &pod_ref).await?;
    let pod_name = r.name.clone().unwrap_or_default();
    let ns = r.namespace.clone().unwrap_or_default();
    let phase = pod.value.pointer("/status/phase").and_then(|p| p.as_str()).unwrap_or("Pending");
    let node = pod.value.pointer("/spec/nodeName").and_then(|n| n.as_str()).filter(|n| !n.is_empty());
    let Some(node) = node.map(str::to_string) else {
        return Err(ApiError::BadRequest(format!("pod {pod_name} does not have a host assigned: it is waiting to be scheduled")));
    };
    let path = match sub {
        Sub::PortForward => format!("/portforward/{ns}/{pod_name}"),
        _ => {
            let container = pick_container(&pod.value, &pod_name, ctx.query.get("container"))?;
            if matches!(sub, Sub::Exec | Sub::Attach) && matches!(phase, "Succeeded" | "Failed") {
                return Err(ApiError::BadRequest(format!(
                    "cannot exec into a container in a completed pod; current phase is {phase}"
                )));
            }
            let verb = match sub {
                Sub::Exec => "exec",
                Sub::Attach => "attach",
                _ => "containerLogs",
            };
            format!("/{verb}/{ns}/{pod_name}/{container}")
        }
    };
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(ctx.query.raw.iter().filter(|(k, _)| k != "container"))
        .finish();
    let uri = if query.is_empty() { path } else { format!("{path}?{query}") };

    let nodes = resources::lookup("", "v1", "nodes").expect("nodes are served");
    let node_obj = state
        .store
        .get(&nodes.key(None, &node))
        .await
        .map_err(|e| ApiError::from_store(e, Default::default()))?
        .ok_or_else(|| ApiError::ServiceUnavailable(format!("node {node} of pod {pod_name} is not registered")))?;
    let endpoint = AgentEndpoint::from_node(&node_obj.value).map_err(|e| ApiError::ServiceUnavailable(e.to_string()))?;
    let Some(token) = state.agent_token.clone() else {
        return Err(ApiError::ServiceUnavailable("this server has no credentials for node agents".into()));
    };

    let mut req = Request::builder().method(method).uri(uri);
    for name in FORWARDED {
        for v in ctx.headers.get_all(*name) {
            req = req.header(*name, v);
        }
    }
    let req = req.body(body).map_err(ApiError::internal)?;
    let resp = node_client::send(&endpoint, &token, req).await.map_err(|e| ApiError::ServiceUnavailable(e.to_string()))?;

    let status = resp.status();
    let mut out = Response::builder().status(status);
    for name in RETURNED {
        for v in resp.headers().get_all(HeaderName::from_static(name)) {
            out = out.header(*name, v);
        }
    }
    if status == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = upgrade else {
            return Err(ApiError::BadRequest("the agent switched protocols but the request was not an upgrade".into()));
        };
        tokio::spawn(async move {
            let agent_io = match hyper::upgrade::on(resp).await {
                Ok(io) => io,
                Err(e) => return tracing::warn!(error = %e, "agent upgrade failed"),
            };
            let client_io = match client_upgrade.await {
                Ok(io) => io,
                Err(e) => return tracing::warn!(error = %e, "client upgrade failed"),
            };
            let mut a = TokioIo::new(agent_io);
            let mut c = TokioIo::new(client_io);
            let _ = tokio::io::copy_bidirectional(&mut c, &mut a).await;
        });
        return out.body(Body::empty()).map_err(ApiError::internal);
    }
    if !resp.headers().contains_key(header::CONTENT_TYPE) {
        out = out.header(header::CONTENT_TYPE, "text/plain");
    }
    Ok(out.body(Body::new(resp.into_body())).map_err(ApiError::internal)?.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn picks_the_only_container_or_asks_for_one() {
        let one = json!({"spec": {"containers": [{"name": "app"}], "initContainers": [{"name": "init"}]}});
        assert_eq!(pick_container(&one, "p", None).unwrap(), "app");
        assert_eq!(pick_container(&one, "p", Some("init")).unwrap(), "init");
        let err = pick_container(&one, "p", Some("nope")).unwrap_err().to_string();
        assert_eq!(err, "container nope is not valid for pod p");
        let two = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let err = pick_container(&two, "p", None).unwrap_err().to_string();
        assert!(err.contains("choose one of: [a b]"), "{err}");
    }
}
