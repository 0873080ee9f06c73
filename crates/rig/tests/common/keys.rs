//! Keys generated in the test run: an RSA key pair with a self-signed
//! certificate (via the openssl CLI), and JWT signing helpers.

use std::{path::PathBuf, process::Command};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// An RSA key pair: private key PEM, public key PEM, certificate PEM, JWK parts.
pub struct RsaKeys {
    pub private_pem: String,
    pub public_pem: String,
    pub cert_pem: String,
    /// Base64url modulus for a JWK.
    pub n: String,
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").args(args).output().expect("the openssl CLI is installed (scripts/install-test-deps.sh)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

impl RsaKeys {
    pub fn generate() -> RsaKeys {
        let dir = std::env::temp_dir().join(format!("rig-keys-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = |f: &str| -> PathBuf { dir.join(f) };
        let (key, cert) = (p("key.pem"), p("cert.pem"));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=rig-test",
            "-days",
            "1",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ]);
        let public_pem = String::from_utf8(openssl(&["rsa", "-in", key.to_str().unwrap(), "-pubout"])).unwrap();
        let modulus = String::from_utf8(openssl(&["rsa", "-in", key.to_str().unwrap(), "-noout", "-modulus"])).unwrap();
        let hex = modulus.trim().trim_start_matches("Modulus=");
        let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        let keys = RsaKeys {
            private_pem: std::fs::read_to_string(&key).unwrap(),
            public_pem,
            cert_pem: std::fs::read_to_string(&cert).unwrap(),
            n: URL_SAFE_NO_PAD.encode(bytes),
        };
        let _ = std::fs::remove_dir_all(dir);
        keys
    }

    /// Signs `claims` (plus a one-minute `exp`) with RS256 and key id `kid`.
    pub fn sign(&self, claims: Value, kid: Option<&str>) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_string);
        jsonwebtoken::encode(&header, &with_exp(claims, 60), &EncodingKey::from_rsa_pem(self.private_pem.as_bytes()).unwrap()).unwrap()
    }

    /// This key as a JWK with key id `kid`.
    pub fn jwk(&self, kid: &str) -> Value {
        json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": self.n, "e": "AQAB"})
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64
}

/// `claims` with `exp` set `secs` seconds from now (negative: already expired).
pub fn with_exp(claims: Value, secs: i64) -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let mut c = claims;
    c.as_object_mut().unwrap().entry("exp").or_insert(json!(now + secs));
    c
}

/// An HS* token with an arbitrary secret and header.
pub fn sign_hs(claims: Value, secret: &[u8], alg: Algorithm) -> String {
    jsonwebtoken::encode(&Header::new(alg), &claims, &EncodingKey::from_secret(secret).unwrap()).unwrap()
}

/// A token with `"alg": "none"` and no signature.
pub fn unsigned(claims: Value) -> String {
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let c = URL_SAFE_NO_PAD.encode(with_exp(claims, 60).to_string());
    format!("{h}.{c}.")
}
