//! The REST API under `/v1/` for agents (`docs/api.md`).
//!
//! Owns: sign-in and sign-out, and reading conversations and their entries — each
//! endpoint checking that the agent's token is valid and that what it names belongs to
//! the agent's site. Knows the hub, not the store.

use http::{header, HeaderMap, Request, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;

use super::error::HttpError;
use super::{query_decoded, query_param, read_body, text, Body, HttpCtx};
use crate::core::login::LoginError;
use crate::ids::{ClientMsgId, ConversationId, Offset};
use crate::protocol::{check_msg, EntryFrame};
use crate::store::{Agent, Appended};
use crate::vocab::Sender;
use http::Response;

pub(super) const JSON: &str = "application/json";

/// The bearer token: `Authorization: Bearer T`, or `?token=T` for clients that cannot set
/// headers.
fn token(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(t) = v.strip_prefix("Bearer ") {
            return Some(t.trim().to_string());
        }
    }
    query_decoded(query, "token").ok().flatten()
}

pub(super) async fn agent(req: &Request<Incoming>, ctx: &HttpCtx) -> Result<Agent, HttpError> {
    let t = token(req.headers(), req.uri().query()).ok_or(HttpError::Unauthorized)?;
    ctx.hub
        .agent_by_token(&t)
        .await?
        .ok_or(HttpError::Unauthorized)
}

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: String,
    #[serde(default)]
    site: Option<String>,
}

/// `POST /v1/login` `{"email","password","site"?}` → `{"token","agent":{…}}`
pub(super) async fn login(
    req: Request<Incoming>,
    ctx: &HttpCtx,
) -> Result<Response<Body>, HttpError> {
    let bytes = read_body(req.into_body(), 4096, ctx.hub.config().request_timeout()).await?;
    let body: LoginBody =
        serde_json::from_slice(&bytes).map_err(|e| HttpError::BadRequest(format!("body: {e}")))?;
    if body.email.len() > 320 || body.password.len() > 1024 {
        return Err(HttpError::BadRequest("email or password too long".into()));
    }
    let r = ctx
        .hub
        .login(
            &body.email,
            &body.password,
            body.site.as_deref(),
            ctx.peer.ip(),
        )
        .await?;
    match r {
        Ok((token, a)) => {
            let id = a.site;
            let site = ctx.hub.blocking(move |s| s.site(id)).await?.map(|s| s.key);
            let body = serde_json::json!({
                "token": token,
                "agent": {"id": a.id, "name": a.name, "email": a.email, "role": a.role, "site": site},
            });
            Ok(text(StatusCode::OK, JSON, body.to_string()))
        }
        Err(LoginError::RateLimited(wait)) => Err(HttpError::TooManyRequests(wait)),
        Err(e @ LoginError::NameTheSite) => Err(HttpError::BadRequest(e.to_string())),
        Err(LoginError::BadCredentials) => Err(HttpError::Unauthorized),
        Err(e @ LoginError::Busy) => Err(HttpError::Busy(e.to_string())),
    }
}

/// `POST /v1/logout`: revoke the bearer token.
pub(super) async fn logout(
    req: Request<Incoming>,
    ctx: &HttpCtx,
) -> Result<Response<Body>, HttpError> {
    let t = token(req.headers(), req.uri().query()).ok_or(HttpError::Unauthorized)?;
    agent(&req, ctx).await?;
    ctx.hub.logout(&t).await?;
    Ok(text(StatusCode::OK, JSON, "{\"ok\":true}".into()))
}

/// `GET /v1/conversations`: the open conversations of the agent's site.
pub(super) async fn conversations(
    req: Request<Incoming>,
    ctx: &HttpCtx,
) -> Result<Response<Body>, HttpError> {
    let a = agent(&req, ctx).await?;
    let site = a.site;
    let list = ctx
        .hub
        .blocking(move |s| s.open_conversations(site, 500))
        .await?;
    let items: Vec<_> = list
        .iter()
        .map(|c| {
            serde_json::json!({
                "conv": c.id, "epoch": c.epoch, "head": c.head,
                "visitor": Sender::Visitor(c.visitor),
                "owner": ctx.hub.owner_of(site, c.id),
                "queued": ctx.hub.queue_position(site, c.id).is_some(),
            })
        })
        .collect();
    Ok(text(
        StatusCode::OK,
        JSON,
        serde_json::json!({ "conversations": items }).to_string(),
    ))
}

/// `GET /v1/search?q=TEXT&limit=N`: messages of the agent's site containing TEXT.
pub(super) async fn search(
    req: Request<Incoming>,
    ctx: &HttpCtx,
) -> Result<Response<Body>, HttpError> {
    let a = agent(&req, ctx).await?;
    let q = req.uri().query();
    let needle = query_decoded(q, "q")?.unwrap_or_default();
    let needle = needle.trim().to_string();
    if needle.chars().count() < 2 || needle.chars().count() > 200 {
        return Err(HttpError::BadRequest(
            "q must be 2 to 200 characters".into(),
        ));
    }
    let limit: usize = query_param(q, "limit").map_or(Ok(50), |v| {
        v.parse()
            .map_err(|_| HttpError::BadRequest("limit must be a number".into()))
    })?;
    let (site, limit) = (a.site, limit.clamp(1, 200));
    let hits = ctx
        .hub
        .blocking(move |s| s.search(site, &needle, limit))
        .await?;
    let hits: Vec<EntryFrame> = hits.iter().map(EntryFrame::from).collect();
    Ok(text(
        StatusCode::OK,
        JSON,
        serde_json::json!({ "hits": hits }).to_string(),
    ))
}

/// `GET /v1/conversations/{id}/entries?after=N&limit=M`: history from the log.
pub(super) async fn entries(
    req: Request<Incoming>,
    ctx: &HttpCtx,
    id: &str,
) -> Result<Response<Body>, HttpError> {
    let a = agent(&req, ctx).await?;
    let conv = ConversationId(super::path_id(id).ok_or(HttpError::NotFound)?);
    let q = req.uri().query();
    let after: u64 = query_param(q, "after").map_or(Ok(0), |v| {
        v.parse()
            .map_err(|_| HttpError::BadRequest("after must be an offset".into()))
    })?;
    let limit: usize = query_param(q, "limit").map_or(Ok(200), |v| {
        v.parse()
            .map_err(|_| HttpError::BadRequest("limit must be a number".into()))
    })?;
    let limit = limit.clamp(1, 1000);
    let site = a.site;
    let found = ctx
        .hub
        .blocking(move |s| {
            let Some(info) = s.conversation(conv)? else {
                return Ok(None);
            };
            if info.site != site {
                return Ok(None);
            }
            Ok(Some((info, s.read_after(conv, Offset(after), limit)?)))
        })
        .await?;
    // Another site's conversation is indistinguishable from a missing one.
    let (info, entries) = found.ok_or(HttpError::NotFound)?;
    let entries: Vec<EntryFrame> = entries.iter().map(EntryFrame::from).collect();
    let body = serde_json::json!({"conv": info.id, "epoch": info.epoch, "head": info.head, "entries": entries});
    Ok(text(StatusCode::OK, JSON, body.to_string()))
}

#[derive(Deserialize)]
struct MessageBody {
    cid: ClientMsgId,
    body: String,
}

/// `POST /v1/conversations/{id}/messages` `{"cid","body"}`: an agent's message, answered
/// after its commit with where it is in the stream.
pub(super) async fn post_message(
    req: Request<Incoming>,
    ctx: &HttpCtx,
    id: &str,
) -> Result<Response<Body>, HttpError> {
    let a = agent(&req, ctx).await?;
    let conv = ConversationId(super::path_id(id).ok_or(HttpError::NotFound)?);
    let max = ctx.hub.config().max_body_chars;
    let bytes = read_body(
        req.into_body(),
        ctx.hub.config().max_frame_bytes,
        ctx.hub.config().request_timeout(),
    )
    .await?;
    let m: MessageBody =
        serde_json::from_slice(&bytes).map_err(|e| HttpError::BadRequest(format!("body: {e}")))?;
    check_msg(&m.cid, &m.body, max).map_err(|e| HttpError::BadRequest(e.msg))?;
    let site = a.site;
    let info = ctx.hub.blocking(move |s| s.conversation(conv)).await?;
    // Another site's conversation is indistinguishable from a missing one.
    if info.is_none_or(|i| i.site != site) {
        return Err(HttpError::NotFound);
    }
    let done = ctx
        .hub
        .agent_message(&a, conv, m.cid, m.body)
        .map_err(|e| HttpError::Unavailable(e.to_string()))?
        .await
        .unwrap_or(Err(crate::core::AppendError::Closed))
        .map_err(|e| HttpError::Unavailable(e.to_string()))?;
    ctx.hub
        .after_commit(&crate::core::hub::AfterCommit::Agent(a.id), &done);
    let (status, body) = match done {
        Appended::New(e, _) => (
            StatusCode::CREATED,
            serde_json::json!({"conv": e.conv, "off": e.off, "ts": e.ts, "dup": false}),
        ),
        Appended::Dup { conv, off, ts } => (
            StatusCode::OK,
            serde_json::json!({"conv": conv, "off": off, "ts": ts, "dup": true}),
        ),
        Appended::CidTaken => return Err(HttpError::CidTaken),
        Appended::NotOpen => return Err(HttpError::NotFound),
    };
    Ok(text(status, JSON, body.to_string()))
}
