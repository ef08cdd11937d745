//! The HTTP edge: routing by `(method, path)`, origin checks, static pages, and handing
//! upgraded connections to the WebSocket transport.
//!
//! Owns: which URL does what, and turning refusals into statuses (`error`). Knows nothing
//! of storage: it asks the hub.

mod assets;
pub mod error;
mod ws;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use crate::core::hub::Hub;
use crate::core::Shutdown;
use error::HttpError;

/// Everything a request handler may use.
#[derive(Clone)]
pub struct HttpCtx {
    pub hub: Hub,
    pub shutdown: Shutdown,
    pub peer: SocketAddr,
}

pub type Body = Full<Bytes>;

/// Route one request.
pub async fn handle(req: Request<Incoming>, ctx: HttpCtx) -> Result<Response<Body>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let result = match (&method, path.as_str()) {
        (&Method::GET, "/healthz") => health(&ctx).await,
        (&Method::GET, "/v1/ws") => ws::upgrade(req, &ctx).await,
        (&Method::GET, "/") => Ok(index(&ctx)),
        (&Method::GET, "/widget.js") => assets::widget(&req),
        (&Method::GET, "/demo") => assets::demo(&ctx).await,
        (_, "/healthz" | "/v1/ws" | "/" | "/widget.js" | "/demo") => {
            Err(HttpError::MethodNotAllowed)
        }
        _ => Err(HttpError::NotFound),
    };
    Ok(result.unwrap_or_else(|e| {
        if e.status().is_server_error() {
            tracing::warn!(%method, %path, error = %e, "request failed");
        }
        e.into_response()
    }))
}

/// `GET /healthz`: 200 when the store answers.
async fn health(ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    ctx.hub
        .blocking(|s| s.ping())
        .await
        .map_err(|e| HttpError::Unavailable(format!("store: {e}")))?;
    let body = serde_json::json!({
        "status": "ok",
        "connections": ctx.hub.connections(),
        "live_streams": ctx.hub.live_streams(),
        "slow_disconnects": ctx.hub.slow_disconnects(),
    });
    Ok(text(StatusCode::OK, "application/json", body.to_string()))
}

/// `GET /`: what this server offers.
fn index(ctx: &HttpCtx) -> Response<Body> {
    let base = ctx.hub.config().base_url();
    let html = format!(
        "<!doctype html><meta charset=utf-8><title>kefu</title>\
         <h1>kefu</h1><p>Live-chat gateway.</p><ul>\
         <li>WebSocket endpoint: <code>{base}/v1/ws</code> (protocol: <code>docs/protocol.md</code>)</li>\
         <li><a href=\"/healthz\">/healthz</a></li></ul>\
         <p>The visitor widget, demo page and agent console are not built yet.</p>"
    );
    text(StatusCode::OK, "text/html; charset=utf-8", html)
}

pub(crate) fn text(status: StatusCode, content_type: &str, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}

/// The value of query parameter `name`, if present (no percent-decoding: the values this
/// server reads are tokens of `[A-Za-z0-9_-]`).
pub(crate) fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params() {
        assert_eq!(query_param(Some("a=1&site=s_x&b"), "site"), Some("s_x"));
        assert_eq!(query_param(Some("a=1&b"), "b"), Some(""));
        assert_eq!(query_param(Some("a=1"), "site"), None);
        assert_eq!(query_param(None, "site"), None);
    }
}
