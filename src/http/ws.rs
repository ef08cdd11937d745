//! `GET /v1/ws`: the WebSocket handshake, checked before upgrading.
//!
//! Owns: refusing bad upgrades with a status and a reason (400 malformed, 404 unknown
//! site, 403 disallowed origin) and spawning the connection on the upgraded socket (a
//! connection task of the hub's `Tasks`, so shutdown awaits it).

use http::{header, HeaderMap, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::error::HttpError;
use super::{query_param, Body, HttpCtx};
use crate::core::conn::{self, ConnInfo};
use crate::server::Counted;
use crate::transport::websocket::{Limits, WsTransport};

fn header_has(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case(token))
}

pub(super) async fn upgrade(
    mut req: Request<Incoming>,
    ctx: &HttpCtx,
) -> Result<Response<Body>, HttpError> {
    let h = req.headers();
    if !header_has(h, header::CONNECTION, "upgrade") || !header_has(h, header::UPGRADE, "websocket")
    {
        return Err(HttpError::BadRequest("expected a WebSocket upgrade".into()));
    }
    if h.get(header::SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        != Some("13")
    {
        return Err(HttpError::BadRequest(
            "Sec-WebSocket-Version must be 13".into(),
        ));
    }
    let Some(key) = h.get(header::SEC_WEBSOCKET_KEY) else {
        return Err(HttpError::BadRequest("missing Sec-WebSocket-Key".into()));
    };
    let accept = derive_accept_key(key.as_bytes());
    let origin = match h.get(header::ORIGIN) {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| HttpError::BadRequest("Origin is not text".into()))?
                .to_string(),
        ),
        None => None,
    };
    // With ?site=KEY the origin is checked before upgrading; the hello checks it again.
    if let Some(site_key) = query_param(req.uri().query(), "site") {
        let site = ctx
            .hub
            .site(site_key)
            .await?
            .ok_or(HttpError::UnknownSite)?;
        if let Some(o) = &origin {
            // The role is not known before the hello: kefu's own pages pass here, and
            // the hello applies the rule for the role it names.
            if !ctx.hub.origin_allowed(&site, o, None) {
                tracing::info!(origin = %o, site = site_key, "origin not allowed");
                return Err(HttpError::Forbidden(format!(
                    "origin {o} is not allowed for this site"
                )));
            }
        }
    }
    let hub = ctx.hub.clone();
    let shutdown = ctx.shutdown.clone();
    let info = ConnInfo {
        origin,
        ..ConnInfo::from_headers(req.headers(), false, ctx.peer)
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    ctx.hub.tasks().spawn_conn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                // The socket itself, so the transport reads and writes it directly.
                // (The HTTP server's read buffer goes here: `read_buf` holds on to all of it.)
                let t = match upgraded.downcast::<TokioIo<Counted>>() {
                    Ok(parts) => WsTransport::new(
                        parts.io.into_inner(),
                        &parts.read_buf,
                        Limits::of(hub.config()),
                    ),
                    Err(_) => {
                        tracing::error!("upgraded connection of an unexpected type");
                        return;
                    }
                };
                // The connection is a task of its own: this one's state (the upgrade,
                // what the handshake knew) is not kept for the connection's whole life.
                let connection = conn::run(hub.clone(), t, info, shutdown);
                hub.tasks().spawn_conn(connection);
            }
            Err(e) => tracing::debug!(error = %e, "upgrade failed"),
        }
    });
    Ok(Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Full::default())
        .expect("static response parts are valid"))
}
