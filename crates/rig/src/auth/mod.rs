//! Authentication and authorization.
//!
//! - [`jwt`]: static-key verification (`JWT_SECRET_KEY`, `JWT_ALG`).
//! - [`jwks`]: keys from a JWKS URL, refetched on rotation.
//! - [`x509`]: public keys out of certificates.
//! - [`blacklist`]: blacklisted sessions.
//! - [`check`]: `SUBSCRIPTION_CHECK` / `SUBMISSION_CHECK`.
//! - [`privilege`]: privileged users and user identity.
//! - [`config`]: their settings.
//!
//! [`Auth`] ties them together: every place that accepts a token calls
//! [`Auth::verify`], so blacklisting takes effect everywhere at once.

pub mod api_access;
pub mod blacklist;
pub mod check;
pub mod config;
pub mod jwks;
pub mod jwt;
pub mod privilege;
pub mod x509;

use std::time::Duration;

use serde_json::Value;

use self::{
    blacklist::Blacklist,
    check::{CheckMode, CheckRequest, Decision},
    config::AuthConfig,
    jwks::Jwks,
    jwt::{JwtConfig, JwtError},
};

/// Token verification, blacklist and checks, shared by every handler.
pub struct Auth {
    pub jwt: JwtConfig,
    pub jwks: Option<Jwks>,
    pub blacklist: Blacklist,
    pub privileges: privilege::Privileges,
    http: reqwest::Client,
}

impl Auth {
    /// `trust`: `RIG_EXTRA_CA_CERTS`, for the JWKS and check URLs.
    pub fn new(config: &AuthConfig, trust: &crate::tls::Trust) -> Self {
        let http = trust
            .reqwest(reqwest::Client::builder().timeout(config.check_timeout))
            .build()
            .expect("an HTTP client with default TLS settings builds");
        let jwks = config.jwks_url.as_ref().map(|url| Jwks::new(url.clone(), http.clone(), config.jwks_min_refetch));
        Auth { jwt: config.jwt.clone(), jwks, blacklist: Blacklist::default(), privileges: config.privileges.clone(), http }
    }

    /// Verifies a token (static key, else JWKS) and refuses blacklisted ones:
    /// by `jti` (RIG) and by the `JWT_SESSION_FIELD` value.
    pub async fn verify(&self, token: &str) -> Result<Value, JwtError> {
        if token.is_empty() {
            return Err(JwtError::Empty);
        }
        let claims = match (&self.jwks, self.jwt.has_key()) {
            (Some(jwks), false) => jwks.verify(token, self.jwt.alg()).await?,
            (Some(jwks), true) => match self.jwt.verify(token) {
                Ok(c) => c,
                Err(_) => jwks.verify(token, self.jwt.alg()).await?,
            },
            (None, _) => self.jwt.verify(token)?,
        };
        for id in [claims.get("jti").and_then(Value::as_str), self.jwt.session_of(&claims)].into_iter().flatten() {
            if self.blacklist.contains(id) {
                return Err(JwtError::Blacklisted(id.to_string()));
            }
        }
        Ok(claims)
    }

    /// True when at least one of `tokens` verifies.
    pub async fn any_valid(&self, tokens: &[&str]) -> bool {
        for t in tokens {
            if self.verify(t).await.is_ok() {
                return true;
            }
        }
        false
    }

    /// Runs a check; `request` is only built when an external service is asked.
    pub async fn check(&self, mode: &CheckMode, tokens: &[&str], request: impl FnOnce() -> CheckRequest) -> Decision {
        match mode {
            CheckMode::NoCheck => Decision::Allow,
            CheckMode::JwtValidation if self.any_valid(tokens).await => Decision::Allow,
            CheckMode::JwtValidation => Decision::Deny(axum::http::StatusCode::FORBIDDEN),
            CheckMode::External(url) => check::ask(&self.http, url, request()).await,
        }
    }

    /// Keeps JWKS keys fresh and the blacklist small; runs forever.
    pub async fn maintain(&self, jwks_refresh: Duration) {
        let mut tick = tokio::time::interval(jwks_refresh.min(Duration::from_secs(60)));
        let mut last_jwks: Option<tokio::time::Instant> = None;
        loop {
            tick.tick().await;
            self.blacklist.purge();
            let Some(jwks) = &self.jwks else { continue };
            if last_jwks.is_none_or(|t| t.elapsed() >= jwks_refresh) {
                last_jwks = Some(tokio::time::Instant::now());
                match jwks.refresh().await {
                    Ok(n) => tracing::debug!(keys = n, "JWKS refreshed."),
                    Err(error) => tracing::warn!(%error, "JWKS refresh failed."),
                }
            }
        }
    }
}
