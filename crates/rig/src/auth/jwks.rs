//! Keys from a JWKS URL (`JWT_JWKS_URL`): fetched at start, refreshed
//! periodically, and refetched when a token names a key id we do not know yet,
//! so a key rotation needs no restart. Refetches on unknown ids are rate-limited
//! so forged key ids cannot turn the gateway into a request amplifier.

use std::{
    collections::HashMap,
    sync::RwLock,
    time::{Duration, Instant},
};

use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey};
use serde_json::Value;

use super::jwt::{verify_with, JwtError};

/// A JWKS-backed key store.
pub struct Jwks {
    url: String,
    http: reqwest::Client,
    min_refetch: Duration,
    state: RwLock<State>,
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    keys: HashMap<Option<String>, DecodingKey>,
    fetched_at: Option<Instant>,
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
        let stale = self.read().fetched_at.is_none_or(|t| t.elapsed() >= self.min_refetch);
        if stale {
            if let Err(error) = self.refresh().await {
                tracing::warn!(%error, "JWKS refresh failed.");
            }
        }
        let key = self.key(&kid).ok_or(JwtError::UnknownKey)?;
        verify_with(token, &key, alg)
    }

    /// Fetches the key set now (one fetch at a time; the others wait for it).
    pub async fn refresh(&self) -> Result<usize, JwksError> {
        let _one = self.fetching.lock().await;
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
        let mut state = self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        *state = State { keys, fetched_at: Some(Instant::now()) };
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
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
