//! The hickory-server request handler of the cluster DNS: one question per
//! message, answered from [`super::answer::resolve`].

use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Header, HeaderCounts, Metadata, MessageType, OpCode, ResponseCode};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use super::answer::resolve;
use crate::agent::proxy::ServiceTable;

/// Answers queries about `cluster.local` from the service table.
pub struct ClusterDns {
    table: ServiceTable,
}

impl ClusterDns {
    pub fn new(table: ServiceTable) -> Self {
        ClusterDns { table }
    }
}

#[async_trait::async_trait]
impl RequestHandler for ClusterDns {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, mut response_handle: R) -> ResponseInfo {
        let builder = MessageResponseBuilder::from_message_request(request);
        let query_ok = request.metadata.message_type == MessageType::Query && request.metadata.op_code == OpCode::Query;
        let info = request.request_info().ok().filter(|_| query_ok);
        let sent = match info {
            None => {
                let code = if query_ok { ResponseCode::FormErr } else { ResponseCode::NotImp };
                response_handle.send_response(builder.error_msg(&request.metadata, code)).await
            }
            Some(info) => {
                let query = info.query.original();
                let answer = resolve(&self.table, query.name(), query.query_type());
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.authoritative = answer.authoritative;
                metadata.response_code = answer.code;
                metadata.recursion_available = false;
                let response = builder.build(metadata, answer.answers.iter(), std::iter::empty(), answer.soa.iter(), answer.additionals.iter());
                response_handle.send_response(response).await
            }
        };
        sent.unwrap_or_else(|err| {
            tracing::debug!(error = %err, client = %request.src(), "could not send a DNS response");
            let mut metadata = Metadata::response_from_request(&request.metadata);
            metadata.response_code = ResponseCode::ServFail;
            ResponseInfo::from(Header { metadata, counts: HeaderCounts::default() })
        })
    }
}
