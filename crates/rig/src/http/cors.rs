//! `CORS` on the public port, applied to every response in one place.
//!
//! Handlers mark a response as cross-origin readable by setting
//! `access-control-allow-origin` to [`Cors::own`], the raw `CORS` value (RIG's
//! endpoints each decide that); this layer then decides its value for the
//! request's `Origin`, in one place. Any other value is a backend's, forwarded
//! by the proxy, and is left as the backend sent it.
//! - `*`: the header stays `*`, and `access-control-allow-credentials` is
//!   dropped, since browsers refuse that pair (RIG sent both on long-polling);
//! - a list: a listed `Origin` is echoed; any other request gets the first
//!   listed origin (RIG's single-origin behaviour; browsers refuse it for other
//!   origins, so credentials stay as the handler set them). `Vary: Origin`
//!   keeps caches honest.

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue},
    middleware::Next,
    response::Response,
};

use crate::cors::Cors;

/// The layer: rewrites the CORS headers a handler set, for this request.
pub async fn apply(State(cors): State<std::sync::Arc<Cors>>, req: Request, next: Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    if h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN) != Some(&cors.own()) {
        return r;
    }
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, cors.allow(origin.as_ref()));
    if cors.is_any() {
        h.remove(header::ACCESS_CONTROL_ALLOW_CREDENTIALS);
    } else {
        h.append(header::VARY, HeaderValue::from_static("origin"));
    }
    r
}
