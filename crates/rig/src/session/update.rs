//! Replacing a live connection's subscriptions (the PUT endpoint without its
//! HTTP): `SUBSCRIPTION_CHECK`, the connection's sessions from its bearer
//! tokens, the privileged-user rule, JWT-inferred subscriptions, limits.
//! RIG's order and texts.

use axum::http::StatusCode;
use rig_core::subscription;
use serde_json::{Map, Value};

use super::{Sessions, TokenTarget};
use crate::{
    auth::{
        check::{CheckRequest, Decision},
        jwt::bearer_tokens,
    },
    hub::{Gone, SessionsRefused},
};

/// A subscriptions update as the endpoint received it.
pub struct UpdateRequest<'a> {
    /// The body as received: what `SUBSCRIPTION_CHECK` is sent.
    pub body: &'a [u8],
    pub content_type: Option<&'a str>,
    /// The `Authorization` header values.
    pub authorization: &'a [&'a str],
    /// The body's `subscriptions` field.
    pub subscriptions: &'a Value,
}

/// Why an update was refused: the status and RIG's text.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub status: StatusCode,
    pub message: String,
}

fn bad(message: String) -> Refused {
    Refused { status: StatusCode::BAD_REQUEST, message }
}

fn gone(_: Gone) -> Refused {
    Refused { status: StatusCode::GONE, message: "Connection no longer exists.".into() }
}

impl Sessions {
    /// Replaces the subscriptions of the connection `token` names (one of this node's).
    pub async fn update(&self, token: &str, request: UpdateRequest<'_>) -> Result<(), Refused> {
        let auth = request.authorization;
        // For the check, a credential without a scheme counts as a bearer token (RIG).
        let check_tokens: Vec<&str> =
            auth.iter().flat_map(|h| h.split(',')).map(|c| c.trim()).map(|c| c.strip_prefix("Bearer ").unwrap_or(c).trim()).collect();
        let check_request = || CheckRequest {
            body: String::from_utf8_lossy(request.body).into_owned(),
            content_type: request.content_type.unwrap_or_default().to_string(),
            authorization: (!auth.is_empty()).then(|| auth.join(", ")),
        };
        if let Decision::Deny(status) = self.auth.check(&self.settings.subscription_check, &check_tokens, check_request).await {
            return Err(Refused { status, message: "Subscription denied.".into() });
        }
        let id = match self.locate_token(token) {
            TokenTarget::Here(id) => id,
            // Held by a node that is no longer a live peer.
            TokenTarget::Node(_) => return Err(gone(Gone)),
            TokenTarget::Invalid => return Err(bad("Invalid connection token.".into())),
        };
        let mut claims = Map::new();
        let mut sessions = Vec::new();
        let mut invalid = None;
        let tokens = bearer_tokens(auth.iter().copied());
        let max_sessions = self.settings.max_sessions_per_connection;
        if tokens.len() > max_sessions {
            return Err(bad(format!(
                "cannot accept subscription request: more than {max_sessions} bearer tokens (RIG_MAX_SESSIONS_PER_CONNECTION)"
            )));
        }
        for t in tokens {
            match self.auth.verify(t).await {
                Ok(c) => {
                    if let Some(s) = self.auth.jwt.session_of(&c) {
                        sessions.push(s.to_string());
                    }
                    // Claims of several tokens are merged; later keys win.
                    if let Value::Object(m) = c {
                        claims.extend(m);
                    }
                }
                Err(e) => invalid = invalid.or(Some(e)),
            }
        }
        let session_refs: Vec<&str> = sessions.iter().map(String::as_str).collect();
        self.hub.add_sessions(id, &session_refs, max_sessions).map_err(|e| match e {
            SessionsRefused::Gone => gone(Gone),
            SessionsRefused::TooMany => bad(format!(
                "cannot accept subscription request: a connection belongs to at most {max_sessions} sessions (RIG_MAX_SESSIONS_PER_CONNECTION)"
            )),
        })?;
        if let Some(e) = invalid {
            return Err(bad(format!("cannot accept subscription request: invalid authorization header: could not decode JWT: {e}")));
        }
        let parse_err = |e: String| bad(format!("cannot accept subscription request: could not parse given subscriptions: {e}"));
        let items = request.subscriptions.as_array().ok_or_else(|| parse_err("subscriptions is expected to be a list".into()))?;
        let given = subscription::parse_list(items).map_err(|e| parse_err(e.to_string()))?;
        let claims = (!claims.is_empty()).then_some(Value::Object(claims));
        if self.privileged(&given, claims.as_ref()).is_err() {
            return Err(Refused { status: StatusCode::FORBIDDEN, message: "Subscription denied.".into() });
        }
        let mut subs = claims.as_ref().map(|c| self.hub.infer_subscriptions(c)).unwrap_or_default();
        subs.extend(given);
        self.settings.subscription_limits.check(&subs).map_err(bad)?;
        self.hub.set_subscriptions(id, subs).map_err(gone)
    }
}
