//! HTTPS settings: `HTTPS_CERTFILE`, `HTTPS_KEYFILE`, `HTTPS_KEYFILE_PASS`.
//! Keys may be PKCS#8 encrypted (`ENCRYPTED PRIVATE KEY`, what `openssl` writes
//! when given a pass phrase). ALPN offers HTTP/2 first, so SSE streams over
//! TLS share one connection per browser.

use std::sync::Arc;

use pkcs8::{der::Decode, EncryptedPrivateKeyInfo};
use rustls::ServerConfig;
use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Builds the TLS server config; `Ok(None)` when HTTPS is off (all three empty).
pub fn server_config(cert: &str, key: &str, pass: &str) -> Result<Option<Arc<ServerConfig>>, String> {
    match (cert.is_empty(), key.is_empty(), pass.is_empty()) {
        (true, true, true) => return Ok(None),
        (false, false, _) => {}
        _ => return Err("HTTPS needs both HTTPS_CERTFILE and HTTPS_KEYFILE (HTTPS_KEYFILE_PASS only with them)".into()),
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("HTTPS_CERTFILE {cert:?}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("HTTPS_CERTFILE {cert:?}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("HTTPS_CERTFILE {cert:?} holds no certificate"));
    }
    let key = private_key(key, pass)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("HTTPS_CERTFILE/HTTPS_KEYFILE do not match: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(Arc::new(config)))
}

fn private_key(path: &str, pass: &str) -> Result<PrivateKeyDer<'static>, String> {
    let pem = std::fs::read_to_string(path).map_err(|e| format!("HTTPS_KEYFILE {path:?}: {e}"))?;
    if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        if pass.is_empty() {
            return Err(format!("HTTPS_KEYFILE {path:?} is encrypted: set HTTPS_KEYFILE_PASS"));
        }
        let (_, der) = pkcs8::der::pem::decode_vec(pem.as_bytes()).map_err(|e| format!("HTTPS_KEYFILE {path:?}: {e}"))?;
        let info = EncryptedPrivateKeyInfo::from_der(&der).map_err(|e| format!("HTTPS_KEYFILE {path:?}: {e}"))?;
        let plain = info.decrypt(pass).map_err(|_| format!("HTTPS_KEYFILE {path:?}: wrong HTTPS_KEYFILE_PASS"))?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(plain.as_bytes().to_vec())));
    }
    if pem.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(format!(
            "HTTPS_KEYFILE {path:?} uses the legacy OpenSSL encryption; convert it with `openssl pkcs8 -topk8 -in old.pem -out new.pem`"
        ));
    }
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| format!("HTTPS_KEYFILE {path:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_when_empty_and_incomplete_settings_are_errors() {
        assert!(server_config("", "", "").unwrap().is_none());
        assert!(server_config("cert.pem", "", "").is_err());
        assert!(server_config("", "", "pass").is_err());
        assert!(server_config("/nonexistent/cert.pem", "/nonexistent/key.pem", "").unwrap_err().contains("HTTPS_CERTFILE"));
    }
}
