//! The REST API under `/v1/` for agents (`docs/api.md`).
//!
//! Owns: the requests and answers of sign-in and sign-out, reading conversations and
//! their entries, search, and an agent's message — where the token is (`Authorization:
//! Bearer`, or `?token=`), parsing parameters and bodies, and the JSON of each answer.
//! Who may read what, and every rule of what is sent, are the core's (`core::access`,
//! `directory`, `history`, `send`); each handler calls one of them.

use http::{header, HeaderMap, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;

use super::error::HttpError;
use super::{query_decoded, query_param, read_body, text, Body, HttpCtx};
use crate::ids::{AgentId, ClientMsgId, ConversationId, Offset, VisitorId};
use crate::protocol::EntryFrame;
use crate::store::{Agent, Appended, ConvFilter};
use crate::vocab::Sender;

pub(super) const JSON: &str = "application/json";

/// The bearer token: `Authorization: Bearer T`, or `?token=T` for clients that cannot set
/// headers.
pub(super) fn token<B>(req: &Request<B>) -> Option<String> {
    let headers: &HeaderMap = req.headers();
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(t) = v.strip_prefix("Bearer ") {
            return Some(t.trim().to_string());
        }
    }
    query_decoded(req.uri().query(), "token").ok().flatten()
}

/// The agent the request's token belongs to (401 without a valid one).
pub(super) async fn agent(req: &Request<Incoming>, ctx: &HttpCtx) -> Result<Agent, HttpError> {
    Ok(ctx.hub.signed_in(token(req).as_deref()).await?)
}

/// A JSON object body of at most `limit` bytes. (serde would also read a struct from an
/// array of its fields in order: `[…]` is refused here, as the API describes objects.)
pub(super) async fn json_body<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
    limit: usize,
    ctx: &HttpCtx,
) -> Result<T, HttpError> {
    let bytes = read_body(req.into_body(), limit, ctx.hub.config().request_timeout()).await?;
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(HttpError::BadRequest("body: expected a JSON object".into()));
    }
    serde_json::from_slice(&bytes).map_err(|e| HttpError::BadRequest(format!("body: {e}")))
}

/// A query parameter that must be a number when present.
pub(super) fn number<T: std::str::FromStr>(
    query: Option<&str>,
    name: &str,
    what: &str,
) -> Result<Option<T>, HttpError> {
    query_param(query, name)
        .map(|v| {
            v.parse()
                .map_err(|_| HttpError::BadRequest(format!("{name} must be {what}")))
        })
        .transpose()
}

/// A whole number of a body, written `7` or `7.0` (both are JSON Schema's `integer`):
/// for `#[serde(deserialize_with = "whole")]`.
pub(super) fn whole<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::de::Error;
    let n = serde_json::Number::deserialize(d)?;
    let v = match (n.as_u64(), n.as_f64()) {
        (Some(v), _) => Some(v),
        (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f <= u64::MAX as f64 => Some(f as u64),
        _ => None,
    };
    v.and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| D::Error::custom(format!("{n} is not a whole number in range")))
}

fn ok(status: StatusCode, v: serde_json::Value) -> Result<Response<Body>, HttpError> {
    Ok(text(status, JSON, v.to_string()))
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
    let body: LoginBody = json_body(req, 4096, ctx).await?;
    let s = ctx
        .hub
        .directory()
        .sign_in(
            &body.email,
            &body.password,
            body.site.as_deref(),
            ctx.peer.ip(),
        )
        .await?;
    let a = &s.agent;
    ok(
        StatusCode::OK,
        serde_json::json!({
            "token": s.token,
            "agent": {"id": a.id, "name": a.name, "email": a.email, "role": a.role, "site": s.site_key},
        }),
    )
}

/// `POST /v1/logout`: revoke the bearer token.
pub(super) async fn logout(
    req: Request<Incoming>,
    ctx: &HttpCtx,
) -> Result<Response<Body>, HttpError> {
    ctx.hub.directory().sign_out(token(&req).as_deref()).await?;
    ok(StatusCode::OK, serde_json::json!({"ok": true}))
}

/// `GET /v1/conversations?status=open|closed|all&since=MS&until=MS&agent=ID&visitor=vN&before=ID&limit=N`:
/// the agent's site's conversations, newest first (by default its open ones, at most
/// 500), with `next`, the `before` of the next page, when there may be one.
pub(super) async fn conversations(
    req: Request<Incoming>,
    ctx: &HttpCtx,
) -> Result<Response<Body>, HttpError> {
    let a = agent(&req, ctx).await?;
    let q = req.uri().query();
    let open = match query_param(q, "status").unwrap_or("open") {
        "open" => Some(true),
        "closed" => Some(false),
        "all" => None,
        other => {
            return Err(HttpError::BadRequest(format!(
                "status must be open, closed or all, not {other:?}"
            )))
        }
    };
    let filter = ConvFilter {
        open,
        since: number(q, "since", "a time in ms")?,
        until: number(q, "until", "a time in ms")?,
        agent: number(q, "agent", "an agent id")?.map(AgentId),
        before: number(q, "before", "a conversation id")?.map(ConversationId),
        visitor: query_param(q, "visitor").map(visitor_id).transpose()?,
    };
    let limit = number(q, "limit", "a number")?;
    let page = ctx.hub.history().list(&a, filter, limit).await?;
    let items: Vec<_> = page
        .conversations
        .iter()
        .map(|c| {
            let i = &c.summary.info;
            serde_json::json!({
                "conv": i.id, "epoch": i.epoch, "head": i.head,
                "visitor": Sender::Visitor(i.visitor),
                "status": if c.summary.open { "open" } else { "closed" },
                "created_at": c.summary.created_at,
                "owner": c.owner,
                "queued": c.queued,
            })
        })
        .collect();
    ok(
        StatusCode::OK,
        serde_json::json!({ "conversations": items, "next": page.next }),
    )
}

/// A visitor as the API names it, `v` and its number (the `visitor` of a conversation).
pub(super) fn visitor_id(s: &str) -> Result<VisitorId, HttpError> {
    match s.parse::<Sender>() {
        Ok(Sender::Visitor(v)) => Ok(v),
        _ => Err(HttpError::BadRequest(format!(
            "a visitor is v and a number (as conversations name it), not {s:?}"
        ))),
    }
}

/// `GET /v1/conversations/{id}/transcript?format=json|text`: the whole conversation, as a
/// download.
pub(super) async fn transcript(
    req: Request<Incoming>,
    ctx: &HttpCtx,
    id: &str,
) -> Result<Response<Body>, HttpError> {
    let a = agent(&req, ctx).await?;
    let conv = ConversationId(super::path_id(id).ok_or(HttpError::NotFound)?);
    let plain = match query_param(req.uri().query(), "format").unwrap_or("json") {
        "json" => false,
        "text" => true,
        other => {
            return Err(HttpError::BadRequest(format!(
                "format must be json or text, not {other:?}"
            )))
        }
    };
    let page = ctx.hub.history().transcript(&a, conv).await?;
    let (info, entries) = (page.info, page.entries);
    let (body, content_type, ext) = if plain {
        let names: std::collections::HashMap<String, String> = ctx
            .hub
            .directory()
            .agents(&a)
            .await?
            .into_iter()
            .map(|l| (Sender::Agent(l.agent.id).to_string(), l.agent.name))
            .collect();
        let body = super::transcript::text(&info, &entries, |s| names.get(&s.to_string()).cloned());
        (body, "text/plain; charset=utf-8", "txt")
    } else {
        let entries: Vec<EntryFrame> = entries.iter().map(EntryFrame::from).collect();
        let body = serde_json::json!({
            "conv": info.id, "epoch": info.epoch, "head": info.head,
            "visitor": Sender::Visitor(info.visitor), "entries": entries,
        });
        (body.to_string(), JSON, "json")
    };
    let mut resp = text(StatusCode::OK, content_type, body);
    let disposition = format!("attachment; filename=\"conversation-{}.{ext}\"", info.id.0);
    resp.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        disposition.parse().expect("an ASCII header value"),
    );
    Ok(resp)
}

/// `GET /v1/search?q=TEXT&limit=N`: messages of the agent's site containing TEXT.
pub(super) async fn search(
    req: Request<Incoming>,
    ctx: &HttpCtx,
) -> Result<Response<Body>, HttpError> {
    let a = agent(&req, ctx).await?;
    let q = req.uri().query();
    let needle = query_decoded(q, "q")?.unwrap_or_default();
    let limit = number(q, "limit", "a number")?;
    let hits = ctx.hub.history().search(&a, &needle, limit).await?;
    let hits: Vec<EntryFrame> = hits.iter().map(EntryFrame::from).collect();
    ok(StatusCode::OK, serde_json::json!({ "hits": hits }))
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
    let after = Offset(number(q, "after", "an offset")?.unwrap_or(0));
    let limit = number(q, "limit", "a number")?;
    let page = ctx.hub.history().entries(&a, conv, after, limit).await?;
    let (info, entries) = (page.info, page.entries);
    let entries: Vec<EntryFrame> = entries.iter().map(EntryFrame::from).collect();
    ok(
        StatusCode::OK,
        serde_json::json!({"conv": info.id, "epoch": info.epoch, "head": info.head, "entries": entries}),
    )
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
    let m: MessageBody = json_body(req, ctx.hub.config().max_frame_bytes, ctx).await?;
    ctx.hub
        .serve_site_id(a.site)
        .await
        .map_err(HttpError::Moved)?;
    let done = ctx
        .hub
        .agent_send(&a, Some(conv), m.cid, m.body)
        .await?
        .await?;
    match done {
        Appended::New(e, _) => ok(
            StatusCode::CREATED,
            serde_json::json!({"conv": e.conv, "off": e.off, "ts": e.ts, "dup": false}),
        ),
        Appended::Dup { conv, off, ts } => ok(
            StatusCode::OK,
            serde_json::json!({"conv": conv, "off": off, "ts": ts, "dup": true}),
        ),
        Appended::CidTaken => Err(HttpError::CidTaken),
        Appended::NotOpen => Err(HttpError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct N {
        #[serde(deserialize_with = "super::whole")]
        n: u32,
    }

    fn n(json: &str) -> Result<u32, String> {
        serde_json::from_str::<N>(json)
            .map(|v| v.n)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_are_read_however_they_are_written() {
        assert_eq!(n(r#"{"n":7}"#), Ok(7));
        assert_eq!(n(r#"{"n":7.0}"#), Ok(7));
        assert_eq!(n(r#"{"n":7e2}"#), Ok(700));
        assert!(n(r#"{"n":7.5}"#).is_err());
        assert!(n(r#"{"n":-1}"#).is_err());
        assert!(n(r#"{"n":4294967296}"#).is_err(), "beyond u32");
        assert!(n(r#"{"n":"7"}"#).is_err());
    }
}
