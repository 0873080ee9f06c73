//! Targets `kafka`, `nats` and `kinesis` (rig-spec 6.10–6.12).
//!
//! Placeholder until the publish targets land: every such endpoint answers 500
//! with a JSON reason. The real module replaces this file wholesale.

use axum::{http::StatusCode, response::Response};

use super::{api, ProxyRequest};
use crate::{app::AppState, config::Config, http::error::json_error};

/// Producers and clients for the publish targets, built at start.
pub struct Publishers {}

impl Publishers {
    pub fn new(_config: &Config) -> Self {
        Publishers {}
    }

    /// Handles a matched endpoint whose target is kafka/nats/kinesis.
    pub async fn handle(&self, _app: &AppState, endpoint: &api::Endpoint, _request: ProxyRequest) -> Response {
        json_error(StatusCode::INTERNAL_SERVER_ERROR, &format!("target {} is not available in this build", endpoint.target))
    }
}
