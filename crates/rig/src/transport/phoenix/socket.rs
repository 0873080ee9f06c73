//! One Phoenix socket's channel state, whatever carries it: joins, leaves,
//! heartbeats and the replies RIG 1.x's socket gave. Transports feed it the
//! client's messages and write what it answers.

use serde_json::{json, Value};

use super::message::Message;
use crate::{
    hub::ConnId,
    session::{
        channel::{ChannelUser, JoinRefused},
        Sessions,
    },
};

/// The channels a socket has joined, with their join refs.
pub struct Socket {
    pub id: ConnId,
    pub user: ChannelUser,
    joined: Vec<(String, Value)>,
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
                self.joined.retain(|(t, _)| *t != msg.topic);
                vec![msg.reply("ok", json!({})), Message::push(&msg.join_ref, &msg.topic, "phx_close", json!({}))]
            }
            (topic, _) if self.joined.iter().any(|(t, _)| t == topic) => {
                // RIG 1.x's channel had no incoming events: its process crashed on one.
                vec![msg.reply("error", json!({"reason": "unsupported event"}))]
            }
            _ => vec![msg.reply("error", json!({"reason": "unmatched topic"}))],
        }
    }

    fn topics_without(&self, topic: &str) -> Vec<String> {
        self.joined.iter().filter(|(t, _)| t != topic).map(|(t, _)| t.clone()).collect()
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
        self.joined.retain(|(t, _)| *t != msg.topic);
        self.joined.push((msg.topic.clone(), msg.join_ref.clone()));
        vec![msg.reply("ok", json!({}))]
    }
}
