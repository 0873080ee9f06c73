//! Keeps the proxy's API definitions the same on every node: local changes
//! (file config at start, `/v3/apis` calls) go out, peers' come in. Of two
//! versions the higher `ref_number` wins, then the later write, so a restarted
//! node's file config (ref 0) never undoes a runtime change (rig-spec 10.2).

use tokio::sync::broadcast::error::RecvError;

use super::store::ApiStore;
use crate::cluster::{self, Cluster};

/// Runs until the store or the cluster stops.
pub async fn apis(store: &ApiStore, cluster: &Cluster) {
    let publish = |def: serde_json::Value| {
        let Some(id) = def.get("id").and_then(|v| v.as_str()).map(str::to_string) else { return };
        let version = def.get("ref_number").and_then(|v| v.as_u64()).unwrap_or(0);
        cluster.replicate_versioned(cluster::APIS, &id, def, version);
    };
    let mut local = store.subscribe();
    let (current, mut remote) = cluster.watch(cluster::APIS);
    for e in current {
        store.apply_remote(e.value);
    }
    store.all().into_iter().for_each(publish);
    loop {
        tokio::select! {
            change = local.recv() => match change {
                Ok(def) => publish(def),
                Err(RecvError::Lagged(_)) => store.all().into_iter().for_each(publish),
                Err(RecvError::Closed) => return,
            },
            entry = remote.recv() => match entry {
                Ok(e) => {
                    store.apply_remote(e.value);
                }
                Err(RecvError::Lagged(_)) => cluster.entries(cluster::APIS).into_iter().for_each(|e| {
                    store.apply_remote(e.value);
                }),
                Err(RecvError::Closed) => return,
            },
        }
    }
}
