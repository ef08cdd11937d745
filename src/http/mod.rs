//! The HTTP edge: routing by `(method, path)`, origin checks and CORS, static pages, the
//! REST API, the HTTP side of channels (long-poll, XDomainRequest, JSONP), handing
//! upgraded connections to the WebSocket transport, and kefu's own outbound requests
//! (`outbound`: webhook deliveries, for the core's `webhooks`).
//!
//! Owns: which URL does what, reading requests and writing answers, and turning refusals
//! into statuses (`error`). Knows nothing of storage: each handler parses its request,
//! calls the core (the hub's services), and renders what it answers.

mod api;
mod assets;
mod cors;
mod csp;
pub(crate) mod error;
pub(crate) mod jsonp;
pub(crate) mod long_poll;
mod openapi;
pub(crate) mod outbound;
mod settings;
mod transcript;
mod webhooks;
mod ws;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{header, Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::core::hub::Hub;
use crate::core::Shutdown;
use crate::transport::channel;
use crate::vocab::TransportKind;
use error::HttpError;

pub(crate) use crate::web::{query_decoded, query_param, read_body, text, Body};

/// Everything a request handler may use.
#[derive(Clone)]
pub(crate) struct HttpCtx {
    pub hub: Hub,
    pub shutdown: Shutdown,
    pub peer: SocketAddr,
    /// Open HTTP channels (long-poll, XDR, JSONP).
    pub channels: Arc<channel::Registry>,
}

/// Route one request.
///
/// A parked poll is what an HTTP connection holds longest, so its future is kept small:
/// polls are answered here, every other request in a future of its own (boxed), whose
/// size the poll's does not carry (`docs/benchmarks.md`, memory per parked poll).
pub(crate) async fn handle(
    req: Request<Incoming>,
    ctx: HttpCtx,
) -> Result<Response<Body>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let result = match (&method, path.as_str()) {
        _ if ctx.hub.is_router() => Box::pin(other(req, &ctx, &method, &path)).await,
        (&Method::GET, "/v1/lp/poll") => long_poll::poll(req, &ctx).await,
        (&Method::GET, "/v1/jsonp/poll") => Ok(jsonp::handle(req, &ctx, "poll").await),
        _ => Box::pin(other(req, &ctx, &method, &path)).await,
    };
    Ok(respond(&method, &path, result))
}

/// Every request but a poll.
async fn other(
    req: Request<Incoming>,
    ctx: &HttpCtx,
    method: &Method,
    path: &str,
) -> Result<Response<Body>, HttpError> {
    match (method, path) {
        (&Method::GET, "/healthz") => health(ctx).await,
        (&Method::GET, "/metrics") => metrics(&req, ctx),
        (&Method::GET, "/healthz/ready") => ready(ctx).await,
        (&Method::GET, "/v1/route") => route(&req, ctx).await,
        (&Method::OPTIONS, "/v1/route") => Ok(cors::preflight(&req)),
        // A routing server answers nothing else.
        _ if ctx.hub.is_router() => Err(HttpError::NotFound),
        (&Method::GET, "/v1/ws") => ws::upgrade(req, ctx).await,
        (&Method::OPTIONS, p) if p.starts_with("/v1/") => Ok(cors::preflight(&req)),
        (&Method::GET, "/v1/negotiate") => negotiate(&req, ctx).await,
        (&Method::GET, "/v1/openapi.json") => Ok(text(
            StatusCode::OK,
            "application/json",
            openapi::DOCUMENT.to_string(),
        )),
        (&Method::POST, "/v1/login") => api::login(req, ctx).await,
        (&Method::POST, "/v1/logout") => api::logout(req, ctx).await,
        (&Method::GET, "/v1/conversations") => api::conversations(req, ctx).await,
        (&Method::GET, "/v1/search") => api::search(req, ctx).await,
        (_, p) if settings::owns(p) => settings::route(req, ctx, p).await,
        (_, p) if webhooks::owns(p) => webhooks::route(req, ctx, p).await,
        (&Method::POST, p) if p.starts_with("/v1/conversations/") && p.ends_with("/messages") => {
            let id = conversation_segment(p, "messages")
                .unwrap_or("")
                .to_string();
            api::post_message(req, ctx, &id).await
        }
        (&Method::GET, p) if p.starts_with("/v1/conversations/") && p.ends_with("/transcript") => {
            let id = conversation_segment(p, "transcript")
                .unwrap_or("")
                .to_string();
            api::transcript(req, ctx, &id).await
        }
        (&Method::GET, p) if p.starts_with("/v1/conversations/") && p.ends_with("/entries") => {
            let id = conversation_segment(p, "entries").unwrap_or("").to_string();
            api::entries(req, ctx, &id).await
        }
        (&Method::POST, "/v1/lp/open") => long_poll::open(req, ctx).await,
        (&Method::GET, "/v1/lp/poll") => long_poll::poll(req, ctx).await,
        (&Method::POST, "/v1/lp/send") => long_poll::send(req, ctx).await,
        (&Method::POST, "/v1/lp/close") => long_poll::close(req, ctx).await,
        (&Method::GET, p) if p.starts_with("/v1/jsonp/") => {
            let action = p.trim_start_matches("/v1/jsonp/");
            if matches!(action, "open" | "poll" | "send" | "close") {
                Ok(jsonp::handle(req, ctx, action).await)
            } else {
                Err(HttpError::NotFound)
            }
        }
        (
            _,
            "/v1/lp/open" | "/v1/lp/poll" | "/v1/lp/send" | "/v1/lp/close" | "/v1/negotiate"
            | "/v1/openapi.json",
        ) => Err(HttpError::MethodNotAllowed),
        (&Method::GET, "/") => Ok(index(ctx)),
        (&Method::GET, "/widget.js") => assets::widget(&req),
        (&Method::GET, "/demo") => assets::demo(ctx).await,
        (&Method::GET, "/demo.js") => Ok(assets::demo_js()),
        (&Method::GET, p) if p == "/console" || p.starts_with("/console/") => {
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok());
            assets::console(p, host, &ctx.hub.node_urls())
        }
        (
            _,
            "/healthz" | "/healthz/ready" | "/metrics" | "/v1/ws" | "/" | "/widget.js" | "/demo"
            | "/demo.js",
        ) => Err(HttpError::MethodNotAllowed),
        // A documented path asked with a method it does not answer.
        (_, p) if openapi::allow(p).is_some() => Err(HttpError::MethodNotAllowed),
        _ => Err(HttpError::NotFound),
    }
}

/// The answer to a request: its result, or its error as a response (logged when the
/// server failed); a 405 names the methods the path answers.
fn respond(
    method: &Method,
    path: &str,
    result: Result<Response<Body>, HttpError>,
) -> Response<Body> {
    let mut response = result.unwrap_or_else(|e| {
        if e.status().is_server_error() {
            tracing::warn!(%method, %path, error = %e, "request failed");
        }
        e.into_response()
    });
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        if let Some(allow) = openapi::allow(path).and_then(|a| a.parse().ok()) {
            response.headers_mut().insert(header::ALLOW, allow);
        }
    }
    response
}

/// The `{id}` of `/v1/conversations/{id}/{tail}`, unparsed: exactly what stands between
/// the prefix and the suffix, each taken once (trimming them as often as they repeat read
/// `/v1/conversations/5/messages/messages` as conversation 5).
pub(crate) fn conversation_segment<'a>(path: &'a str, tail: &str) -> Option<&'a str> {
    path.strip_prefix("/v1/conversations/")?
        .strip_suffix(tail)?
        .strip_suffix('/')
}

/// A numeric id in a path (`/v1/conversations/{id}/…`, `/v1/canned/{id}`): decimal digits
/// only, with no sign (`str::parse` alone takes `+7` and `-7`).
pub(crate) fn path_id(segment: &str) -> Option<i64> {
    if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    segment.parse().ok()
}

/// `GET /healthz`: 200 when the store answers, is still the database kefu opened, and
/// takes writes; else 503 with the reason.
async fn health(ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    ctx.hub.health().await?;
    let body = serde_json::json!({
        "status": "ok",
        "connections": ctx.hub.connections(),
        "channels": ctx.channels.len(),
        "live_streams": ctx.hub.live_streams(),
        "slow_disconnects": ctx.hub.slow_disconnects(),
        "rss_bytes": rss_bytes(),
    });
    Ok(text(StatusCode::OK, "application/json", body.to_string()))
}

/// A writer with writes waiting that finished none for this long is stalled.
const WRITER_STALLED_MS: i64 = 5_000;

/// `GET /healthz/ready`: each check of readiness and its verdict — the store (as
/// `/healthz` checks it) and the writer (not stalled) — 200 when all pass, else 503.
async fn ready(ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    let store = match ctx.hub.health().await {
        Ok(()) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    let writer = match ctx.hub.writer().stalled(WRITER_STALLED_MS) {
        None => "ok".to_string(),
        Some((waiting, idle)) => {
            format!("stalled: {waiting} writes waiting, none finished for {idle} ms")
        }
    };
    let ok = store == "ok" && writer == "ok";
    let body = serde_json::json!({
        "ready": ok,
        "checks": {"store": store, "writer": writer},
    });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(text(status, "application/json", body.to_string()))
}

/// `GET /metrics`: the Prometheus/OpenMetrics text (`docs/operations.md`); with
/// `metrics_token` set, only for `Authorization: Bearer <metrics_token>`.
fn metrics(req: &Request<Incoming>, ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    let want = &ctx.hub.config().metrics_token;
    if !want.is_empty() {
        let given = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !crate::core::auth::same_secret(given, want) {
            return Err(HttpError::Unauthorized);
        }
    }
    let now = crate::core::metrics::Now {
        connections: ctx.hub.connections() as i64,
        channels: ctx.channels.len() as i64,
        live_streams: ctx.hub.live_streams() as i64,
        writer_queue: ctx.hub.writer_queued() as i64,
        rss_bytes: rss_bytes().unwrap_or(0) as i64,
    };
    Ok(text(
        StatusCode::OK,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ctx.hub.metrics().encode(&now),
    ))
}

/// Resident memory of this process, from `/proc/self/statm` (Linux); `null` elsewhere.
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// `GET /`: what this server offers.
fn index(ctx: &HttpCtx) -> Response<Body> {
    let ws = ctx.hub.config().ws_url();
    let html = format!(
        "<!doctype html><meta charset=utf-8><title>kefu</title>\
         <h1>kefu</h1><p>Live-chat gateway.</p><ul>\
         <li><a href=\"/demo\">Demo page</a> with the visitor widget</li>\
         <li><a href=\"/console\">Agent console</a></li>\
         <li>WebSocket endpoint: <code>{ws}</code> (protocol: <code>docs/protocol.md</code>)</li>\
         <li><a href=\"/healthz\">/healthz</a></li></ul>"
    );
    text(StatusCode::OK, "text/html; charset=utf-8", html)
}

/// A public question about one site (`?site=KEY`): `answer` makes the JSON, sent with
/// CORS, or through the callback `cb` as JSONP (errors too, so a script tag can read them).
async fn about_site(
    req: &Request<Incoming>,
    ctx: &HttpCtx,
    answer: impl FnOnce(&crate::store::Site) -> Result<String, HttpError>,
) -> Result<Response<Body>, HttpError> {
    let cb = match query_param(req.uri().query(), "cb") {
        Some(_) => match jsonp::callback(req, ctx) {
            Ok(cb) => Some(cb),
            Err(resp) => return Ok(*resp),
        },
        None => None,
    };
    let key = query_param(req.uri().query(), "site")
        .ok_or_else(|| HttpError::BadRequest("missing site".into()))?;
    let result = match ctx.hub.site(key).await {
        Ok(Some(site)) => answer(&site),
        Ok(None) => Err(HttpError::UnknownSite),
        Err(e) => Err(HttpError::from(e)),
    };
    let origin = cors::origin_of(req.headers());
    Ok(match (result, cb) {
        (Ok(json), Some(cb)) => jsonp::script(StatusCode::OK, cb, &json),
        (Ok(json), None) => cors::json_response(StatusCode::OK, origin.as_deref(), json),
        (Err(e), Some(cb)) => jsonp::script(e.status(), cb, &e.body()),
        (Err(e), None) => return Err(e),
    })
}

/// `GET /v1/negotiate?site=KEY[&cb=F]`: the transports a site allows, in ladder order.
async fn negotiate(req: &Request<Incoming>, ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    let c = ctx.hub.config();
    about_site(req, ctx, |site| {
        let transports: Vec<TransportKind> = TransportKind::ALL
            .into_iter()
            .filter(|&t| site.allows_transport(t))
            .collect();
        Ok(serde_json::json!({
            "v": crate::protocol::VERSION,
            "transports": transports,
            "hb": c.heartbeat_ms,
            "poll_timeout": c.poll_timeout_ms,
        })
        .to_string())
    })
    .await
}

/// `GET /v1/route?site=KEY[&cb=F]`: the node serving a site, and its URLs
/// (`docs/protocol.md`, "Several nodes").
async fn route(req: &Request<Incoming>, ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    about_site(req, ctx, |site| {
        let r = ctx
            .hub
            .route(site)
            .ok_or_else(|| HttpError::Unavailable("no live node serves this site".into()))?;
        Ok(serde_json::json!({
            "site": site.key,
            "node": r.node,
            "ws": crate::config::ws_url_of(&r.url),
            "url": r.url,
        })
        .to_string())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_paths_name_one_id_once() {
        let id = |p: &str, tail: &str| conversation_segment(p, tail).and_then(path_id);
        assert_eq!(id("/v1/conversations/42/messages", "messages"), Some(42));
        assert_eq!(id("/v1/conversations/42/entries", "entries"), Some(42));
        assert_eq!(id("/v1/conversations/42/entries", "messages"), None);
        // A doubled suffix or prefix is another path, not conversation 42.
        assert_eq!(
            id("/v1/conversations/42/messages/messages", "messages"),
            None
        );
        assert_eq!(
            id("/v1/conversations//v1/conversations/42/entries", "entries"),
            None
        );
        // The suffix's slash is not the prefix's.
        assert_eq!(
            conversation_segment("/v1/conversations/messages", "messages"),
            None
        );
        assert_eq!(
            conversation_segment("/v1/conversations//messages", "messages"),
            Some("")
        );
    }

    #[test]
    fn path_ids_are_decimal_digits() {
        assert_eq!(path_id("42"), Some(42));
        assert_eq!(path_id("007"), Some(7));
        for bad in [
            "",
            "+6",
            "-6",
            " 6",
            "6 ",
            "4_2",
            "0x2a",
            "99999999999999999999",
        ] {
            assert_eq!(path_id(bad), None, "{bad:?}");
        }
    }
}
