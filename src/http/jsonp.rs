//! JSONP: the HTTP side of channels for browsers with neither WebSocket nor CORS.
//!
//! Owns: `GET /v1/jsonp/{open,poll,send,close}` — callback validation (the one rule of
//! which names may be called back, with the browser-global denylist), script-safe
//! answers (`/**/` prefix, `nosniff`, U+2028/U+2029 escaped), URL length limits, and
//! feeding multi-part messages to the channel's reassembly (`docs/protocol.md` §6.2).
//! The answers inside the callback are long-poll's (`long_poll`); the channel mechanics
//! are `transport::channel`.

use std::collections::HashSet;
use std::sync::OnceLock;

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use super::error::HttpError;
use super::long_poll::{ack_param, chan_param, poll_channel, split_frames, unknown_channel_json};
use super::{query_decoded, query_param, Body, HttpCtx};
use crate::core::conn::ConnInfo;
use crate::core::hub::TransportKind;

/// Properties of a real browser's global object, recorded from Chromium by
/// `widget-js/scripts/record-globals.js`: a callback may not start with one.
const BROWSER_GLOBALS: &str = include_str!("../../fixtures/browser-globals.txt");
/// Globals of IE6–IE11 and other old browsers that Chromium lacks, kept by hand.
const LEGACY_GLOBALS: &str = include_str!("../../fixtures/legacy-globals.txt");
/// Names that reach code, prototypes or `Function` from any object: no segment may be one.
const FORBIDDEN_SEGMENTS: [&str; 14] = [
    "constructor",
    "prototype",
    "__proto__",
    "__defineGetter__",
    "__defineSetter__",
    "__lookupGetter__",
    "__lookupSetter__",
    "call",
    "apply",
    "bind",
    "eval",
    "Function",
    "toString",
    "valueOf",
];

/// The names a callback's first segment may not be: both global lists, built once.
fn globals() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        [BROWSER_GLOBALS, LEGACY_GLOBALS]
            .iter()
            .flat_map(|list| list.lines())
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// Is `cb` a safe callback name (`docs/protocol.md` §6.2): up to three dot-separated
/// identifiers of `[A-Za-z_$][A-Za-z0-9_$]{0,63}`, the first not a browser global, none
/// a name that reaches code or prototypes. So a callback can only call a page's own
/// names (the widget's are `kefu._j.cN`), never a built-in such as `eval` or
/// `document.write`.
pub(crate) fn valid_callback(cb: &str) -> bool {
    let segs: Vec<&str> = cb.split('.').collect();
    (1..=3).contains(&segs.len())
        && segs.iter().all(|s| {
            let b = s.as_bytes();
            (1..=64).contains(&b.len())
                && (b[0].is_ascii_alphabetic() || b[0] == b'_' || b[0] == b'$')
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'$')
                && !FORBIDDEN_SEGMENTS.contains(s)
        })
        && !globals().contains(segs[0])
}

/// `/**/cb(json);` — JSON is not quite JavaScript: U+2028/U+2029 are escaped.
pub(crate) fn wrap(cb: &str, json: &str) -> String {
    let safe = json
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    format!("/**/{cb}({safe});")
}

pub(super) fn script(status: StatusCode, cb: &str, json: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(
            header::CONTENT_TYPE,
            "application/javascript; charset=utf-8",
        )
        .header("x-content-type-options", "nosniff")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Full::new(Bytes::from(wrap(cb, json))))
        .expect("static response parts are valid")
}

/// Refusals before a callback is known are plain text: never script.
fn plain(status: StatusCode, reason: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header("x-content-type-options", "nosniff")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Full::new(Bytes::from(reason.to_string())))
        .expect("static response parts are valid")
}

/// The callback of a JSONP request, or the plain-text refusal to send instead.
pub(super) fn callback<'a>(
    req: &'a Request<Incoming>,
    ctx: &HttpCtx,
) -> Result<&'a str, Box<Response<Body>>> {
    let len = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().len())
        .unwrap_or(0);
    if len > ctx.hub.config().max_url_bytes {
        return Err(Box::new(plain(
            StatusCode::URI_TOO_LONG,
            "URL over the limit: split the message into parts",
        )));
    }
    match query_param(req.uri().query(), "cb") {
        Some(cb) if valid_callback(cb) => Ok(cb),
        _ => Err(Box::new(plain(
            StatusCode::BAD_REQUEST,
            "missing or invalid callback name",
        ))),
    }
}

/// `GET /v1/jsonp/{action}`
pub(super) async fn handle(req: Request<Incoming>, ctx: &HttpCtx, action: &str) -> Response<Body> {
    let cb = match callback(&req, ctx) {
        Ok(cb) => cb.to_string(),
        Err(resp) => return *resp,
    };
    match run(&req, ctx, action).await {
        Ok(json) => script(StatusCode::OK, &cb, &json),
        Err(e) => script(e.status(), &cb, &e.body()),
    }
}

async fn run(req: &Request<Incoming>, ctx: &HttpCtx, action: &str) -> Result<String, HttpError> {
    let q = req.uri().query();
    if action == "open" {
        let hello = query_decoded(q, "f")?
            .filter(|f| !f.trim().is_empty())
            .ok_or_else(|| HttpError::BadRequest("missing f".into()))?;
        let hello = super::long_poll::hello_frame(&hello)?;
        // Script loads carry no Origin; the site's origins cannot be checked for JSONP.
        let info = ConnInfo::from_headers(req.headers(), false, ctx.peer);
        let chan = ctx.channels.open(
            TransportKind::Jsonp,
            hello,
            &ctx.hub,
            info,
            ctx.shutdown.clone(),
        )?;
        return Ok(format!("{{\"chan\":\"{}\"}}", chan.id));
    }
    // A bad request is refused as such whether or not its channel still exists: what it
    // carries is read before the channel is looked up.
    let send = match action {
        "send" => Some(Send::of(q)?),
        _ => None,
    };
    let ack = match action {
        "poll" => ack_param(q)?,
        _ => 0,
    };
    let Some(chan) = ctx.channels.get(chan_param(q)?) else {
        return Ok(unknown_channel_json());
    };
    match (action, send) {
        ("poll", _) => poll_channel(&chan, ack, ctx).await,
        ("close", _) => {
            chan.close_by_client();
            Ok("{\"ok\":true}".into())
        }
        (_, Some(Send::Whole(frames))) => {
            let n = chan.push_inbound(frames)?;
            Ok(format!("{{\"ok\":true,\"n\":{n}}}"))
        }
        (_, Some(Send::Part { pid, i, n, d })) => {
            let max = ctx.hub.config().max_frame_bytes;
            let (have, done) = chan.add_part(pid, i, n, d, max)?;
            if let Some(frame) = done {
                chan.push_inbound(vec![frame])?;
            } else {
                chan.touch();
            }
            Ok(format!("{{\"ok\":true,\"have\":{have},\"n\":{n}}}"))
        }
        _ => Err(HttpError::NotFound),
    }
}

/// What a JSONP send carries: whole frames (`f`), or part `i` of `n` of the frame `pid`
/// (`d`), for a frame too long for one URL (`docs/protocol.md` §6.2).
enum Send<'q> {
    Whole(Vec<String>),
    Part {
        pid: &'q str,
        i: usize,
        n: usize,
        d: String,
    },
}

impl<'q> Send<'q> {
    fn of(q: Option<&'q str>) -> Result<Send<'q>, HttpError> {
        let Some(pid) = query_param(q, "pid") else {
            let f =
                query_decoded(q, "f")?.ok_or_else(|| HttpError::BadRequest("missing f".into()))?;
            return Ok(Send::Whole(split_frames(&f)?));
        };
        if !crate::ids::is_token(pid, 1, crate::protocol::CID_MAX) {
            return Err(HttpError::BadRequest(
                "pid must be 1-64 chars of [A-Za-z0-9_-]".into(),
            ));
        }
        let num = |name: &str| -> Result<usize, HttpError> {
            query_param(q, name)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| {
                    HttpError::BadRequest(format!("{name} must be a non-negative integer"))
                })
        };
        let (i, n) = (num("i")?, num("n")?);
        let d = query_decoded(q, "d")?.ok_or_else(|| HttpError::BadRequest("missing d".into()))?;
        Ok(Send::Part { pid, i, n, d })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_are_strict() {
        for ok in ["cb", "_k1", "$", "kefu.cb_12", "a.b.c", "jQuery123_456"] {
            assert!(valid_callback(ok), "{ok}");
        }
        for bad in [
            "", "1cb", "a-b", "alert(1)", "a..b", "a.b.c.d", "x;y", "<script>", "a b", ".a", "a.",
            "\u{2028}", "ф",
        ] {
            assert!(!valid_callback(bad), "{bad}");
        }
        assert!(!valid_callback(&"a".repeat(65)));
    }

    #[test]
    fn callbacks_cannot_reach_browser_built_ins() {
        for bad in [
            "eval",
            "alert",
            "document.write",
            "location.assign",
            "window.x",
            "self.x",
            "top.x",
            "parent.x",
            "frames.x",
            "globalThis.x",
            "opener.x",
            "Function",
            "setTimeout",
            "postMessage",
            "open",
            "fetch",
            // Legacy IE globals Chromium lacks.
            "execScript",
            "ActiveXObject",
            "showModalDialog",
            "attachEvent",
            "CollectGarbage",
            // Segments that reach code or prototypes, anywhere.
            "constructor",
            "kefu.constructor",
            "kefu.constructor.constructor",
            "kefu._j.constructor",
            "__proto__",
            "kefu.__proto__",
            "kefu.prototype.x",
            "kefu.__defineGetter__",
            "kefu.__defineSetter__",
            "kefu.__lookupGetter__",
            "kefu.__lookupSetter__",
            "kefu.call",
            "kefu.apply",
            "kefu.bind",
            "kefu.eval",
            "kefu.Function",
            "kefu.toString",
            "kefu._j.valueOf",
        ] {
            assert!(!valid_callback(bad), "{bad}");
        }
        // Case matters in JavaScript: these are not the built-ins.
        for ok in [
            "kefu._j.c1",
            "kefu._j.c99999",
            "kefu.cb0",
            "cb123",
            "Eval",
            "Alert.x",
            "jQuery1234_5678",
            "k.cb_1",
            "a.window.document",
        ] {
            assert!(valid_callback(ok), "{ok}");
        }
    }

    #[test]
    fn the_global_lists_are_real_and_spare_the_widget() {
        let g = globals();
        assert!(g.len() > 900, "the recorded list is whole: {}", g.len());
        for name in [
            "window",
            "document",
            "location",
            "self",
            "top",
            "parent",
            "frames",
            "globalThis",
            "eval",
            "alert",
            "execScript",
            "VBArray",
        ] {
            assert!(g.contains(name), "{name}");
        }
        assert!(
            !g.contains("kefu"),
            "the widget's namespace is not a global"
        );
        assert!(
            g.iter()
                .all(|n| !n.starts_with('#') && !n.contains(char::is_whitespace)),
            "comments and blanks are not names"
        );
    }

    #[test]
    fn wrapped_answers_are_script_safe() {
        let w = wrap("cb", "{\"b\":\"x\u{2028}y\u{2029}\"}");
        assert_eq!(w, "/**/cb({\"b\":\"x\\u2028y\\u2029\"});");
    }
}
