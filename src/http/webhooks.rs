//! The REST API of a site's webhooks (`docs/api.md`, "Webhooks"): register, list, change
//! (pause, resume), delete, and look at and resend their deliveries.
//!
//! Owns: their paths, parsing their bodies, ids and queries, and the JSON of each answer.
//! What a webhook may be, who may touch it (admins, of their own site) and how deliveries
//! go are the core's (`core::webhooks`). Each handler asks for the admin before reading
//! the body, so a plain agent is refused (403) whatever it sent.

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;

use super::api::{json_body, number};
use super::error::HttpError;
use super::settings::{admin, ok};
use super::{query_param, Body, HttpCtx};
use crate::core::webhooks::{delivery_json, webhook_json, HookChange};

/// Largest body a webhook endpoint reads.
const MAX_BODY: usize = 8 * 1024;
/// Deliveries listed when the query names no `limit`.
const DEFAULT_LIST: usize = 50;

/// Is `path` one of the webhook endpoints?
pub(super) fn owns(path: &str) -> bool {
    path == "/v1/webhooks" || path.starts_with("/v1/webhooks/")
}

/// The paths under `/v1/webhooks/`: `{id}`, `{id}/deliveries` and
/// `{id}/deliveries/{delivery}/retry`, their ids as they are written (a method the path
/// does not answer is a 405 whatever they are; an id that is not one is a 404).
enum Under<'a> {
    Hook(&'a str),
    Deliveries(&'a str),
    Retry(&'a str, &'a str),
}

fn under(path: &str) -> Option<Under<'_>> {
    let rest = path.strip_prefix("/v1/webhooks/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [id] => Some(Under::Hook(id)),
        [id, "deliveries"] => Some(Under::Deliveries(id)),
        [id, "deliveries", d, "retry"] => Some(Under::Retry(id, d)),
        _ => None,
    }
}

/// A numeric id of a path; anything else is not found.
fn id(segment: &str) -> Result<i64, HttpError> {
    super::path_id(segment).ok_or(HttpError::NotFound)
}

/// Route a path that `owns` accepted.
pub(super) async fn route(
    req: Request<Incoming>,
    ctx: &HttpCtx,
    path: &str,
) -> Result<Response<Body>, HttpError> {
    if path == "/v1/webhooks" {
        return match *req.method() {
            Method::GET => list(req, ctx).await,
            Method::POST => add(req, ctx).await,
            _ => Err(HttpError::MethodNotAllowed),
        };
    }
    let Some(at) = under(path) else {
        return Err(HttpError::NotFound);
    };
    match (req.method().clone(), at) {
        (Method::PATCH, Under::Hook(h)) => update(req, ctx, id(h)?).await,
        (Method::DELETE, Under::Hook(h)) => delete(req, ctx, id(h)?).await,
        (Method::GET, Under::Deliveries(h)) => deliveries(req, ctx, id(h)?).await,
        (Method::POST, Under::Retry(h, d)) => retry(req, ctx, id(h)?, id(d)?).await,
        _ => Err(HttpError::MethodNotAllowed),
    }
}

#[derive(Deserialize)]
struct HookBody {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    paused: Option<bool>,
}

impl From<HookBody> for HookChange {
    fn from(b: HookBody) -> HookChange {
        HookChange {
            url: b.url,
            events: b.events,
            paused: b.paused,
        }
    }
}

/// `GET /v1/webhooks` (admins): the site's webhooks, without their secrets.
async fn list(req: Request<Incoming>, ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    let a = admin(&req, ctx).await?;
    let hooks = ctx.hub.webhooks().list(&a).await?;
    let hooks: Vec<_> = hooks.iter().map(|w| webhook_json(w, false)).collect();
    ok(StatusCode::OK, serde_json::json!({ "webhooks": hooks }))
}

/// `POST /v1/webhooks` (admins): register one; the answer carries its secret, the only
/// time it is shown.
async fn add(req: Request<Incoming>, ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    let a = admin(&req, ctx).await?;
    let b: HookBody = json_body(req, MAX_BODY, ctx).await?;
    let w = ctx.hub.webhooks().add(&a, b.into()).await?;
    ok(
        StatusCode::CREATED,
        serde_json::json!({ "webhook": webhook_json(&w, true) }),
    )
}

/// `PATCH /v1/webhooks/{id}` (admins): change its URL or events, pause or resume it.
async fn update(
    req: Request<Incoming>,
    ctx: &HttpCtx,
    id: i64,
) -> Result<Response<Body>, HttpError> {
    let a = admin(&req, ctx).await?;
    let b: HookBody = json_body(req, MAX_BODY, ctx).await?;
    let w = ctx.hub.webhooks().update(&a, id, b.into()).await?;
    ok(
        StatusCode::OK,
        serde_json::json!({ "webhook": webhook_json(&w, false) }),
    )
}

/// `DELETE /v1/webhooks/{id}` (admins): delete it and its deliveries.
async fn delete(
    req: Request<Incoming>,
    ctx: &HttpCtx,
    id: i64,
) -> Result<Response<Body>, HttpError> {
    let a = admin(&req, ctx).await?;
    ctx.hub.webhooks().delete(&a, id).await?;
    ok(StatusCode::OK, serde_json::json!({ "ok": true }))
}

/// `GET /v1/webhooks/{id}/deliveries?state=pending|delivered|failed&before=ID&limit=N`
/// (admins): its deliveries, newest first.
async fn deliveries(
    req: Request<Incoming>,
    ctx: &HttpCtx,
    id: i64,
) -> Result<Response<Body>, HttpError> {
    let a = admin(&req, ctx).await?;
    let q = req.uri().query();
    let state = query_param(q, "state");
    let before = number::<i64>(q, "before", "a delivery id")?;
    let limit = number::<usize>(q, "limit", "a number")?.unwrap_or(DEFAULT_LIST);
    let list = ctx
        .hub
        .webhooks()
        .deliveries(&a, id, state, before, limit)
        .await?;
    let list: Vec<_> = list.iter().map(delivery_json).collect();
    ok(StatusCode::OK, serde_json::json!({ "deliveries": list }))
}

/// `POST /v1/webhooks/{id}/deliveries/{delivery}/retry` (admins): send a failed delivery
/// again, now.
async fn retry(
    req: Request<Incoming>,
    ctx: &HttpCtx,
    id: i64,
    delivery: i64,
) -> Result<Response<Body>, HttpError> {
    let a = admin(&req, ctx).await?;
    ctx.hub.webhooks().retry(&a, id, delivery).await?;
    ok(StatusCode::OK, serde_json::json!({ "ok": true }))
}
