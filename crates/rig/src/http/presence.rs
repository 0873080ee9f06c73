//! Presence: which user has which sessions and devices connected where.
//! New in this implementation (RIG 3.0 had no such API); see docs/openapi.json.
//!
//! In a cluster the listings cover every node: the node asked answers for
//! itself and asks each live peer for its part (the same path, `POST`ed with
//! `?local=true` by [`Cluster::forward_api`], which marks it forwarded),
//! waiting at most [`PEER_WAIT`]; `unanswered` names the peers that gave
//! none. `?local=true` on a `GET` lists this node only.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use axum::{
    extract::{Path, State},
    http::{HeaderMap, Method, StatusCode, Uri},
    response::Response,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::support::response::{json_error, json_response};
use crate::{
    cluster::{forward::was_forwarded, Cluster},
    hub::ConnView,
    state::Shared,
};

/// How long a listing waits for each peer's part.
pub const PEER_WAIT: Duration = Duration::from_secs(2);
/// Largest part a peer may answer with.
const MAX_PART: usize = 64 << 20;

/// A listing request: `GET` (from a client; `?local=true` for this node's
/// part only) or `POST` (from a peer gathering one).
pub struct Ask {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Ask {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Ask { method: parts.method.clone(), uri: parts.uri.clone(), headers: parts.headers.clone() })
    }
}

impl Ask {
    fn local(&self) -> bool {
        form_urlencoded::parse(self.uri.query().unwrap_or("").as_bytes()).any(|(k, v)| k == "local" && v == "true")
    }

    fn asker<'a>(&self, app: &'a Shared) -> Result<Asker<'a>, Response> {
        if self.method == Method::POST {
            return if was_forwarded(&self.headers) {
                Ok(Asker::Peer)
            } else {
                Err(json_error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed."))
            };
        }
        let whole = !self.local() && !was_forwarded(&self.headers);
        Ok(Asker::Client(app.cluster.as_deref().filter(|_| whole)))
    }
}

/// Who asks: a client (`Some(cluster)` when the answer should cover every
/// node), or a peer gathering a listing (`POST`, forwarded), which also
/// wants the session ids so it can count sessions spanning nodes once.
enum Asker<'a> {
    Client(Option<&'a Cluster>),
    Peer,
}

/// Every live peer's part of `path`, and the names of those that gave none in time.
async fn from_peers(cluster: &Cluster, path: &str, headers: &HeaderMap) -> (Vec<Value>, Vec<String>) {
    let path = format!("{path}?local=true");
    let peers = cluster.peers();
    let asks = peers.iter().map(|p| tokio::time::timeout(PEER_WAIT, cluster.forward_api(p.id, &path, headers, Bytes::new())));
    let answers = futures_util::future::join_all(asks).await;
    let mut parts = Vec::new();
    let mut unanswered = Vec::new();
    for (peer, answer) in peers.iter().zip(answers) {
        let part = match answer {
            Ok(Some(r)) if r.status() == StatusCode::OK => axum::body::to_bytes(r.into_body(), MAX_PART).await.ok(),
            _ => None,
        };
        match part.and_then(|b| serde_json::from_slice::<Value>(&b).ok()) {
            Some(v) => parts.push(v),
            None => unanswered.push(peer.name.clone()),
        }
    }
    (parts, unanswered)
}

/// One row of `GET /v3/users`.
#[derive(Default, Serialize, Deserialize)]
struct UserRow {
    #[serde(default)]
    user: String,
    #[serde(default)]
    sessions: usize,
    #[serde(default)]
    connections: usize,
    /// Only in a peer's part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session_ids: Option<Vec<String>>,
}

/// `GET /v3/users`: every user with at least one live connection.
pub async fn users(State(app): State<Shared>, ask: Ask) -> Response {
    let asker = match ask.asker(&app) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let mut users: BTreeMap<String, (BTreeSet<String>, usize)> = BTreeMap::new();
    for (user, sessions, connections) in app.hub.users() {
        users.insert(user, (sessions.into_iter().collect(), connections));
    }
    let mut unanswered = None;
    if let Asker::Client(Some(cluster)) = asker {
        let (parts, missing) = from_peers(cluster, "/v3/users", &ask.headers).await;
        for part in parts {
            let rows: Vec<UserRow> = serde_json::from_value(part["users"].clone()).unwrap_or_default();
            for row in rows {
                let e = users.entry(row.user).or_default();
                e.0.extend(row.session_ids.unwrap_or_default());
                e.1 += row.connections;
            }
        }
        unanswered = Some(missing);
    }
    let with_ids = matches!(asker, Asker::Peer);
    let rows: Vec<UserRow> = users
        .into_iter()
        .map(|(user, (sessions, connections))| UserRow {
            user,
            sessions: sessions.len(),
            connections,
            session_ids: with_ids.then(|| sessions.into_iter().collect()),
        })
        .collect();
    let mut body = json!({ "users": rows });
    if let Some(missing) = unanswered {
        body["unanswered"] = json!(missing);
    }
    json(StatusCode::OK, &body)
}

/// `GET /v3/users/{user}/connections`.
pub async fn user_connections(State(app): State<Shared>, Path(user): Path<String>, ask: Ask) -> Response {
    let conns = app.hub.connections_where(|u, _| u == Some(user.as_str()));
    listing(&app, json!({ "user": user }), conns, &ask).await
}

/// `GET /v3/sessions/{session}/connections`.
pub async fn session_connections(State(app): State<Shared>, Path(session): Path<String>, ask: Ask) -> Response {
    let conns = app.hub.connections_where(|_, sessions| sessions.iter().any(|s| **s == *session));
    listing(&app, json!({ "session": session }), conns, &ask).await
}

/// `DELETE /v3/sessions/{session}`: closes the session's connections now, on
/// every node, without blacklisting it (clients may reconnect with the same
/// token). `closed` counts this node's.
pub async fn end_session(State(app): State<Shared>, Path(session): Path<String>) -> Response {
    let closed = app.sessions.end(&session);
    json(StatusCode::OK, &json!({ "session": session, "closed": closed }))
}

/// A connection with the node that holds it.
#[derive(Serialize)]
struct Located<'a> {
    node: &'a str,
    #[serde(flatten)]
    conn: ConnView,
}

/// This node's `conns` under `head`, with every peer's for a client of a cluster (oldest first).
async fn listing(app: &Shared, mut head: Value, conns: Vec<ConnView>, ask: &Ask) -> Response {
    let asker = match ask.asker(app) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let node = app.config.node_name.as_str();
    let located: Vec<Located> = conns.into_iter().map(|conn| Located { node, conn }).collect();
    let mut all: Vec<Value> = located.iter().map(|l| serde_json::to_value(l).expect("views serialise")).collect();
    if let Asker::Client(Some(cluster)) = asker {
        let (parts, missing) = from_peers(cluster, ask.uri.path(), &ask.headers).await;
        for mut part in parts {
            if let Value::Array(conns) = part["connections"].take() {
                all.extend(conns);
            }
        }
        // RFC 3339 with one offset everywhere: the text orders like the time.
        all.sort_by(|a, b| a["connected_since"].as_str().cmp(&b["connected_since"].as_str()));
        head["unanswered"] = json!(missing);
    }
    head["connections"] = Value::Array(all);
    json(StatusCode::OK, &head)
}

fn json(status: StatusCode, v: &Value) -> Response {
    json_response(status, v.to_string())
}
