//! Keys from a JWKS URL (`JWT_JWKS_URL`): fetched at start, refreshed
//! periodically, and refetched when a token names a key id we do not know yet,
//! so a key rotation needs no restart. Refetches on unknown ids are rate-limited
//! so forged key ids cannot turn the gateway into a request amplifier: every
//! attempt counts toward the floor (`JWT_JWKS_MIN_REFETCH_MS`), failed ones
//! too, and misses that arrive while a fetch is under way wait for that fetch
//! instead of starting their own (single flight).

use std::{
    collections::HashMap,
    sync::RwLock,
    time::{Duration, Instant},
};

use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey};
use serde_json::Value;

use super::jwt::{verify_with, JwtError};
use crate::support::sync;

/// A JWKS-backed key store.
pub struct Jwks {
    url: String,
    http: reqwest::Client,
    min_refetch: Duration,
    state: RwLock<State>,
    /// Held for the duration of a fetch: one fetch at a time.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    keys: HashMap<Option<String>, DecodingKey>,
    /// When the last fetch started, whatever its outcome.
    attempted_at: Option<Instant>,
    /// Fetches started so far: a miss that waited for the lock sees whether
    /// one ran meanwhile and then shares its outcome.
    attempts: u64,
}

/// Why the key set could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("fetching {url}: {source}")]
    Fetch { url: String, source: reqwest::Error },
    #[error("{url} answered {status}")]
    Status { url: String, status: reqwest::StatusCode },
    #[error("{url} is not a JWK set: {source}")]
    Parse { url: String, source: serde_json::Error },
}

impl Jwks {
    pub fn new(url: String, http: reqwest::Client, min_refetch: Duration) -> Self {
        Jwks { url, http, min_refetch, state: RwLock::new(State::default()), fetching: tokio::sync::Mutex::new(()) }
    }

    /// Verifies a token with the key its `kid` names (or the only key, if it names none).
    pub async fn verify(&self, token: &str, alg: Algorithm) -> Result<Value, JwtError> {
        let kid = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?.kid;
        if let Some(key) = self.key(&kid) {
            return verify_with(token, &key, alg);
        }
        self.refetch_for_miss().await;
        let key = self.key(&kid).ok_or(JwtError::UnknownKey)?;
        verify_with(token, &key, alg)
    }

    /// A token named a key we lack: fetch, unless a fetch started within the
    /// floor, is under way, or ran since we looked.
    async fn refetch_for_miss(&self) {
        let (seen, due) = {
            let s = self.read();
            (s.attempts, s.attempted_at.is_none_or(|t| t.elapsed() >= self.min_refetch))
        };
        if !due {
            return;
        }
        let _one = match self.fetching.try_lock() {
            Ok(one) => one,
            // A fetch is under way: its outcome is ours.
            Err(_) => {
                drop(self.fetching.lock().await);
                return;
            }
        };
        if self.read().attempts != seen {
            return;
        }
        if let Err(error) = self.fetch_locked().await {
            tracing::warn!(%error, "JWKS refresh failed.");
        }
    }

    /// Fetches the key set now (one fetch at a time; the others wait for it).
    pub async fn refresh(&self) -> Result<usize, JwksError> {
        let _one = self.fetching.lock().await;
        self.fetch_locked().await
    }

    /// One fetch; the caller holds `fetching`. The attempt is recorded before
    /// the request goes out, so a failure counts toward the floor. On failure
    /// the keys we had stay in use.
    async fn fetch_locked(&self) -> Result<usize, JwksError> {
        {
            let mut state = self.write();
            state.attempted_at = Some(Instant::now());
            state.attempts += 1;
        }
        let url = &self.url;
        let resp = self.http.get(url).send().await.map_err(|source| JwksError::Fetch { url: url.clone(), source })?;
        if !resp.status().is_success() {
            return Err(JwksError::Status { url: url.clone(), status: resp.status() });
        }
        let body = resp.bytes().await.map_err(|source| JwksError::Fetch { url: url.clone(), source })?;
        let set: JwkSet = serde_json::from_slice(&body).map_err(|source| JwksError::Parse { url: url.clone(), source })?;
        let keys: HashMap<Option<String>, DecodingKey> = set
            .keys
            .iter()
            .filter_map(|jwk| match DecodingKey::from_jwk(jwk) {
                Ok(k) => Some((jwk.common.key_id.clone(), k)),
                Err(error) => {
                    tracing::warn!(kid = ?jwk.common.key_id, %error, "Skipping unusable JWK.");
                    None
                }
            })
            .collect();
        let n = keys.len();
        self.write().keys = keys;
        Ok(n)
    }

    fn key(&self, kid: &Option<String>) -> Option<DecodingKey> {
        let state = self.read();
        match state.keys.get(kid) {
            Some(k) => Some(k.clone()),
            None if kid.is_none() && state.keys.len() == 1 => state.keys.values().next().cloned(),
            None => None,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        sync::read(&self.state)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        sync::write(&self.state)
    }
}
