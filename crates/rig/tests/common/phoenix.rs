//! RIG 1.x frontends for the tests: the official phoenix.js clients (npm
//! `phoenix` 1.2.1, RIG 1.x's, and the latest 1.8) over npm `ws`, driven by
//! tests/phoenix/driver.mjs, and the tokens and `/rg` calls they need.

use std::process::Stdio;

use jsonwebtoken::Algorithm;
use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
};

use super::{keys::sign_hs, PATIENCE, SECRET};

/// tests/phoenix/run.sh: installs the locked clients, then one command per line.
pub struct Driver {
    _child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Driver {
    pub async fn start() -> Driver {
        let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/phoenix/run.sh");
        let mut child = Command::new("bash")
            .arg(&script)
            .env("PHX_WAIT_MS", "15000")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node and npm are needed for the phoenix.js clients");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Driver { _child: child, stdin, stdout }
    }

    pub async fn run(&mut self, cmd: Value) -> Value {
        self.stdin.write_all(format!("{cmd}\n").as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
        // npm ci may run first; the driver bounds every wait itself.
        let line = tokio::time::timeout(std::time::Duration::from_secs(180), self.stdout.next_line())
            .await
            .expect("the phoenix.js driver did not answer")
            .unwrap()
            .expect("the phoenix.js driver exited (see its stderr)");
        let answer: Value = serde_json::from_str(&line).unwrap();
        assert!(answer.get("error").is_none() && answer.get("timeout").is_none(), "{cmd} -> {answer}");
        answer
    }

    pub async fn connect(&mut self, id: &str, lib: &str, url: &str, token: &str, extra: Value) {
        let mut cmd = json!({"op": "connect", "id": id, "lib": lib, "url": url, "token": token});
        cmd.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        assert_eq!(self.run(cmd).await["ok"], true, "{id} ({lib}) connects");
    }

    pub async fn join(&mut self, id: &str, topic: &str) -> Value {
        self.run(json!({"op": "join", "id": id, "topic": topic})).await
    }

    pub async fn next(&mut self, id: &str, topic: &str, event: &str) -> Value {
        self.run(json!({"op": "next", "id": id, "topic": topic, "event": event})).await["payload"].clone()
    }
}

pub fn token(user: &str, roles: &[&str], jti: &str) -> String {
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    sign_hs(json!({"user": user, "roles": roles, "jti": jti, "exp": exp}), SECRET.as_bytes(), Algorithm::HS256)
}

/// A token with RIG 1.x's `/rg` scopes (`scopes.rg.actions`).
pub fn rg_token(actions: &[&str]) -> String {
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    let claims = json!({"user": "ops", "jti": "ops-1", "exp": exp, "scopes": {"rg": {"actions": actions}}});
    sign_hs(claims, SECRET.as_bytes(), Algorithm::HS256)
}

impl Driver {
    /// Waits until `id`'s phoenix.js Presence for `topic` lists `expect` (key -> devices).
    pub async fn presence(&mut self, id: &str, topic: &str, expect: Value) {
        let got = self.run(json!({"op": "presence", "id": id, "topic": topic, "expect": expect})).await;
        assert_eq!(got["presence"], expect, "{id} on {topic}");
    }
}

/// `GET url` with `authorization`; its status and JSON body.
pub async fn get_as(url: &str, authorization: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Polls `GET url` (bounded) until `check` holds for its JSON body; returns that body.
pub async fn eventually_json(url: &str, authorization: Option<&str>, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let (status, body) = get_as(url, authorization).await;
        if status == 200 && check(&body) {
            return body;
        }
        assert!(std::time::Instant::now() < deadline, "GET {url}: {status} {body}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

pub fn socket_url(base: &str) -> String {
    format!("{base}/socket")
}
