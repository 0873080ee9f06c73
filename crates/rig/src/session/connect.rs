//! Connection set-up shared by SSE, WebSocket and long-polling, in RIG's order:
//! decode the subscription list, verify the JWT and infer subscriptions, parse
//! the list, merge and de-duplicate, authorize, then apply the rate limit.

use rig_core::{
    subscription::{self, parse_value},
    Subscription,
};
use serde_json::Value;

use super::Sessions;
use crate::{
    auth::check::{CheckRequest, Decision},
    hub::ConnInfo,
};

/// The query parameters a connection request carries.
#[derive(Debug, Default, Clone)]
pub struct ConnectParams {
    pub jwt: Option<String>,
    pub subscriptions: Option<String>,
    /// Resume after this event id (`last_event_id`, or SSE's `Last-Event-ID`).
    pub last_event_id: Option<String>,
}

impl ConnectParams {
    /// Reads `jwt` and `subscriptions` from a raw query string; others are ignored.
    pub fn from_query(query: Option<&str>) -> Self {
        let mut p = ConnectParams::default();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*k {
                "jwt" => p.jwt = Some(v.into_owned()).filter(|s| !s.is_empty()),
                "subscriptions" => p.subscriptions = Some(v.into_owned()).filter(|s| !s.is_empty()),
                "last_event_id" => p.last_event_id = Some(v.into_owned()).filter(|s| !s.is_empty()),
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
    pub resume_from: Option<String>,
    /// Who is connecting, for blacklisting and presence.
    pub info: ConnInfo,
}

/// Why a connection was refused; each transport renders it its own way.
#[derive(Debug, Clone, PartialEq)]
pub enum SetupError {
    /// The `subscriptions` parameter is not JSON (its text goes into the WS close reason).
    Undecodable(String),
    /// Bad JWT or bad subscription list (400).
    BadRequest(String),
    /// `SUBSCRIPTION_CHECK` or the privileged-user rule said no.
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

impl Sessions {
    /// Validates an SSE or WebSocket connection request.
    pub async fn set_up(&self, params: &ConnectParams, user_agent: Option<String>) -> Result<Accepted, SetupError> {
        let limits = &self.settings.subscription_limits;
        let decoded = match &params.subscriptions {
            Some(text) => {
                limits.check_bytes(text.len()).map_err(SetupError::BadRequest)?;
                Some(
                    serde_json::from_str::<Value>(text)
                        .map_err(|e| SetupError::Undecodable(format!("Failed to decode subscription list: {e}")))?,
                )
            }
            None => None,
        };
        let (jwt_subs, claims) = self.jwt_subscriptions(params.jwt.as_deref()).await?;
        let manual = match (&decoded, &params.subscriptions) {
            (Some(v), Some(text)) => {
                parse_value(v, text).map_err(|e| SetupError::BadRequest(format!("could not parse subscriptions: {e}")))?
            }
            _ => Vec::new(),
        };
        self.privileged(&manual, claims.as_ref())?;
        let subscriptions = subscription::dedup(jwt_subs.into_iter().chain(manual).collect());
        limits.check(&subscriptions).map_err(SetupError::BadRequest)?;
        if let Some(list) = decoded {
            self.authorized(params, list).await?;
        }
        if !self.limit.try_acquire() {
            return Err(SetupError::RateLimited);
        }
        Ok(Accepted { subscriptions, resume_from: params.last_event_id.clone(), info: self.info(claims.as_ref(), user_agent) })
    }

    /// Validates a new long-polling session: rate limit first (as RIG), then the
    /// same checks as a stream. RIG skipped `SUBSCRIPTION_CHECK` here, which let a
    /// long-polling client read what SSE and WebSocket refused.
    pub async fn set_up_longpoll(&self, params: &ConnectParams, user_agent: Option<String>) -> Result<Accepted, SetupError> {
        if !self.limit.try_acquire() {
            return Err(SetupError::RateLimited);
        }
        let limits = &self.settings.subscription_limits;
        let text = params.subscriptions.as_deref().unwrap_or("");
        limits.check_bytes(text.len()).map_err(SetupError::BadRequest)?;
        let (jwt_subs, claims) = self.jwt_subscriptions(params.jwt.as_deref()).await?;
        let manual = subscription::parse_param(text).map_err(|e| SetupError::BadRequest(format!("could not parse subscriptions: {e}")))?;
        self.privileged(&manual, claims.as_ref())?;
        if params.subscriptions.is_some() {
            self.authorized(params, Value::Array(manual.iter().map(Subscription::to_json).collect())).await?;
        }
        let subscriptions = subscription::dedup(jwt_subs.into_iter().chain(manual).collect());
        limits.check(&subscriptions).map_err(SetupError::BadRequest)?;
        Ok(Accepted { subscriptions, resume_from: params.last_event_id.clone(), info: self.info(claims.as_ref(), user_agent) })
    }

    /// `SUBSCRIPTION_CHECK` for the subscriptions a client asked for.
    async fn authorized(&self, params: &ConnectParams, list: Value) -> Result<(), SetupError> {
        let tokens: Vec<&str> = params.jwt.as_deref().into_iter().collect();
        let request = || CheckRequest {
            body: serde_json::json!({ "subscriptions": list }).to_string(),
            content_type: "application/json; charset=utf-8".into(),
            authorization: params.jwt.as_ref().map(|t| format!("Bearer {t}")),
        };
        match self.auth.check(&self.settings.subscription_check, &tokens, request).await {
            Decision::Allow => Ok(()),
            _ => Err(SetupError::Denied),
        }
    }

    pub(super) fn privileged(&self, subs: &[Subscription], claims: Option<&Value>) -> Result<(), SetupError> {
        // Phoenix channel topics are joined, never subscribed: the join checks who may (`session::channel`).
        if subs.iter().any(|s| s.event_type.starts_with(crate::hub::channel::TYPE_PREFIX)) {
            return Err(SetupError::Denied);
        }
        self.auth.privileges.check(subs, claims, self.hub.extractors()).map_err(|reason| {
            tracing::debug!(%reason, "Subscription refused.");
            SetupError::Denied
        })
    }

    fn info(&self, claims: Option<&Value>, user_agent: Option<String>) -> ConnInfo {
        ConnInfo {
            session: claims.and_then(|c| self.auth.jwt.session_of(c)).map(str::to_string),
            user: claims.and_then(|c| self.auth.privileges.user_of(c)),
            user_agent,
        }
    }

    /// JWT-inferred subscriptions and the verified claims, or RIG's 400 text.
    async fn jwt_subscriptions(&self, jwt: Option<&str>) -> Result<(Vec<Subscription>, Option<Value>), SetupError> {
        let Some(jwt) = jwt else { return Ok((Vec::new(), None)) };
        let claims = self
            .auth
            .verify(jwt)
            .await
            .map_err(|e| SetupError::BadRequest(format!("could not parse subscriptions: could not decode JWT: {e}")))?;
        Ok((self.hub.infer_subscriptions(&claims), Some(claims)))
    }
}
