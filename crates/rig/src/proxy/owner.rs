//! Asynchronous responses for another node's request: a response may reach
//! any node (rig-spec 10.3); it is re-posted, in the binary form of
//! `POST /v3/responses`, to the node whose client waits.

use std::sync::Arc;

use axum::{
    http::{header, HeaderMap, HeaderValue},
    response::Response,
};

use super::correlation::AsyncResponse;
use crate::cluster::Cluster;

/// The way to the other nodes' waiting requests (none outside a cluster).
pub struct Owner {
    cluster: Option<Arc<Cluster>>,
    /// Sent to peers' internal port when `RIG_API_TOKEN` guards it.
    authorization: Option<HeaderValue>,
}

impl Owner {
    pub fn new(cluster: Option<Arc<Cluster>>, authorization: Option<HeaderValue>) -> Self {
        Owner { cluster, authorization }
    }

    /// Whether there are other nodes to hand responses to.
    pub fn clustered(&self) -> bool {
        self.cluster.is_some()
    }

    /// Hands `response` for correlation `id` to node `node`; its answer, or
    /// `None` outside a cluster or when the node is unreachable.
    pub async fn forward(&self, node: u64, id: &str, response: &AsyncResponse) -> Option<Response> {
        let cluster = self.cluster.as_ref()?;
        let mut headers = HeaderMap::new();
        for (name, value) in &response.headers {
            headers.append(name.clone(), value.clone());
        }
        headers.insert("rig-correlation", HeaderValue::from_str(id).ok()?);
        headers.insert("rig-response-code", HeaderValue::from(response.status.as_u16()));
        if let Some(token) = &self.authorization {
            headers.insert(header::AUTHORIZATION, token.clone());
        }
        cluster.forward_api(node, "/v3/responses", &headers, response.body.clone()).await
    }
}
