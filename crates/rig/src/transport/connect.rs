//! Connection set-up shared by SSE, WebSocket and long-polling, in RIG's order:
//! decode the subscription list, verify the JWT and infer subscriptions, parse
//! the list, merge and de-duplicate, authorize, then apply the rate limit.

use rig_core::{
    subscription::{self, parse_value},
    Subscription,
};
use serde_json::Value;

use crate::{app::Shared, hub::Transport};

/// The query parameters a connection request carries.
#[derive(Debug, Default, Clone)]
pub struct ConnectParams {
    pub jwt: Option<String>,
    pub subscriptions: Option<String>,
}

impl ConnectParams {
    /// Reads `jwt` and `subscriptions` from a raw query string; others are ignored.
    pub fn from_query(query: Option<&str>) -> Self {
        let mut p = ConnectParams::default();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*k {
                "jwt" => p.jwt = Some(v.into_owned()).filter(|s| !s.is_empty()),
                "subscriptions" => p.subscriptions = Some(v.into_owned()).filter(|s| !s.is_empty()),
                _ => {}
            }
        }
        p
    }
}

/// A request that passed every check.
#[derive(Debug)]
pub struct Accepted {
    pub subscriptions: Vec<Subscription>,
    /// The JWT's session id, for blacklisting.
    pub session: Option<String>,
}

/// Why a connection was refused; each transport renders it its own way.
#[derive(Debug, Clone, PartialEq)]
pub enum SetupError {
    /// The `subscriptions` parameter is not JSON (its text goes into the WS close reason).
    Undecodable(String),
    /// Bad JWT or bad subscription list (400).
    BadRequest(String),
    /// `SUBSCRIPTION_CHECK` said no.
    Denied,
    /// `MAX_CONNECTIONS_PER_MINUTE` reached (429).
    RateLimited,
}

impl SetupError {
    pub fn message(&self) -> &str {
        match self {
            SetupError::Undecodable(m) | SetupError::BadRequest(m) => m,
            SetupError::Denied => "Subscription denied (not authorized).",
            SetupError::RateLimited => "Reached maximum number of connections",
        }
    }
}

/// Validates an SSE or WebSocket connection request.
pub fn set_up(app: &Shared, params: &ConnectParams) -> Result<Accepted, SetupError> {
    let decoded = match &params.subscriptions {
        Some(text) => Some(
            serde_json::from_str::<Value>(text)
                .map_err(|e| SetupError::Undecodable(format!("Failed to decode subscription list: {e}")))?,
        ),
        None => None,
    };
    let (jwt_subs, claims) = jwt_subscriptions(app, params.jwt.as_deref())?;
    let manual = match (&decoded, &params.subscriptions) {
        (Some(v), Some(text)) => parse_value(v, text)
            .map_err(|e| SetupError::BadRequest(format!("could not parse subscriptions: {e}")))?,
        _ => Vec::new(),
    };
    let subscriptions = subscription::dedup(jwt_subs.into_iter().chain(manual).collect());
    if params.subscriptions.is_some() {
        let tokens: Vec<&str> = params.jwt.as_deref().into_iter().collect();
        if !app.config.subscription_check.allows(&app.config.jwt, &tokens) {
            return Err(SetupError::Denied);
        }
    }
    if !app.limit.try_acquire() {
        return Err(SetupError::RateLimited);
    }
    let session = claims.as_ref().and_then(|c| app.config.jwt.session_of(c)).map(str::to_string);
    Ok(Accepted { subscriptions, session })
}

/// Validates a new long-polling session: rate limit first, no subscription check.
pub fn set_up_longpoll(app: &Shared, params: &ConnectParams) -> Result<Accepted, SetupError> {
    if !app.limit.try_acquire() {
        return Err(SetupError::RateLimited);
    }
    let (jwt_subs, claims) = jwt_subscriptions(app, params.jwt.as_deref())?;
    let manual = subscription::parse_param(params.subscriptions.as_deref().unwrap_or(""))
        .map_err(|e| SetupError::BadRequest(format!("could not parse subscriptions: {e}")))?;
    let subscriptions = subscription::dedup(jwt_subs.into_iter().chain(manual).collect());
    let session = claims.as_ref().and_then(|c| app.config.jwt.session_of(c)).map(str::to_string);
    Ok(Accepted { subscriptions, session })
}

/// JWT-inferred subscriptions and the verified claims, or RIG's 400 text.
fn jwt_subscriptions(app: &Shared, jwt: Option<&str>) -> Result<(Vec<Subscription>, Option<Value>), SetupError> {
    let Some(jwt) = jwt else { return Ok((Vec::new(), None)) };
    let claims = app
        .config
        .jwt
        .verify(jwt)
        .map_err(|e| SetupError::BadRequest(format!("could not parse subscriptions: could not decode JWT: {e}")))?;
    Ok((app.hub.infer_subscriptions(&claims), Some(claims)))
}

/// Which transport a connection uses, for logs.
pub fn name(t: Transport) -> &'static str {
    match t {
        Transport::Sse => "SSE",
        Transport::Ws => "WebSocket",
        Transport::LongPolling => "long-polling",
    }
}
