//! Ending sessions: a blacklist entry refuses a session's tokens and closes
//! its connections on every node; ending a session only closes them.

use std::time::Duration;

use super::Sessions;
use crate::cluster;

impl Sessions {
    /// Blacklists `session` on every node: refuses its tokens and closes its
    /// connections here now, elsewhere as soon as the entry arrives. Returns
    /// how many connections were closed here.
    pub fn blacklist(&self, session: &str, ttl: Duration) -> usize {
        let until = self.auth.blacklist.add(session, ttl);
        let killed = self.hub.kill_session(session);
        if let Some(c) = &self.cluster {
            c.replicate(cluster::BLACKLIST, session, serde_json::Value::Null, Some(until));
        }
        killed
    }

    /// Closes `session`'s connections on every node, without blacklisting it.
    /// Returns how many were closed here.
    pub fn end(&self, session: &str) -> usize {
        if let Some(c) = &self.cluster {
            c.kill_session(session);
        }
        self.hub.kill_session(session)
    }

    /// In a cluster, the task that applies blacklist entries learned from
    /// peers: their tokens are refused and their connections here closed.
    pub fn follow_blacklist(&self) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let cluster = self.cluster.clone()?;
        let (auth, hub) = (self.auth.clone(), self.hub.clone());
        Some(async move {
            use tokio::sync::broadcast::error::RecvError;
            let apply = |e: &cluster::Entry| {
                let Some(until) = e.expires_at else { return };
                auth.blacklist.add_until(&e.key, cluster::replicated::from_ms(until));
                let killed = hub.kill_session(&e.key);
                if killed > 0 {
                    tracing::info!(session_connections = killed, origin = %e.origin, "Session blacklisted on another node.");
                }
            };
            let (current, mut updates) = cluster.watch(cluster::BLACKLIST);
            current.iter().for_each(apply);
            loop {
                match updates.recv().await {
                    Ok(e) => apply(&e),
                    Err(RecvError::Lagged(_)) => cluster.entries(cluster::BLACKLIST).iter().for_each(apply),
                    Err(RecvError::Closed) => return,
                }
            }
        })
    }
}
