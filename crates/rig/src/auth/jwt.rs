//! JWT verification with `JWT_SECRET_KEY` / `JWT_ALG`, RIG's rules: the header
//! algorithm must be the configured one, `exp` is required.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// Verification settings, parsed once at start.
#[derive(Clone)]
pub struct JwtConfig {
    alg: Algorithm,
    key: Option<DecodingKey>,
    /// JSON Pointer to the session id (`JWT_SESSION_FIELD`).
    pub session_field: String,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("JwtConfig").field("alg", &self.alg).field("session_field", &self.session_field).finish()
    }
}

/// Why a token was refused; `Display` gives RIG's reason texts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JwtError {
    #[error("not a token: empty")]
    Empty,
    #[error("Invalid signature")]
    InvalidSignature,
    #[error("token expired")]
    Expired,
    #[error("Could not verify token")]
    Malformed,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("no key to verify the token with (JWT_SECRET_KEY or JWT_JWKS_URL)")]
    NoKey,
    #[error("no key with this token's key id (kid)")]
    UnknownKey,
    #[error("Ignoring blacklisted JWT with ID {0:?}.")]
    Blacklisted(String),
}

impl JwtConfig {
    /// Builds the verifier; a PEM key that does not parse is a config error.
    pub fn new(alg: &str, secret: &str, session_field: &str) -> Result<Self, String> {
        let alg: Algorithm = alg.parse().map_err(|_| format!("unsupported JWT algorithm {alg:?}"))?;
        if !rig_core::pointer::is_valid(session_field) {
            return Err(format!("JWT_SESSION_FIELD {session_field:?} is not a JSON Pointer"));
        }
        let key = if secret.is_empty() {
            None
        } else {
            Some(match alg {
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                    DecodingKey::from_secret(secret.as_bytes()).map_err(|e| format!("JWT_SECRET_KEY: {e}"))?
                }
                _ => public_key(alg, secret).map_err(|e| format!("JWT_SECRET_KEY: {e}"))?,
            })
        };
        Ok(JwtConfig { alg, key, session_field: session_field.to_string() })
    }

    /// The configured algorithm (`JWT_ALG`); tokens with another `alg` are refused.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// True when a static key (`JWT_SECRET_KEY`) is configured.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// Verifies signature, algorithm, `exp` and `nbf` with the static key.
    pub fn verify(&self, token: &str) -> Result<Value, JwtError> {
        if token.is_empty() {
            return Err(JwtError::Empty);
        }
        verify_with(token, self.key.as_ref().ok_or(JwtError::NoKey)?, self.alg)
    }

    /// The session id in `claims` (`JWT_SESSION_FIELD`), if it is a non-empty string.
    pub fn session_of<'a>(&self, claims: &'a Value) -> Option<&'a str> {
        rig_core::pointer::resolve(claims, &self.session_field).and_then(Value::as_str).filter(|s| !s.is_empty())
    }
}

/// Verifies `token` with `key` for algorithm `alg` only: a token whose header
/// names another algorithm (`none`, or HS256 signed with an RSA public key) fails.
/// No leeway. `exp` must be later than the current second (RFC 7519 4.1.4: now
/// < exp; the library alone accepts exp == now), `nbf` not later than it; both
/// must be numbers (jsonwebtoken < 10.3 skipped a string `nbf`, CVE-2026-25537).
pub fn verify_with(token: &str, key: &DecodingKey, alg: Algorithm) -> Result<Value, JwtError> {
    let mut validation = Validation::new(alg);
    validation.leeway = 0;
    // Refuses exp - 1 < now, that is exp <= now.
    validation.reject_tokens_expiring_in_less_than = 1;
    validation.validate_aud = false;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp"]);
    jsonwebtoken::decode::<Value>(token, key, &validation).map(|d| d.claims).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::InvalidSignature => JwtError::InvalidSignature,
            ErrorKind::ExpiredSignature | ErrorKind::MissingRequiredClaim(_) => JwtError::Expired,
            ErrorKind::ImmatureSignature => JwtError::NotYetValid,
            _ => JwtError::Malformed,
        }
    })
}

/// A public key from PEM: a `PUBLIC KEY` / `RSA PUBLIC KEY` block or an X.509
/// `CERTIFICATE` (RIG's own test configures a certificate).
fn public_key(alg: Algorithm, pem: &str) -> Result<DecodingKey, String> {
    let rsa =
        matches!(alg, Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512);
    if pem.contains("-----BEGIN CERTIFICATE-----") {
        let key = super::x509::subject_public_key(pem)?;
        return Ok(match alg {
            _ if rsa => DecodingKey::from_rsa_der(&key),
            Algorithm::EdDSA => DecodingKey::from_ed_der(&key),
            _ => DecodingKey::from_ec_der(&key),
        });
    }
    let key = match alg {
        _ if rsa => DecodingKey::from_rsa_pem(pem.as_bytes()),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem.as_bytes()),
        _ => DecodingKey::from_ec_pem(pem.as_bytes()),
    };
    key.map_err(|e| e.to_string())
}

/// The bearer tokens in `Authorization` header values: each header is split on
/// `,`, and only `Bearer <jwt>` credentials count (RIG 2.0+).
pub fn bearer_tokens<'a>(headers: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    headers
        .into_iter()
        .flat_map(|h| h.split(','))
        .filter_map(|c| c.trim().strip_prefix("Bearer ").map(str::trim))
        .filter(|t| !t.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    fn now() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    }

    fn sign(claims: Value, secret: &str, alg: Algorithm) -> String {
        encode(&Header::new(alg), &claims, &EncodingKey::from_secret(secret.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn verifies_hs256_and_reports_rig_reasons() {
        let c = JwtConfig::new("HS256", "secret", "/jti").unwrap();
        let ok = sign(json!({"exp": now() + 60, "jti": "s1"}), "secret", Algorithm::HS256);
        let claims = c.verify(&ok).unwrap();
        assert_eq!(c.session_of(&claims), Some("s1"));
        let wrong = sign(json!({"exp": now() + 60}), "other", Algorithm::HS256);
        assert_eq!(c.verify(&wrong), Err(JwtError::InvalidSignature));
        let expired = sign(json!({"exp": now() - 1}), "secret", Algorithm::HS256);
        assert_eq!(c.verify(&expired), Err(JwtError::Expired));
        let no_exp = sign(json!({"a": 1}), "secret", Algorithm::HS256);
        assert!(c.verify(&no_exp).is_err());
        let other_alg = sign(json!({"exp": now() + 60}), "secret", Algorithm::HS512);
        assert!(c.verify(&other_alg).is_err());
        assert_eq!(c.verify("foobar"), Err(JwtError::Malformed));
        assert_eq!(c.verify(""), Err(JwtError::Empty));
    }

    #[test]
    fn refuses_exp_now_and_nbf_in_the_future_in_any_encoding() {
        let c = JwtConfig::new("HS256", "secret", "/jti").unwrap();
        let t = |claims: Value| c.verify(&sign(claims, "secret", Algorithm::HS256));
        // The current second may tick between signing and checking; exp == now
        // must fail either way, exp == now + 1 passes unless the second ticks.
        assert_eq!(t(json!({"exp": now()})), Err(JwtError::Expired), "RFC 7519: now < exp");
        assert!(t(json!({"exp": now() + 2})).is_ok());
        let future = now() + 3600;
        assert_eq!(t(json!({"exp": future, "nbf": future})), Err(JwtError::NotYetValid));
        assert_eq!(t(json!({"exp": future, "nbf": future.to_string()})), Err(JwtError::Malformed), "GHSA-h395-gr6q-cpjc");
        assert_eq!(t(json!({"exp": future, "nbf": "2999-01-01T00:00:00Z"})), Err(JwtError::Malformed));
        assert_eq!(t(json!({"exp": future.to_string()})), Err(JwtError::Expired), "a string exp is no exp");
        assert!(t(json!({"exp": future, "nbf": now() - 1})).is_ok());
    }

    #[test]
    fn bearer_tokens_split_on_commas_and_need_the_scheme() {
        assert_eq!(bearer_tokens(["Bearer a, Bearer b", "Basic x", "c"]), vec!["a", "b"]);
    }
}
