//! HS256 tokens for the connection-rate scenario.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use ring::hmac;

/// A token for user `sub` with a unique `jti`, valid for an hour.
pub fn hs256(secret: &str, sub: &str, jti: &str, now_secs: u64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = serde_json::json!({"sub": sub, "jti": jti, "exp": now_secs + 3600, "iat": now_secs});
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(hmac::sign(&key, signing_input.as_bytes()).as_ref());
    format!("{signing_input}.{sig}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_has_three_parts_and_verifies() {
        let t = hs256("secret", "u1", "j1", 1000);
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"secret");
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        hmac::verify(&key, format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["exp"], 4600);
    }
}
