//! Proxy overhead: the same client sends the same requests to a backend
//! directly, through the gateway (the release `rig` binary, its own process)
//! and through nginx as a reverse proxy (`proxy_pass` to a keep-alive upstream,
//! two workers for two cores), in one run; the report is the latency each way
//! and what each proxy adds.
//!
//! `cargo bench -p rig --bench proxy`; `PROXY_BENCH_REQUESTS` (default 20000)
//! and `PROXY_BENCH_CONCURRENCY` (default `1,32,256`). nginx is Debian's
//! (`apt-get install nginx`); without it the nginx rows are left out.

use std::{
    net::{SocketAddr, TcpListener},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A minimal backend on its own single-threaded runtime (its own thread).
fn start_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let app =
                axum::Router::new().fallback(|| async { ([("content-type", "application/json")], r#"{"status":"ok","items":[1,2,3]}"#) });
            axum::serve(tokio::net::TcpListener::from_std(listener).unwrap(), app).await.unwrap();
        });
    });
    addr
}

struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_gateway(backend: SocketAddr) -> (Gateway, SocketAddr) {
    let (inbound, api) = (free_port(), free_port());
    let config = format!(
        r#"[{{"id":"bench","name":"bench","proxy":{{"target_url":"127.0.0.1","port":{}}},"version_data":{{"default":{{"endpoints":[{{"id":"e","method":"GET","path_regex":"/items/([0-9]+)","path_replacement":"/backend/items/\\1"}}]}}}}}}]"#,
        backend.port()
    );
    let child = Command::new(env!("CARGO_BIN_EXE_rig"))
        .env("INBOUND_PORT", inbound.to_string())
        .env("API_HTTP_PORT", api.to_string())
        .env("RIG_BIND_ADDRESS", "127.0.0.1")
        .env("PROXY_CONFIG_FILE", config)
        .env("LOG_LEVEL", "error")
        .stdout(Stdio::null())
        .spawn()
        .expect("the rig binary starts");
    (Gateway(child), SocketAddr::from(([127, 0, 0, 1], inbound)))
}

/// nginx in front of the same backend, mapping `/items/N` to `/backend/items/N`
/// like the gateway's endpoint; None when nginx is not installed.
struct Nginx(Child, std::path::PathBuf);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn start_nginx(backend: SocketAddr) -> Option<(Nginx, SocketAddr)> {
    let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| std::path::Path::new(p).exists())?;
    let dir = std::env::temp_dir().join(format!("rig-proxy-bench-nginx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let port = free_port();
    let d = dir.display();
    let conf = format!(
        r#"worker_processes 2;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream backend {{ server {backend}; keepalive 256; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location /items/ {{
            proxy_pass http://backend/backend/items/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"#
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).ok()?;
    let child = Command::new(bin)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&path)
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some((Nginx(child, dir), SocketAddr::from(([127, 0, 0, 1], port))))
}

async fn get(client: &HttpClient, uri: &str) {
    let r = client.get(uri.parse().unwrap()).await.expect("request");
    assert_eq!(r.status(), 200, "{uri}");
    r.into_body().collect().await.expect("body");
}

/// `n` requests from `concurrency` workers sharing one pooled client; returns
/// every latency (sorted) and the wall time.
async fn run(client: &Arc<HttpClient>, base: &str, n: usize, concurrency: usize) -> (Vec<Duration>, Duration) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|w| {
            let (client, base) = (client.clone(), base.to_string());
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(n / concurrency + 1);
                for i in (w..n).step_by(concurrency) {
                    let t = Instant::now();
                    get(&client, &format!("{base}{i}")).await;
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    (all, started.elapsed())
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e6
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n = env_or("PROXY_BENCH_REQUESTS", 20_000);
    let levels: Vec<usize> = std::env::var("PROXY_BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "1,32,256".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let backend = start_backend();
    let (_gateway, proxy) = start_gateway(backend);
    let nginx = start_nginx(backend);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let client = Arc::new(Client::builder(TokioExecutor::new()).pool_max_idle_per_host(256).build_http());
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut up = vec![format!("http://{proxy}/_rig/health")];
        up.extend(nginx.as_ref().map(|(_, a)| format!("http://{a}/items/0")));
        for u in &up {
            while client.get(u.parse().unwrap()).await.map(|r| r.status() != 200).unwrap_or(true) {
                assert!(Instant::now() < deadline, "{u} did not come up");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let mut paths = vec![("direct", format!("http://{backend}/backend/items/")), ("rig", format!("http://{proxy}/items/"))];
        match &nginx {
            Some((_, a)) => paths.push(("nginx", format!("http://{a}/items/"))),
            None => println!("nginx not installed (apt-get install nginx): no nginx rows"),
        }
        println!("proxy overhead: {n} GET requests per run, same client and backend (p50 / p99 / p99.9 in µs)");
        for &c in &levels {
            // Warm every path (connection pools, caches) before measuring.
            for (_, base) in &paths {
                run(&client, base, 1000, c).await;
            }
            let mut results = Vec::new();
            for (name, base) in &paths {
                let (l, t) = run(&client, base, n, c).await;
                println!(
                    "  concurrency {c:>3} {name:<8} p50 {:>7.1}  p99 {:>7.1}  p99.9 {:>7.1}  {:>7.0} req/s",
                    pct(&l, 0.5),
                    pct(&l, 0.99),
                    pct(&l, 0.999),
                    n as f64 / t.as_secs_f64()
                );
                results.push((name, l));
            }
            let direct = &results[0].1;
            for (name, l) in &results[1..] {
                println!(
                    "  concurrency {c:>3} {:<8} p50 {:>7.1}  p99 {:>7.1}",
                    format!("+{name}"),
                    pct(l, 0.5) - pct(direct, 0.5),
                    pct(l, 0.99) - pct(direct, 0.99)
                );
            }
        }
    });
}
