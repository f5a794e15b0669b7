//! `GET /containerLogs/{ns}/{pod}/{container}`: a container's log for
//! `kubectl logs`, with kubelet's query parameters (passed through unchanged
//! by the API server). `previous` reads the run before the current one.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use jiff::Timestamp;

use super::{AgentState, ServerError};
use crate::logs::{read_log, LogError, LogQuery};

/// The parsed query of a log request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LogRequest {
    pub query: LogQuery,
    pub previous: bool,
}

impl LogRequest {
    pub fn parse(raw: &str, now: Timestamp) -> Result<Self, ServerError> {
        let mut request = LogRequest::default();
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            let flag = || value == "true" || value == "1";
            let number = |what: &str| value.parse::<i64>().map_err(|_| ServerError::BadRequest(format!("{what} must be an integer")));
            match key.as_ref() {
                "follow" => request.query.follow = flag(),
                "previous" => request.previous = flag(),
                "timestamps" => request.query.timestamps = flag(),
                "tailLines" => request.query.tail = Some(usize::try_from(number("tailLines")?).unwrap_or(0)),
                "limitBytes" => request.query.limit_bytes = Some(u64::try_from(number("limitBytes")?).unwrap_or(0)),
                "sinceSeconds" => {
                    let seconds = number("sinceSeconds")?.max(0);
                    request.query.since = now.checked_sub(jiff::SignedDuration::from_secs(seconds)).ok();
                }
                "sinceTime" => {
                    let time = value.parse::<Timestamp>().map_err(|e| ServerError::BadRequest(format!("sinceTime: {e}")))?;
                    request.query.since = Some(time);
                }
                _ => {}
            }
        }
        Ok(request)
    }
}

pub async fn container_logs(
    State(state): State<AgentState>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ServerError> {
    let request = LogRequest::parse(raw.as_deref().unwrap_or(""), Timestamp::now())?;
    let live = state.live.get(&namespace, &pod).ok_or_else(|| ServerError::NotFound(format!("pod {namespace}/{pod} is not on this node")))?;
    let entry = live
        .containers
        .get(&container)
        .ok_or_else(|| ServerError::NotFound(format!("container {container:?} is not valid for pod {pod:?}")))?;
    let run = if request.previous { entry.restart - 1 } else { entry.restart };
    if run < 0 {
        return Err(ServerError::BadRequest(format!("previous terminated container {container:?} in pod {pod:?} not found")));
    }
    let path = live.log_dir.join(&container).join(format!("{run}.log"));
    let stream = match read_log(&state.log_hub, &path, request.query).await {
        Ok(stream) => stream,
        Err(LogError::NotFound(_)) if request.previous => {
            return Err(ServerError::BadRequest(format!("previous terminated container {container:?} in pod {pod:?} not found")));
        }
        // Not started yet: an empty log, as kubelet answers for a waiting container's first run.
        Err(LogError::NotFound(_)) => return Ok(([(CONTENT_TYPE, "text/plain")], "").into_response()),
        Err(err) => return Err(ServerError::Internal(err.to_string())),
    };
    let body = Body::from_stream(stream.map(|chunk| chunk.map_err(std::io::Error::other)));
    Ok(([(CONTENT_TYPE, "text/plain")], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubectl_queries() {
        let now: Timestamp = "2025-01-01T00:01:00Z".parse().expect("time");
        let request = LogRequest::parse("container=c&follow=true&tailLines=2&timestamps=true&sinceSeconds=60&previous=true", now)
            .expect("parses");
        assert!(request.previous);
        assert!(request.query.follow && request.query.timestamps);
        assert_eq!(request.query.tail, Some(2));
        assert_eq!(request.query.since, Some("2025-01-01T00:00:00Z".parse().expect("time")));
        assert!(LogRequest::parse("tailLines=x", now).is_err());
        assert_eq!(LogRequest::parse("", now).expect("empty"), LogRequest::default());
    }
}
