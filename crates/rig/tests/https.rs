//! HTTPS with a certificate and an encrypted key generated here: both ports,
//! HTTP/2 for SSE, and clear start-up errors for bad settings.

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

struct Files {
    _dir: TempDir,
    cert: String,
    key: String,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A self-signed certificate for 127.0.0.1 and its key, encrypted with `pass`.
fn certificate(pass: &str) -> Files {
    let dir = std::env::temp_dir().join(format!("rig-tls-{}-{:?}", std::process::id(), std::thread::current().id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-passout", &format!("pass:{pass}")])
        .args(["-keyout", key.to_str().unwrap(), "-out", cert.to_str().unwrap()])
        .output()
        .expect("the openssl CLI is installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key_pem = std::fs::read_to_string(&key).unwrap();
    assert!(key_pem.contains("ENCRYPTED PRIVATE KEY"), "openssl wrote an encrypted PKCS#8 key");
    Files { cert: cert.to_str().unwrap().into(), key: key.to_str().unwrap().into(), _dir: TempDir(dir) }
}

/// A gateway serving HTTPS on both ports with `files` (key pass phrase `s3cret`), and `extra` variables.
async fn https_rig(files: &Files, extra: &[(&str, &str)]) -> TestRig {
    let mut vars = vec![
        ("HTTPS_CERTFILE", files.cert.as_str()),
        ("HTTPS_KEYFILE", files.key.as_str()),
        ("HTTPS_KEYFILE_PASS", "s3cret"),
        ("INBOUND_HTTPS_PORT", "0"),
        ("API_HTTPS_PORT", "0"),
    ];
    vars.extend_from_slice(extra);
    TestRig::start(&vars).await
}

fn client_trusting(cert: &str) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(cert).unwrap()).unwrap();
    reqwest::Client::builder().add_root_certificate(ca).use_rustls_tls().build().unwrap()
}

#[tokio::test]
async fn sse_over_https_uses_http2_and_both_ports_answer() {
    let files = certificate("s3cret");
    let rig = https_rig(&files, &[("RIG_HEARTBEAT_INTERVAL_MS", "100")]).await;
    let (public, internal) = rig.app.https_addrs.expect("HTTPS is on");
    let client = client_trusting(&files.cert);
    let health = client.get(format!("https://{internal}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let subs = enc(r#"[{"eventType":"greeting"}]"#);
    let url = format!("https://{public}/_rig/v1/connection/sse?subscriptions={subs}");
    let probe = client.get(&url).send().await.unwrap();
    assert_eq!(probe.version(), reqwest::Version::HTTP_2, "ALPN picked HTTP/2");
    drop(probe);
    let mut sse = SseClient::connect_using(&client, &url, &[]).await;
    assert_eq!(sse.status, 200);
    sse.greeted().await;
    rig.publish(&greeting("tls", json!({}))).await;
    assert_eq!(sse.next_event().await.unwrap().json()["id"], "tls");
    // Keep-alives from the node's heartbeat sweep reach hyper's streams too.
    while !sse.next().await.expect("stream open").name.starts_with(": heartbeat") {}
    // Plain HTTP stays on.
    assert_eq!(rig.http.get(rig.url("/_rig/health")).send().await.unwrap().status(), 200);
}

#[test]
fn bad_https_settings_stop_the_start_with_the_variable_named() {
    let files = certificate("right");
    let cases: [&[(&str, &str)]; 3] = [
        &[("HTTPS_CERTFILE", &files.cert)],
        &[("HTTPS_CERTFILE", &files.cert), ("HTTPS_KEYFILE", &files.key), ("HTTPS_KEYFILE_PASS", "wrong")],
        &[("HTTPS_CERTFILE", "/nonexistent.pem"), ("HTTPS_KEYFILE", &files.key)],
    ];
    for vars in cases {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rig"));
        cmd.env("INBOUND_PORT", "0").env("API_HTTP_PORT", "0");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(64), "{vars:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("HTTPS_"), "{vars:?}: {err}");
    }
}

#[tokio::test]
async fn outbound_https_trusts_the_extra_ca_certificates() {
    // The backend: a second gateway serving HTTPS with a certificate no system knows.
    let files = certificate("s3cret");
    let backend = https_rig(&files, &[]).await;
    let (public, _) = backend.app.https_addrs.expect("HTTPS is on");
    let api = json!({"id": "private", "name": "private",
        "proxy": {"target_url": "https://127.0.0.1", "port": public.port()},
        "version_data": {"default": {"endpoints": [{"id": "h", "method": "GET", "path_regex": "/backend/_rig/health", "path_replacement": "/_rig/health"}]}}});
    let config = json!([api]).to_string();
    let without = TestRig::start(&[("PROXY_CONFIG_FILE", &config)]).await;
    let r = without.http.get(without.url("/backend/_rig/health")).send().await.unwrap();
    assert_eq!(r.status(), 502, "an unknown CA is refused");
    let with = TestRig::start(&[("PROXY_CONFIG_FILE", &config), ("RIG_EXTRA_CA_CERTS", &files.cert)]).await;
    let r = with.http.get(with.url("/backend/_rig/health")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap().as_str()), (200, "OK"), "trusted through RIG_EXTRA_CA_CERTS");
}
