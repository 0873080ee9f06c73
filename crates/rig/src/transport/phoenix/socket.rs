//! One Phoenix socket's channel state, whatever carries it: joins, leaves,
//! heartbeats and the replies RIG 1.x's socket gave. Transports feed it the
//! client's messages and write what it answers. A join is answered, then
//! told the topic's `presence_state`; the device's own arrival comes after
//! as a `presence_diff`, as with 1.x's `after_join`. Dropping the socket (or
//! leaving) is the device's leave.

use serde_json::json;

use super::message::Message;
use crate::{
    hub::ConnId,
    session::{
        channel::{ChannelUser, JoinRefused},
        presence::Tracked,
        Sessions,
    },
};

/// A joined channel: its topic and the device's presence there.
struct Joined {
    topic: String,
    _presence: Option<Tracked>,
}

/// The channels a socket has joined.
pub struct Socket {
    pub id: ConnId,
    pub user: ChannelUser,
    joined: Vec<Joined>,
}

impl Socket {
    pub fn new(id: ConnId, user: ChannelUser) -> Self {
        Socket { id, user, joined: Vec::new() }
    }

    /// Handles one client message; returns the messages to send back.
    pub fn handle(&mut self, sessions: &Sessions, msg: Message) -> Vec<Message> {
        match (msg.topic.as_str(), msg.event.as_str()) {
            ("phoenix", "heartbeat") => vec![msg.reply("ok", json!({}))],
            (_, "phx_join") => self.join(sessions, msg),
            (_, "phx_leave") => {
                let topics = self.topics_without(&msg.topic);
                let _ = sessions.set_channels(self.id, &topics);
                self.joined.retain(|j| j.topic != msg.topic);
                vec![msg.reply("ok", json!({})), Message::push(&msg.join_ref, &msg.topic, "phx_close", json!({}))]
            }
            (topic, _) if self.joined.iter().any(|j| j.topic == topic) => {
                // RIG 1.x's channel had no incoming events: its process crashed on one.
                vec![msg.reply("error", json!({"reason": "unsupported event"}))]
            }
            _ => vec![msg.reply("error", json!({"reason": "unmatched topic"}))],
        }
    }

    fn topics_without(&self, topic: &str) -> Vec<String> {
        self.joined.iter().filter(|j| j.topic != topic).map(|j| j.topic.clone()).collect()
    }

    fn join(&mut self, sessions: &Sessions, msg: Message) -> Vec<Message> {
        if let Err(refused) = sessions.may_join(&self.user, &msg.topic) {
            let response = match refused {
                JoinRefused::Unmatched => json!({"reason": "unmatched topic"}),
                JoinRefused::Unauthorized(text) => json!(text),
                JoinRefused::TooMany(text) => json!({"reason": text}),
                JoinRefused::Gone => json!({"reason": "closed"}),
            };
            return vec![msg.reply("error", response)];
        }
        // A second join of the same topic replaces the first (as Phoenix does).
        let mut topics = self.topics_without(&msg.topic);
        topics.push(msg.topic.clone());
        if let Err(JoinRefused::TooMany(text)) = sessions.set_channels(self.id, &topics) {
            return vec![msg.reply("error", json!({"reason": text}))];
        }
        self.joined.retain(|j| j.topic != msg.topic);
        let state = sessions.presence_state(&msg.topic);
        let presence = match sessions.track_join(&self.user, &msg.topic) {
            Ok(p) => p,
            Err(refused) => {
                let _ = sessions.set_channels(self.id, &self.topics_without(&msg.topic));
                let text = match refused {
                    JoinRefused::TooMany(text) => text,
                    _ => "closed".into(),
                };
                return vec![msg.reply("error", json!({"reason": text}))];
            }
        };
        self.joined.push(Joined { topic: msg.topic.clone(), _presence: presence });
        vec![msg.reply("ok", json!({})), Message::push(&msg.join_ref, &msg.topic, "presence_state", state)]
    }
}
