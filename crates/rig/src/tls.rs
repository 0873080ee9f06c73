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

/// Outbound trust (`RIG_EXTRA_CA_CERTS`): CA certificates every outbound HTTPS
/// client accepts besides the system's (or, without any, the Mozilla) roots:
/// JWKS, check URLs, the schema registry, proxy backends, OTLP/Zipkin.
#[derive(Debug, Clone, Default)]
pub struct Trust(Arc<Vec<CertificateDer<'static>>>);

impl Trust {
    /// Reads every certificate of the comma-separated PEM files in `paths`.
    pub fn load(paths: &str) -> Result<Trust, String> {
        let mut certs = Vec::new();
        for path in paths.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let found: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<_, _>>())
                .map_err(|e| format!("{path:?}: {e}"))?;
            if found.is_empty() {
                return Err(format!("{path:?} holds no PEM certificate"));
            }
            certs.extend(found);
        }
        Ok(Trust(Arc::new(certs)))
    }

    pub fn extra(&self) -> &[CertificateDer<'static>] {
        &self.0
    }

    /// A reqwest client builder that also trusts the extra certificates.
    pub fn reqwest(&self, mut builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        for cert in self.0.iter() {
            if let Ok(c) = reqwest::Certificate::from_der(cert) {
                builder = builder.add_root_certificate(c);
            }
        }
        builder
    }

    /// The system's roots (Mozilla's when the system has none) plus the extra ones.
    pub fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            tracing::info!("No usable system CA certificates; outbound HTTPS is checked against the built-in Mozilla roots.");
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        roots.add_parsable_certificates(self.0.iter().cloned());
        roots
    }
}
