//! Long-polling (XHR with CORS) and XDomainRequest: the HTTP side of channels.
//!
//! Owns: `POST /v1/lp/open`, `GET /v1/lp/poll`, `POST /v1/lp/send`, `POST /v1/lp/close`
//! — reading their parameters and bodies, and writing their JSON answers (`docs/protocol.md`
//! §6.2): a poll answer `{"from","frames"[,"superseded"]}`, a send body cut into frames.
//! JSONP (`jsonp`) answers the same shapes. The channel mechanics are
//! `transport::channel`; what frames mean is `core`.

use http::{header, HeaderMap, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::value::RawValue;

use super::cors::{json_response, origin_of};
use super::error::HttpError;
use super::{query_param, read_body, Body, HttpCtx};
use crate::core::conn::ConnInfo;
use crate::core::hub::TransportKind;
use crate::protocol::{close, ServerFrame};
use crate::transport::channel::{Channel, PollResult};

/// The answer to a poll or send on a channel that does not exist (any more): a poll
/// answer whose one frame is `bye` 4004, so the client opens a new channel.
pub(super) fn unknown_channel_json() -> String {
    let bye = ServerFrame::Bye {
        code: close::CONNECTION_EXPIRED,
        reason: "unknown channel",
        url: None,
    };
    poll_json(&PollResult {
        from: 0,
        frames: vec![bye.to_bytes()],
        superseded: false,
    })
}

/// A poll's answer as JSON: `{"from":N,"frames":[…]}`, with `"superseded":true` when a
/// newer poll ended this one.
pub(super) fn poll_json(r: &PollResult) -> String {
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
        v.into_iter().map(frame_text).collect()
    } else {
        Ok(vec![frame_text(parse_frame(t)?)?])
    }
}

fn parse_frame(t: &str) -> Result<&RawValue, HttpError> {
    serde_json::from_str(t).map_err(|e| HttpError::BadRequest(format!("body: {e}")))
}

/// A frame is a JSON object: anything else is refused here, before it reaches a channel.
fn frame_text(r: &RawValue) -> Result<String, HttpError> {
    if r.get().starts_with('{') {
        Ok(r.get().to_string())
    } else {
        Err(HttpError::BadRequest("a frame is a JSON object".into()))
    }
}

/// The hello of an `open`: one JSON object (its fields are the core's to check).
pub(crate) fn hello_frame(text: &str) -> Result<String, HttpError> {
    if text.trim().is_empty() {
        return Err(HttpError::BadRequest(
            "missing hello: the body is the hello frame".into(),
        ));
    }
    frame_text(parse_frame(text.trim())?)
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

/// The `chan` parameter: present and not empty.
pub(super) fn chan_param(query: Option<&str>) -> Result<&str, HttpError> {
    query_param(query, "chan")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| HttpError::BadRequest("missing chan".into()))
}

/// The `ack` parameter: the last frame the client holds (0 when absent or empty).
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
pub(super) async fn open(
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
    let hello = hello_frame(&body_text(req, ctx).await?)?;
    let chan = ctx
        .channels
        .open(kind, hello, &ctx.hub, info, ctx.shutdown.clone())?;
    Ok(json_response(
        StatusCode::OK,
        origin.as_deref(),
        format!("{{\"chan\":\"{}\"}}", chan.id),
    ))
}

/// `GET /v1/lp/poll?chan=C&ack=N`
pub(super) async fn poll(
    req: Request<Incoming>,
    ctx: &HttpCtx,
) -> Result<Response<Body>, HttpError> {
    let origin = origin_of(req.headers());
    let ack = ack_param(req.uri().query())?;
    let Some(chan) = ctx.channels.get(chan_param(req.uri().query())?) else {
        return Ok(json_response(
            StatusCode::OK,
            origin.as_deref(),
            unknown_channel_json(),
        ));
    };
    let body = poll_channel(&chan, ack, ctx).await?;
    Ok(json_response(StatusCode::OK, origin.as_deref(), body))
}

/// Poll `chan` after `ack` (parked up to `poll_timeout_ms`), answered as JSON.
pub(super) async fn poll_channel(
    chan: &Channel,
    ack: u64,
    ctx: &HttpCtx,
) -> Result<String, HttpError> {
    let r = chan
        .poll(ack, ctx.hub.config().poll_timeout(), ctx.shutdown.clone())
        .await?;
    Ok(poll_json(&r))
}

/// `POST /v1/lp/send?chan=C`, body: a frame or an array of frames.
pub(super) async fn send(
    req: Request<Incoming>,
    ctx: &HttpCtx,
) -> Result<Response<Body>, HttpError> {
    let origin = origin_of(req.headers());
    let chan = ctx.channels.get(chan_param(req.uri().query())?);
    let frames = split_frames(&body_text(req, ctx).await?)?;
    let Some(chan) = chan else {
        return Ok(json_response(
            StatusCode::OK,
            origin.as_deref(),
            unknown_channel_json(),
        ));
    };
    let n = chan.push_inbound(frames)?;
    Ok(json_response(
        StatusCode::OK,
        origin.as_deref(),
        format!("{{\"ok\":true,\"n\":{n}}}"),
    ))
}

/// `POST /v1/lp/close?chan=C`
pub(super) async fn close(
    req: Request<Incoming>,
    ctx: &HttpCtx,
) -> Result<Response<Body>, HttpError> {
    let origin = origin_of(req.headers());
    if let Some(chan) = ctx.channels.get(chan_param(req.uri().query())?) {
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
    use bytes::Bytes;

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
        assert!(split_frames("[1]").is_err(), "a frame is an object");
        assert!(split_frames("[{}, null]").is_err());
        assert!(split_frames("\"x\"").is_err());
        assert_eq!(
            hello_frame(" {\"t\":\"hello\"} ").unwrap(),
            "{\"t\":\"hello\"}"
        );
        assert!(hello_frame("").is_err() && hello_frame("  ").is_err());
        assert!(hello_frame("[{}]").is_err(), "one hello, not an array");
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
        assert_eq!(v["from"], 0);
        assert_eq!(v["frames"][0]["code"], 4004);
        assert!(v.get("superseded").is_none());
    }
}
