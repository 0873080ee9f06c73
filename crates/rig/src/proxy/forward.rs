//! Target `http` (rig-spec 6.8): the upstream request (URL, headers, body) and
//! the pooled client that sends it. Protocol details only; the handler decides
//! what to answer.

use std::{
    future::Future,
    net::IpAddr,
    pin::Pin,
    sync::OnceLock,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::{TokioExecutor, TokioTimer},
};

use super::api::Upstream;
use crate::{telemetry::TraceContext, tls::Trust};

/// Connection set-up limit (RIG's HTTP client default is about 8 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(8);
/// Idle pooled connections are closed after this.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Headers that belong to one hop (RIG's list plus RFC 9110's `te` and
/// `trailer`); headers named in `connection` are dropped as well.
const HOP_BY_HOP: [&str; 8] =
    ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "http2-settings", "te", "trailer"];

/// Methods RIG forwards; any other matched method gets 405.
pub fn forwardable(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE | Method::HEAD | Method::OPTIONS)
}

/// Why an upstream request failed.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Unreachable(String),
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The pooled upstream client, built on first use (loading the system's CA
/// certificates takes a few milliseconds the gateway's start should not pay).
pub struct Upstreams {
    client: OnceLock<HttpClient>,
    trust: Trust,
}

impl Upstreams {
    pub fn new(trust: Trust) -> Self {
        Upstreams { client: OnceLock::new(), trust }
    }

    fn client(&self) -> &HttpClient {
        self.client.get_or_init(|| {
            let mut http = HttpConnector::new();
            http.set_connect_timeout(Some(CONNECT_TIMEOUT));
            http.set_nodelay(true);
            http.enforce_http(false);
            let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default TLS versions")
                .with_root_certificates(self.trust.roots())
                .with_no_client_auth();
            let tls = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
            let connector = tls.https_or_http().enable_http1().wrap_connector(http);
            Client::builder(TokioExecutor::new()).pool_timer(TokioTimer::new()).pool_idle_timeout(POOL_IDLE_TIMEOUT).build(connector)
        })
    }

    /// Sends `request`; the response head must arrive within `recv_timeout`.
    pub async fn send(&self, request: Request<Full<Bytes>>, recv_timeout: Duration) -> Result<Response<Incoming>, ForwardError> {
        match tokio::time::timeout(recv_timeout, self.client().request(request)).await {
            Err(_) => Err(ForwardError::Timeout(recv_timeout)),
            Ok(Err(error)) => {
                let mut reason = error.to_string();
                let mut source = std::error::Error::source(&error);
                while let Some(s) = source {
                    reason = format!("{reason}: {s}");
                    source = s.source();
                }
                Err(ForwardError::Unreachable(reason))
            }
            Ok(Ok(response)) => Ok(response),
        }
    }
}

/// `<scheme>://<host>:<port><path>?<query>`; with a correlation id, any
/// `correlation` parameter of the request is replaced by it.
pub fn upstream_uri(upstream: &Upstream, path: &str, query: Option<&str>, correlation: Option<&str>) -> Result<Uri, String> {
    let mut params: Vec<&str> = query.unwrap_or("").split('&').filter(|p| !p.is_empty()).collect();
    let id;
    if let Some(c) = correlation {
        params.retain(|p| p.split('=').next() != Some("correlation"));
        id = format!("correlation={c}");
        params.push(&id);
    }
    let query = if params.is_empty() { String::new() } else { format!("?{}", params.join("&")) };
    let uri = format!("{}://{}{}{query}", upstream.scheme, upstream.authority(), path);
    uri.parse().map_err(|e| format!("{uri:?} is not a valid URL: {e}"))
}

/// What the proxy knows about the hop it adds.
pub struct Hop<'a> {
    pub client_ip: IpAddr,
    /// RIG's `forwarded: by=` value (the address of `HOST`).
    pub by: &'a str,
    pub trace: &'a TraceContext,
}

/// The request headers for the upstream: the client's minus hop-by-hop ones,
/// with `host`, `forwarded` and the trace context replaced.
pub fn upstream_headers(client: &HeaderMap, upstream: &Upstream, hop: &Hop<'_>) -> HeaderMap {
    let mut out = without_hop_by_hop(client);
    // Recomputed for the body actually sent; `expect` would need a 100 exchange we do not do.
    for name in [header::HOST, header::CONTENT_LENGTH, header::EXPECT, HeaderName::from_static("forwarded")] {
        out.remove(&name);
    }
    out.remove("traceparent");
    out.remove("tracestate");
    if let Ok(host) = HeaderValue::from_str(&upstream.authority()) {
        out.insert(header::HOST, host);
    }
    if let Ok(forwarded) = HeaderValue::from_str(&format!("for={};by={}", forwarded_node(hop.client_ip), hop.by)) {
        out.insert(HeaderName::from_static("forwarded"), forwarded);
    }
    if let Ok(tp) = HeaderValue::from_str(&hop.trace.traceparent()) {
        out.insert(HeaderName::from_static("traceparent"), tp);
    }
    if let Some(ts) = hop.trace.tracestate.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
        out.insert(HeaderName::from_static("tracestate"), ts);
    }
    out
}

/// RFC 7239 node: an IPv6 address is quoted and bracketed.
fn forwarded_node(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => format!("\"[{v6}]\""),
        },
    }
}

/// `headers` minus the hop-by-hop ones (also used on upstream responses).
pub fn without_hop_by_hop(headers: &HeaderMap) -> HeaderMap {
    let nominated: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let n = name.as_str();
        if !HOP_BY_HOP.contains(&n) && !nominated.iter().any(|x| x == n) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// A response body that fails when the upstream sends nothing for `idle`:
/// the client's connection is then cut instead of hanging on a stalled backend.
/// The wait is measured from the first poll that finds nothing, so time the
/// client spends not reading does not count against the backend.
pub struct IdleTimeout<B> {
    inner: B,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    waiting: bool,
}

impl<B> IdleTimeout<B> {
    pub fn new(inner: B, idle: Duration) -> Self {
        IdleTimeout { inner, idle, timer: Box::pin(tokio::time::sleep(idle)), waiting: false }
    }
}

impl<B> Body for IdleTimeout<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.waiting = false;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                if !this.waiting {
                    this.waiting = true;
                    this.timer.as_mut().reset(tokio::time::Instant::now() + this.idle);
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(format!("the backend sent nothing for {:?}", this.idle).into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream() -> Upstream {
        Upstream { scheme: "http".into(), host: "backend".into(), port: 8080 }
    }

    #[test]
    fn urls_keep_the_query_and_replace_correlation() {
        let u = |q, c| upstream_uri(&upstream(), "/a/b", q, c).unwrap().to_string();
        assert_eq!(u(None, None), "http://backend:8080/a/b");
        assert_eq!(u(Some("page[offset]=0&page[limit]=10"), None), "http://backend:8080/a/b?page[offset]=0&page[limit]=10");
        assert_eq!(u(Some("correlation=evil&x=1"), Some("abc")), "http://backend:8080/a/b?x=1&correlation=abc");
        assert_eq!(u(None, Some("abc")), "http://backend:8080/a/b?correlation=abc");
        assert!(upstream_uri(&upstream(), "/a b", None, None).is_err());
    }

    #[test]
    fn headers_lose_hop_by_hop_and_get_host_forwarded_trace() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "keep-alive, x-private"),
            ("x-private", "1"),
            ("keep-alive", "5"),
            ("upgrade", "websocket"),
            ("transfer-encoding", "chunked"),
            ("host", "rig.local"),
            ("forwarded", "for=evil"),
            ("traceparent", "x"),
            ("content-length", "3"),
            ("accept", "a"),
        ] {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h.append("accept", HeaderValue::from_static("b"));
        let trace = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None).unwrap();
        let out = upstream_headers(&h, &upstream(), &Hop { client_ip: "10.0.0.1".parse().unwrap(), by: "127.0.0.1", trace: &trace });
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        for gone in ["connection", "x-private", "keep-alive", "upgrade", "transfer-encoding", "content-length"] {
            assert!(!names.contains(&gone), "{gone} forwarded");
        }
        assert_eq!(out["host"], "backend:8080");
        assert_eq!(out["forwarded"], "for=10.0.0.1;by=127.0.0.1");
        assert_eq!(out["traceparent"], trace.traceparent().as_str());
        assert_eq!(out.get_all("accept").iter().count(), 2);
        assert_eq!(forwarded_node("::1".parse().unwrap()), "\"[::1]\"");
        assert_eq!(forwarded_node("::ffff:10.1.2.3".parse().unwrap()), "10.1.2.3");
    }
}
