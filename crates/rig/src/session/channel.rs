//! RIG 1.x channels (`RigWeb.Presence.Socket` and `.Channel`) apart from the
//! Phoenix wire protocol: who may open a socket, who may join which topic,
//! and joins as subscriptions in the one index (see `hub::channel`).
//!
//! - A socket needs a `token` parameter: a JWT verified like every other
//!   (keys, JWKS, expiry, blacklist by `jti` and session).
//! - `user:<name>`: the caller's own (`JWT_USER_FIELD`, 1.x default `user`),
//!   or anyone's for a caller with one of `PRIVILEGED_ROLES`.
//! - `role:<role>`: privileged callers only.
//! - Presence (1.x's `after_join`): a join of one's own `user:` channel
//!   tracks the device there and in `role:<r>` for each of the caller's
//!   roles; a privileged caller joining another user's channel is tracked
//!   in that channel; a role join tracks nothing. The key is the user name.

use std::sync::Arc;

use rig_core::Subscription;
use serde_json::Value;

use super::{
    connect::SetupError,
    guard::ConnGuard,
    presence::{Full, Tracked},
    Sessions,
};
use crate::{
    auth::privilege::Privileges,
    hub::{channel, ConnId, ConnInfo, Gone, Opening, Outbox, Sink, Transport},
};

/// The claim naming a channel user when `JWT_USER_FIELD` is not set (RIG 1.x's default).
const DEFAULT_USER_FIELD: &str = "/user";

/// Who opened a socket, from its verified token.
#[derive(Debug, Clone)]
pub struct ChannelUser {
    pub claims: Value,
    pub user: Option<String>,
    pub privileged: bool,
    pub info: ConnInfo,
}

/// Why a join was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum JoinRefused {
    /// Neither `user:*` nor `role:*` (Phoenix's `unmatched topic`).
    Unmatched,
    /// Not the caller's topic; the text is RIG 1.x's.
    Unauthorized(String),
    /// More channels than `RIG_MAX_SUBSCRIPTIONS`, or presences than `RIG_MAX_PRESENCES`.
    TooMany(String),
    /// The socket is gone.
    Gone,
}

fn user_of(privileges: &Privileges, claims: &Value) -> Option<String> {
    let ptr = privileges.user_field.as_deref().unwrap_or(DEFAULT_USER_FIELD);
    match rig_core::pointer::resolve(claims, ptr)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Sessions {
    /// RIG 1.x's socket `connect/2`: a valid, not blacklisted JWT in `token`,
    /// then `MAX_CONNECTIONS_PER_MINUTE` like every transport.
    pub async fn channel_connect(&self, token: Option<&str>, user_agent: Option<String>) -> Result<ChannelUser, SetupError> {
        let token = token.filter(|t| !t.is_empty()).ok_or_else(|| SetupError::BadRequest("missing token".into()))?;
        let claims = self.auth.verify(token).await.map_err(|e| SetupError::BadRequest(format!("could not decode JWT: {e}")))?;
        if !self.limit.try_acquire() {
            return Err(SetupError::RateLimited);
        }
        let privileges = &self.auth.privileges;
        let user = user_of(privileges, &claims);
        let info = ConnInfo { session: self.auth.jwt.session_of(&claims).map(str::to_string), user: user.clone(), user_agent };
        Ok(ChannelUser { privileged: privileges.is_privileged(&claims), user, claims, info })
    }

    /// Registers an accepted socket with no channels yet; it gets only what
    /// its joins subscribe to.
    pub fn open_channels(&self, user: &ChannelUser) -> (Arc<Outbox>, ConnGuard) {
        let outbox = Arc::new(Outbox::new(self.settings.outbox_capacity, self.settings.slow_client_policy));
        let id = self.hub.new_id();
        let greet = |_: Option<&str>| Vec::new();
        let opening = Opening { greet: &greet, resume_from: None };
        self.hub.open(id, Transport::Phoenix, Sink::Stream(outbox.clone()), Vec::new(), user.info.clone(), opening);
        (outbox, ConnGuard::new(self.hub.clone(), id))
    }

    /// RIG 1.x's `join/3`: may `user` join `topic`?
    pub fn may_join(&self, user: &ChannelUser, topic: &str) -> Result<(), JoinRefused> {
        let name = user.user.as_deref().unwrap_or("");
        let refused = || JoinRefused::Unauthorized(format!("unauthorized user with id {name:?} tried to join {topic:?}!"));
        if let Some(owner) = topic.strip_prefix("user:") {
            if user.user.as_deref() == Some(owner) || user.privileged {
                return Ok(());
            }
            return Err(refused());
        }
        if topic.starts_with("role:") {
            return if user.privileged { Ok(()) } else { Err(refused()) };
        }
        Err(JoinRefused::Unmatched)
    }

    /// Makes connection `id` receive exactly the messages of `topics`.
    pub fn set_channels(&self, id: ConnId, topics: &[String]) -> Result<(), JoinRefused> {
        let subs: Vec<Subscription> = topics.iter().map(|t| Subscription::all(channel::event_type(t))).collect();
        self.settings.subscription_limits.check(&subs).map_err(JoinRefused::TooMany)?;
        self.hub.replace_subscriptions(id, subs).map_err(|Gone| JoinRefused::Gone)
    }

    /// What a joining socket is told first: the topic's presence state, as
    /// `Phoenix.Presence.list/1` gives it.
    pub fn presence_state(&self, topic: &str) -> Value {
        self.presence.state(topic)
    }

    /// Tracks the device that joined `topic` (see the module doc), if that
    /// join is tracked; dropping the result is its leave.
    pub fn track_join(&self, user: &ChannelUser, topic: &str) -> Result<Option<Tracked>, JoinRefused> {
        let Some(name) = user.user.as_deref() else { return Ok(None) };
        let Some(owner) = topic.strip_prefix("user:") else { return Ok(None) };
        let mut topics = vec![topic.to_string()];
        if owner == name {
            for role in self.auth.privileges.roles_of(&user.claims) {
                let t = format!("role:{role}");
                if !topics.contains(&t) {
                    topics.push(t);
                }
            }
        }
        self.presence
            .track(name, topics, meta(&user.claims))
            .map(Some)
            .map_err(|Full| JoinRefused::TooMany("this node tracks as many presences as it may (RIG_MAX_PRESENCES)".into()))
    }
}

/// RIG 1.x's meta: the token's claims with the time of the join and the
/// device fields 1.x filled with fixed values.
fn meta(claims: &Value) -> Value {
    let mut meta = claims.as_object().cloned().unwrap_or_default();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    meta.insert("time".into(), now.into());
    for (k, v) in [("address", "192.168.0.1"), ("device", "desktop"), ("browser", "Chrome")] {
        meta.insert(k.into(), v.into());
    }
    Value::Object(meta)
}
