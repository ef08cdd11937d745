//! Long-polling (XHR with CORS) and XDomainRequest: HTTP framing of channels.
//!
//! Owns: `POST /v1/lp/open`, `GET /v1/lp/poll`, `POST /v1/lp/send`, `POST /v1/lp/close`
//! — reading their parameters and bodies and writing their JSON answers (`docs/protocol.md`
//! §6.2). The channel mechanics are `channel`; what frames mean is `core`.

use bytes::Bytes;
use http::{header, HeaderMap, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde_json::value::RawValue;

use super::channel::{Channel, ChannelError, PollResult};
use super::RequestCtx as HttpCtx;
use crate::core::conn::ConnInfo;
use crate::core::hub::TransportKind;
use crate::protocol::{close, ServerFrame};
use crate::web::HttpError;
use crate::web::{query_param, read_body, Body};

/// A JSON answer with the headers every channel response carries.
pub(crate) fn json_response(
    status: StatusCode,
    origin: Option<&str>,
    body: String,
) -> Response<Body> {
    let mut b = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store");
    if let Some(o) = origin {
        b = b
            .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, o)
            .header(header::VARY, "Origin");
    }
    b.body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}

pub(crate) fn origin_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The answer to a poll or send on a channel that does not exist (any more).
pub(crate) fn unknown_channel_json() -> String {
    let bye = ServerFrame::Bye {
        code: close::CONNECTION_EXPIRED,
        reason: "unknown channel",
    }
    .encode();
    format!("{{\"from\":0,\"frames\":[{bye}]}}")
}

pub(crate) fn poll_json(r: &PollResult) -> String {
    let mut out = format!("{{\"from\":{},\"frames\":[", r.from);
    for (i, f) in r.frames.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Frames are JSON text made by `ServerFrame::encode`, so valid UTF-8.
        out.push_str(std::str::from_utf8(f).unwrap_or("null"));
    }
    out.push(']');
    if r.superseded {
        out.push_str(",\"superseded\":true");
    }
    out.push('}');
    out
}

/// Split a send body into frame texts: one JSON object, or an array of them.
pub(crate) fn split_frames(text: &str) -> Result<Vec<String>, HttpError> {
    let t = text.trim_start();
    if t.starts_with('[') {
        let v: Vec<&RawValue> =
            serde_json::from_str(t).map_err(|e| HttpError::BadRequest(format!("body: {e}")))?;
        if v.is_empty() {
            return Err(HttpError::BadRequest("no frames".into()));
        }
        Ok(v.into_iter().map(|r| r.get().to_string()).collect())
    } else {
        let r: &RawValue =
            serde_json::from_str(t).map_err(|e| HttpError::BadRequest(format!("body: {e}")))?;
        Ok(vec![r.get().to_string()])
    }
}

pub(crate) fn channel_error(e: ChannelError) -> HttpError {
    match e {
        ChannelError::TooManyChannels
        | ChannelError::TooManyFromAddress
        | ChannelError::InboundFull
        | ChannelError::TooManyPending
        | ChannelError::TooManyPendingFromAddress => HttpError::Unavailable(e.to_string()),
        ChannelError::TooBig => HttpError::TooLarge,
        _ => HttpError::BadRequest(e.to_string()),
    }
}

/// Bodies may be text/plain (XDomainRequest; no CORS preflight), JSON, or untyped.
fn check_content_type(headers: &HeaderMap) -> Result<(), HttpError> {
    match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => Ok(()),
        Some(ct) => {
            let ct = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if ct == "text/plain" || ct == "application/json" || ct.is_empty() {
                Ok(())
            } else {
                Err(HttpError::UnsupportedMediaType(ct))
            }
        }
    }
}

fn chan_param(req: &Request<Incoming>) -> Result<&str, HttpError> {
    query_param(req.uri().query(), "chan")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| HttpError::BadRequest("missing chan".into()))
}

pub(crate) fn ack_param(query: Option<&str>) -> Result<u64, HttpError> {
    match query_param(query, "ack") {
        None | Some("") => Ok(0),
        Some(a) => a
            .parse()
            .map_err(|_| HttpError::BadRequest("ack must be a non-negative integer".into())),
    }
}

async fn body_text(req: Request<Incoming>, ctx: &HttpCtx) -> Result<String, HttpError> {
    check_content_type(req.headers())?;
    let limit = ctx.hub.config().max_frame_bytes * 8;
    let bytes = read_body(req.into_body(), limit, ctx.hub.config().request_timeout()).await?;
    String::from_utf8(bytes.to_vec()).map_err(|_| HttpError::BadRequest("body is not UTF-8".into()))
}

/// `POST /v1/lp/open?tr=lp|xdr`, body: the hello frame.
pub(crate) async fn open(
    req: Request<Incoming>,
    ctx: &HttpCtx,
) -> Result<Response<Body>, HttpError> {
    let origin = origin_of(req.headers());
    let tr = query_param(req.uri().query(), "tr").unwrap_or(TransportKind::LongPoll.as_str());
    let kind = match tr.parse() {
        Ok(kind @ (TransportKind::LongPoll | TransportKind::Xdr)) => kind,
        _ => return Err(HttpError::BadRequest(format!("unknown transport {tr:?}"))),
    };
    let info = ConnInfo::from_headers(req.headers(), true, ctx.peer);
    let hello = body_text(req, ctx).await?;
    let chan = ctx
        .channels
        .open(kind, hello, &ctx.hub, info, ctx.shutdown.clone())
        .map_err(channel_error)?;
    Ok(json_response(
        StatusCode::OK,
        origin.as_deref(),
        format!("{{\"chan\":\"{}\"}}", chan.id),
    ))
}

/// `GET /v1/lp/poll?chan=C&ack=N`
pub(crate) async fn poll(
    req: Request<Incoming>,
    ctx: &HttpCtx,
) -> Result<Response<Body>, HttpError> {
    let origin = origin_of(req.headers());
    let ack = ack_param(req.uri().query())?;
    let Some(chan) = ctx.channels.get(chan_param(&req)?) else {
        return Ok(json_response(
            StatusCode::OK,
            origin.as_deref(),
            unknown_channel_json(),
        ));
    };
    let body = poll_channel(&chan, ack, ctx).await?;
    Ok(json_response(StatusCode::OK, origin.as_deref(), body))
}

pub(crate) async fn poll_channel(
    chan: &Channel,
    ack: u64,
    ctx: &HttpCtx,
) -> Result<String, HttpError> {
    let r = chan
        .poll(ack, ctx.hub.config().poll_timeout(), ctx.shutdown.clone())
        .await
        .map_err(channel_error)?;
    Ok(poll_json(&r))
}

/// `POST /v1/lp/send?chan=C`, body: a frame or an array of frames.
pub(crate) async fn send(
    req: Request<Incoming>,
    ctx: &HttpCtx,
) -> Result<Response<Body>, HttpError> {
    let origin = origin_of(req.headers());
    let chan = ctx.channels.get(chan_param(&req)?);
    let text = body_text(req, ctx).await?;
    let Some(chan) = chan else {
        return Ok(json_response(
            StatusCode::OK,
            origin.as_deref(),
            unknown_channel_json(),
        ));
    };
    let n = chan
        .push_inbound(split_frames(&text)?)
        .map_err(channel_error)?;
    Ok(json_response(
        StatusCode::OK,
        origin.as_deref(),
        format!("{{\"ok\":true,\"n\":{n}}}"),
    ))
}

/// `POST /v1/lp/close?chan=C`
pub(crate) async fn close(
    req: Request<Incoming>,
    ctx: &HttpCtx,
) -> Result<Response<Body>, HttpError> {
    let origin = origin_of(req.headers());
    if let Some(chan) = ctx.channels.get(chan_param(&req)?) {
        chan.close_by_client();
    }
    Ok(json_response(
        StatusCode::OK,
        origin.as_deref(),
        "{\"ok\":true}".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_bodies_split_into_frames() {
        assert_eq!(
            split_frames(r#"{"t":"ping"}"#).unwrap(),
            vec![r#"{"t":"ping"}"#]
        );
        assert_eq!(
            split_frames(r#" [{"t":"ping"}, {"t":"msg","cid":"a","body":"[x]"}]"#).unwrap(),
            vec![r#"{"t":"ping"}"#, r#"{"t":"msg","cid":"a","body":"[x]"}"#]
        );
        assert!(split_frames("[]").is_err());
        assert!(split_frames("{oops").is_err());
        assert!(split_frames("").is_err());
    }

    #[test]
    fn poll_answers_are_json() {
        let r = PollResult {
            from: 4,
            frames: vec![Bytes::from_static(b"{\"t\":\"ping\"}")],
            superseded: false,
        };
        let v: serde_json::Value = serde_json::from_str(&poll_json(&r)).unwrap();
        assert_eq!(v["from"], 4);
        assert_eq!(v["frames"][0]["t"], "ping");
        let v: serde_json::Value = serde_json::from_str(&unknown_channel_json()).unwrap();
        assert_eq!(v["frames"][0]["code"], 4004);
    }
}
