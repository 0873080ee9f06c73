//! A frontend connection's life apart from its protocol: the token that
//! names it and the node that holds it, set-up checks ([`connect`]),
//! registration and removal ([`guard`]), subscription updates ([`update`])
//! session kills ([`kill`]) and RIG 1.x channels with their presence
//! ([`channel`], [`presence`]). Transports are adapters that call these.

pub mod channel;
pub mod connect;
pub mod guard;
pub mod kill;
pub mod presence;
pub mod update;

use std::sync::Arc;

use axum::http::HeaderMap;

use crate::{
    auth::{check::CheckMode, Auth},
    cluster::{self, Cluster},
    config::Config,
    hub::{ConnId, Hub, SlowPolicy},
    limit::ConnectionLimit,
    token::{TokenCodec, TokenIds},
};

/// Where a connection token points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTarget {
    /// One of this node's connections (it may be gone).
    Here(ConnId),
    /// A connection held by the node with this id (maybe no longer alive).
    Node(u64),
    /// Not a genuine token.
    Invalid,
}

/// The settings a connection's life reads.
#[derive(Debug, Clone)]
struct Settings {
    subscription_limits: rig_core::Limits,
    subscription_check: CheckMode,
    max_sessions_per_connection: usize,
    outbox_capacity: usize,
    slow_client_policy: SlowPolicy,
}

/// Owns connection tokens and every step of a connection's life that is not
/// protocol.
pub struct Sessions {
    hub: Arc<Hub>,
    auth: Arc<Auth>,
    cluster: Option<Arc<Cluster>>,
    tokens: TokenCodec,
    node_id: u64,
    /// `MAX_CONNECTIONS_PER_MINUTE`.
    limit: ConnectionLimit,
    settings: Settings,
    /// Phoenix channel presence, on every node.
    pub presence: Arc<presence::Presence>,
}

impl Sessions {
    /// `node_id` is the id this node puts in its tokens.
    pub fn new(config: &Config, hub: Arc<Hub>, auth: Arc<Auth>, cluster: Option<Arc<Cluster>>, node_id: u64) -> Self {
        Sessions {
            presence: presence::Presence::new(hub.clone(), cluster.clone(), config.max_presences),
            hub,
            auth,
            cluster,
            tokens: TokenCodec::new(config.node_cookie.as_deref()),
            node_id,
            limit: ConnectionLimit::new(config.max_connections_per_minute),
            settings: Settings {
                subscription_limits: config.subscription_limits,
                subscription_check: config.auth.subscription_check.clone(),
                max_sessions_per_connection: config.max_sessions_per_connection,
                outbox_capacity: config.hub.outbox_capacity,
                slow_client_policy: config.hub.slow_client_policy,
            },
        }
    }

    /// The token a client uses to address connection `id`.
    pub fn seal_token(&self, id: ConnId) -> String {
        self.tokens.seal(TokenIds { node: self.node_id, connection: id })
    }

    /// The connection a token names, if it is genuine and names one of ours.
    pub fn open_token(&self, token: &str) -> Option<ConnId> {
        match self.locate_token(token) {
            TokenTarget::Here(id) => Some(id),
            _ => None,
        }
    }

    /// Which node holds the connection a token names.
    pub fn locate_token(&self, token: &str) -> TokenTarget {
        match self.tokens.open(token) {
            Ok(ids) if ids.node == self.node_id => TokenTarget::Here(ids.connection),
            Ok(ids) => TokenTarget::Node(ids.node),
            Err(_) => TokenTarget::Invalid,
        }
    }

    /// Whether the request was forwarded here for another node (one that held
    /// this address before a restart): it must be answered with
    /// [`cluster::forward::misdirected_answer`], not served.
    pub fn misdirected(&self, headers: &HeaderMap) -> bool {
        cluster::forward::misdirected(headers, self.node_id)
    }

    /// The live peer holding the connection `token` names, when the request
    /// should go there (not when it already was forwarded once).
    pub fn holder_elsewhere(&self, token: &str, headers: &HeaderMap) -> Option<u64> {
        let cluster = self.cluster.as_ref()?;
        match self.locate_token(token) {
            TokenTarget::Node(node) if !cluster::forward::was_forwarded(headers) => cluster.node(node).map(|n| n.id),
            _ => None,
        }
    }
}
