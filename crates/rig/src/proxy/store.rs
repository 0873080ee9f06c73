//! The API definitions of this node (rig-spec 5.2, 6.1, 10.2).
//!
//! Definitions are kept as the JSON RIG stores (with `active`, `ref_number`,
//! `timestamp`, `node_name`); deactivated ones stay so a replica that still has
//! the old version cannot bring it back. Every change compiles the changed
//! definition's routes and swaps in a new [`RouteTable`], so requests read the
//! table without ever waiting for a writer.
//!
//! For replication: local changes are broadcast ([`ApiStore::subscribe`]) and a
//! peer's definitions are merged with [`ApiStore::apply_remote`] (highest
//! `ref_number` wins, a tie goes to the newer `timestamp`).

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::SystemTime,
};

use arc_swap::ArcSwap;
use serde_json::{json, Map, Value};
use tokio::sync::broadcast;

use super::{
    api,
    route::{self, Route, RouteTable},
    validate::{validate, Errors},
};
use crate::support::{
    sync,
    time::{rfc3339_micros, Utc},
};

/// Fields RIG manages; values for them in request bodies are ignored.
const METADATA: [&str; 6] = ["active", "ref_number", "timestamp", "node_name", "phx_ref", "phx_ref_prev"];

#[derive(Debug)]
pub enum CreateError {
    Invalid(Errors),
    /// An active definition with this id exists.
    Exists,
}

#[derive(Debug)]
pub enum UpdateError {
    Invalid(Errors),
    /// No active definition with this id.
    NotFound,
}

/// No active definition with this id.
#[derive(Debug)]
pub struct NotFound;

struct Stored {
    def: Map<String, Value>,
    routes: Arc<Vec<Route>>,
}

pub struct ApiStore {
    node_name: String,
    defs: Mutex<BTreeMap<String, Stored>>,
    table: ArcSwap<RouteTable>,
    changes: broadcast::Sender<Value>,
}

impl ApiStore {
    /// Starts with `initial` (from `PROXY_CONFIG_FILE`, already validated);
    /// of two definitions with the same id the first is kept, as RIG does.
    pub fn new(node_name: &str, initial: &[Value]) -> Self {
        let store = ApiStore {
            node_name: node_name.to_string(),
            defs: Mutex::default(),
            table: ArcSwap::default(),
            changes: broadcast::channel(256).0,
        };
        {
            let mut defs = store.lock();
            for def in initial {
                let Some(params) = def.as_object() else { continue };
                let id = params.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
                if defs.contains_key(&id) {
                    tracing::warn!(%id, "PROXY_CONFIG_FILE defines this API twice; the first definition is used.");
                    continue;
                }
                let def = store.with_defaults(params, 0);
                match compile(&def) {
                    Ok(routes) => {
                        defs.insert(id, Stored { def, routes });
                    }
                    Err(error) => tracing::error!(%id, %error, "API definition from PROXY_CONFIG_FILE not loaded."),
                }
            }
            store.publish_table(&defs);
        }
        store
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Stored>> {
        sync::lock(&self.defs)
    }

    /// The routes requests are matched against (a snapshot).
    pub fn routes(&self) -> Arc<RouteTable> {
        self.table.load_full()
    }

    /// Active definitions, by id.
    pub fn list_active(&self) -> Vec<Value> {
        self.lock().values().filter(|s| is_active(&s.def)).map(|s| Value::Object(s.def.clone())).collect()
    }

    /// Every stored definition, deactivated ones included (what a peer needs).
    pub fn all(&self) -> Vec<Value> {
        self.lock().values().map(|s| Value::Object(s.def.clone())).collect()
    }

    pub fn get_active(&self, id: &str) -> Option<Value> {
        self.lock().get(id).filter(|s| is_active(&s.def)).map(|s| Value::Object(s.def.clone()))
    }

    /// Local changes, each as the definition now stored.
    pub fn subscribe(&self) -> broadcast::Receiver<Value> {
        self.changes.subscribe()
    }

    /// `POST /v3/apis`: a new definition, or one replacing a deactivated one.
    pub fn create(&self, params: &Value) -> Result<(), CreateError> {
        let errors = validate(params);
        if !errors.is_empty() {
            return Err(CreateError::Invalid(errors));
        }
        let params = params.as_object().expect("validated as an object");
        let id = params["id"].as_str().expect("validated as a string").to_string();
        let mut defs = self.lock();
        let ref_number = match defs.get(&id) {
            Some(s) if is_active(&s.def) => return Err(CreateError::Exists),
            Some(s) => ref_number(&s.def) + 1,
            None => 0,
        };
        let def = self.with_defaults(params, ref_number);
        let routes = compile(&def).map_err(CreateError::Invalid)?;
        self.commit(&mut defs, id, Stored { def, routes });
        Ok(())
    }

    /// `PUT /v3/apis/{id}`: the stored definition with the body's top-level keys replaced.
    pub fn update(&self, id: &str, params: &Value) -> Result<(), UpdateError> {
        let errors = validate(params);
        if !errors.is_empty() {
            return Err(UpdateError::Invalid(errors));
        }
        let mut defs = self.lock();
        let current = defs.get(id).filter(|s| is_active(&s.def)).ok_or(UpdateError::NotFound)?;
        let mut def = current.def.clone();
        def.extend(without_metadata(params.as_object().expect("validated as an object")));
        self.stamp(&mut def, ref_number(&current.def) + 1);
        let routes = compile(&def).map_err(UpdateError::Invalid)?;
        self.commit(&mut defs, id.to_string(), Stored { def, routes });
        Ok(())
    }

    /// `DELETE /v3/apis/{id}`: kept, but inactive.
    pub fn deactivate(&self, id: &str) -> Result<(), NotFound> {
        let mut defs = self.lock();
        let current = defs.get(id).filter(|s| is_active(&s.def)).ok_or(NotFound)?;
        let mut def = current.def.clone();
        def.insert("active".into(), Value::Bool(false));
        self.stamp(&mut def, ref_number(&current.def) + 1);
        self.commit(&mut defs, id.to_string(), Stored { def, routes: Arc::default() });
        Ok(())
    }

    /// A peer's definition: adopted when this node has none, or it has a higher
    /// `ref_number`, or the same one and a newer `timestamp`. Not re-broadcast.
    /// Returns whether it was adopted.
    pub fn apply_remote(&self, def: Value) -> bool {
        let Value::Object(def) = def else { return false };
        let Some(id) = def.get("id").and_then(Value::as_str).map(str::to_string) else { return false };
        let mut defs = self.lock();
        let newer = match defs.get(&id) {
            None => true,
            Some(local) => {
                let (theirs, ours) = (ref_number(&def), ref_number(&local.def));
                theirs > ours || (theirs == ours && timestamp(&def) > timestamp(&local.def))
            }
        };
        if !newer {
            return false;
        }
        let routes = compile(&def).unwrap_or_else(|errors| {
            tracing::warn!(%id, errors = %errors.summary(), "API definition from a peer cannot be routed.");
            Arc::default()
        });
        defs.insert(id, Stored { def, routes });
        self.publish_table(&defs);
        true
    }

    fn commit(&self, defs: &mut BTreeMap<String, Stored>, id: String, stored: Stored) {
        let change = Value::Object(stored.def.clone());
        defs.insert(id, stored);
        self.publish_table(defs);
        let _ = self.changes.send(change);
    }

    /// Builds and swaps in the table from the compiled routes (APIs by id).
    fn publish_table(&self, defs: &BTreeMap<String, Stored>) {
        let apis = defs.values().filter(|s| !s.routes.is_empty()).map(|s| s.routes.clone()).collect();
        self.table.store(Arc::new(RouteTable::new(apis)));
    }

    /// RIG's defaults for a new definition (rig-spec 6.2).
    fn with_defaults(&self, params: &Map<String, Value>, ref_number: u64) -> Map<String, Value> {
        let mut def: Map<String, Value> = json!({
            "auth_type": "none",
            "auth": {"use_header": false, "header_name": "", "use_query": false, "query_name": ""},
            "proxy": {"use_env": false},
            "versioned": false,
        })
        .as_object()
        .expect("an object")
        .clone();
        def.extend(without_metadata(params));
        if def.get("auth_type").and_then(Value::as_str) == Some("jwt") {
            if let Some(Value::Object(auth)) = def.get_mut("auth") {
                auth.insert("use_header".into(), Value::Bool(true));
                auth.insert("header_name".into(), "Authorization".into());
            }
        }
        def.insert("active".into(), Value::Bool(true));
        self.stamp(&mut def, ref_number);
        def
    }

    fn stamp(&self, def: &mut Map<String, Value>, ref_number: u64) {
        def.insert("ref_number".into(), ref_number.into());
        def.insert("timestamp".into(), rfc3339_micros(SystemTime::now(), Utc::Z).into());
        def.insert("node_name".into(), self.node_name.clone().into());
    }
}

fn without_metadata(params: &Map<String, Value>) -> impl Iterator<Item = (String, Value)> + '_ {
    params.iter().filter(|(k, _)| !METADATA.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone()))
}

fn is_active(def: &Map<String, Value>) -> bool {
    def.get("active") == Some(&Value::Bool(true))
}

fn ref_number(def: &Map<String, Value>) -> u64 {
    def.get("ref_number").and_then(Value::as_u64).unwrap_or(0)
}

/// Timestamps are all written by [`rfc3339`] (fixed width, UTC), so they order as text.
fn timestamp(def: &Map<String, Value>) -> &str {
    def.get("timestamp").and_then(Value::as_str).unwrap_or("")
}

/// The routes of a definition the router uses; none for inactive or versioned ones.
fn compile(def: &Map<String, Value>) -> Result<Arc<Vec<Route>>, Errors> {
    if !api::routable(def) {
        return Ok(Arc::default());
    }
    route::routes(def).map(Arc::new).map_err(|reason| Errors::single("api", "proxy", &reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(id: &str, path: &str) -> Value {
        json!({"id": id, "name": id, "proxy": {"target_url": "localhost", "port": 3000},
            "version_data": {"default": {"endpoints": [{"id": "e", "method": "GET", "path_regex": path}]}}})
    }

    #[test]
    fn create_update_deactivate_and_reactivate() {
        let store = ApiStore::new("rig@test", &[]);
        let mut changes = store.subscribe();
        store.create(&api("a", "/a")).unwrap();
        assert!(matches!(store.create(&api("a", "/a")), Err(CreateError::Exists)));
        let stored = store.get_active("a").unwrap();
        assert_eq!((stored["ref_number"].as_u64(), stored["active"].as_bool()), (Some(0), Some(true)));
        assert_eq!(stored["auth"]["use_header"], false);
        assert_eq!(stored["node_name"], "rig@test");
        assert!(store.routes().find("GET", "/a").is_some());
        store.update("a", &api("a", "/b")).unwrap();
        assert!(store.routes().find("GET", "/a").is_none());
        assert!(store.routes().find("GET", "/b").is_some());
        assert_eq!(store.get_active("a").unwrap()["ref_number"], 1);
        store.deactivate("a").unwrap();
        assert!(store.get_active("a").is_none() && store.list_active().is_empty());
        assert!(store.routes().is_empty());
        assert!(matches!(store.update("a", &api("a", "/b")), Err(UpdateError::NotFound)));
        assert!(store.deactivate("a").is_err());
        store.create(&api("a", "/c")).unwrap();
        assert_eq!(store.get_active("a").unwrap()["ref_number"], 3, "replacing a deactivated one counts on");
        let seen: Vec<u64> = std::iter::from_fn(|| changes.try_recv().ok()).map(|d| d["ref_number"].as_u64().unwrap()).collect();
        assert_eq!(seen, [0, 1, 2, 3]);
    }

    #[test]
    fn jwt_forces_the_authorization_header() {
        let store = ApiStore::new("n", &[]);
        let mut def = api("a", "/a");
        def["auth_type"] = "jwt".into();
        def["auth"] = json!({"use_query": true, "query_name": "token"});
        store.create(&def).unwrap();
        assert_eq!(
            store.get_active("a").unwrap()["auth"],
            json!({"use_header": true, "header_name": "Authorization", "use_query": true, "query_name": "token"})
        );
    }

    #[test]
    fn remote_definitions_merge_by_ref_number_then_timestamp() {
        let store = ApiStore::new("n", &[api("a", "/a")]);
        let mut changes = store.subscribe();
        let mut remote = store.get_active("a").unwrap();
        remote["version_data"]["default"]["endpoints"][0]["path_regex"] = "/remote".into();
        assert!(!store.apply_remote(remote.clone()), "same ref, same timestamp");
        remote["timestamp"] = "2999-01-01T00:00:00.000000Z".into();
        assert!(store.apply_remote(remote.clone()));
        assert!(store.routes().find("GET", "/remote").is_some());
        remote["ref_number"] = 5.into();
        remote["active"] = false.into();
        remote["timestamp"] = "1999-01-01T00:00:00.000000Z".into();
        assert!(store.apply_remote(remote.clone()), "higher ref wins even when older");
        assert!(store.routes().is_empty());
        remote["ref_number"] = 4.into();
        remote["active"] = true.into();
        assert!(!store.apply_remote(remote), "a lower ref cannot resurrect it");
        assert!(changes.try_recv().is_err(), "remote changes are not re-broadcast");
        assert_eq!(store.all().len(), 1);
    }
}
