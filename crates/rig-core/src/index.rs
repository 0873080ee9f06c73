//! The subscription matching index.
//!
//! Per event type, each constraint row (one `oneOf` object with its values
//! resolved to extractor field positions) is stored under exactly one key: the
//! (field, value) pair of its lowest-indexed constrained field. Rows with no
//! effective constraint sit in a per-type wildcard set. Matching an event looks
//! up one bucket per extracted field value and checks only the rows in it, so
//! cost grows with the rows that share a value with the event, not with all rows.
//! Because every row lives in exactly one place, a connection shows up at most
//! once per bucket; the result is de-duplicated across buckets.

use std::{
    collections::{HashMap, HashSet},
    hash::Hash,
    sync::Arc,
};

use serde_json::Value;

use crate::{extractor::ExtractorConfig, pointer, scalar::Scalar, subscription::Subscription};

type FieldKey = (u16, Scalar);
/// The constraints of a row beyond its bucket key.
type Rest = Box<[FieldKey]>;

/// Matching index over connections identified by `K`.
#[derive(Debug)]
pub struct SubscriptionIndex<K> {
    extractors: ExtractorConfig,
    types: HashMap<Arc<str>, TypeIndex<K>>,
    locations: HashMap<K, Vec<Location>>,
    rows: usize,
}

#[derive(Debug)]
struct TypeIndex<K> {
    wildcard: HashSet<K>,
    keyed: HashMap<FieldKey, HashMap<K, Vec<Rest>>>,
}

/// Where a connection's rows are, so removal touches only those buckets.
#[derive(Debug)]
struct Location {
    event_type: Arc<str>,
    key: Option<FieldKey>,
    rows: usize,
}

impl<K> Default for TypeIndex<K> {
    fn default() -> Self {
        TypeIndex { wildcard: HashSet::new(), keyed: HashMap::new() }
    }
}

impl<K: Copy + Eq + Hash + Ord> SubscriptionIndex<K> {
    pub fn new(extractors: ExtractorConfig) -> Self {
        SubscriptionIndex { extractors, types: HashMap::new(), locations: HashMap::new(), rows: 0 }
    }

    /// The extractor config the index resolves fields with.
    pub fn extractors(&self) -> &ExtractorConfig {
        &self.extractors
    }

    /// Number of stored rows (wildcards count once per connection and type).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of connections with at least one row.
    pub fn connections(&self) -> usize {
        self.locations.len()
    }

    /// Replaces all subscriptions of `conn`. Linear in the rows inserted: each
    /// row's location is found by hash, never by scanning the others.
    pub fn set(&mut self, conn: K, subs: &[Subscription]) {
        self.remove(conn);
        let mut locs: HashMap<(Arc<str>, Option<FieldKey>), usize> = HashMap::new();
        for sub in subs {
            let event_type = self.intern(&sub.event_type);
            for row in self.rows_of(sub) {
                let ti = self.types.entry(event_type.clone()).or_default();
                let key = match row {
                    None => {
                        if !ti.wildcard.insert(conn) {
                            continue;
                        }
                        None
                    }
                    Some(mut fields) => {
                        let first = fields.remove(0);
                        ti.keyed.entry(first.clone()).or_default().entry(conn).or_default().push(fields.into());
                        Some(first)
                    }
                };
                self.rows += 1;
                *locs.entry((event_type.clone(), key)).or_default() += 1;
            }
        }
        if !locs.is_empty() {
            let locs = locs.into_iter().map(|((event_type, key), rows)| Location { event_type, key, rows }).collect();
            self.locations.insert(conn, locs);
        }
    }

    /// Removes every row of `conn`.
    pub fn remove(&mut self, conn: K) {
        let Some(locs) = self.locations.remove(&conn) else { return };
        for loc in locs {
            self.rows -= loc.rows;
            let Some(ti) = self.types.get_mut(&loc.event_type) else { continue };
            match &loc.key {
                None => {
                    ti.wildcard.remove(&conn);
                }
                Some(key) => {
                    if let Some(bucket) = ti.keyed.get_mut(key) {
                        bucket.remove(&conn);
                        if bucket.is_empty() {
                            ti.keyed.remove(key);
                        }
                    }
                }
            }
            if ti.wildcard.is_empty() && ti.keyed.is_empty() {
                self.types.remove(&loc.event_type);
            }
        }
    }

    /// True when some connection subscribes to `event_type`.
    pub fn has_type(&self, event_type: &str) -> bool {
        self.types.contains_key(event_type)
    }

    /// Appends every connection with a row matching the event to `out`, each once.
    pub fn matches(&self, event_type: &str, event: &Value, out: &mut Vec<K>) {
        let Some(ti) = self.types.get(event_type) else { return };
        let start = out.len();
        out.extend(ti.wildcard.iter().copied());
        if ti.keyed.is_empty() {
            return;
        }
        let fields = self.extractors.fields(event_type);
        let values: Vec<Option<&Value>> =
            fields.iter().map(|f| pointer::resolve(event, &f.event_pointer).filter(|v| Scalar::from_json(v).is_some())).collect();
        let mut keyed_hits = false;
        for (i, v) in values.iter().enumerate() {
            let Some(key) = v.and_then(Scalar::from_json) else { continue };
            let Some(bucket) = ti.keyed.get(&(i as u16, key)) else { continue };
            for (conn, rests) in bucket {
                let hit = rests.iter().any(|rest| rest.iter().all(|(j, s)| values[*j as usize].is_some_and(|v| s.eq_json(v))));
                if hit {
                    out.push(*conn);
                    keyed_hits = true;
                }
            }
        }
        if keyed_hits {
            out[start..].sort_unstable();
            let mut w = start;
            for r in start..out.len() {
                if r == start || out[r] != out[w - 1] {
                    out[w] = out[r];
                    w += 1;
                }
            }
            out.truncate(w);
        }
    }

    fn intern(&self, event_type: &str) -> Arc<str> {
        match self.types.get_key_value(event_type) {
            Some((k, _)) => k.clone(),
            None => Arc::from(event_type),
        }
    }

    /// The rows of one subscription: `None` is a wildcard row, `Some(fields)` a
    /// constrained one sorted by field position. Unsatisfiable rows (a constraint
    /// value that is an object or array) are left out.
    fn rows_of(&self, sub: &Subscription) -> Vec<Option<Vec<FieldKey>>> {
        let fields = self.extractors.fields(&sub.event_type);
        if sub.one_of.is_empty() || fields.is_empty() {
            return vec![None];
        }
        sub.one_of
            .iter()
            .filter_map(|conj| {
                let mut row = Vec::new();
                for (i, f) in fields.iter().enumerate() {
                    match conj.get(&f.name) {
                        None | Some(Value::Null) => {}
                        Some(v) => row.push((i as u16, Scalar::from_json(v)?)),
                    }
                }
                Some((!row.is_empty()).then_some(row))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
