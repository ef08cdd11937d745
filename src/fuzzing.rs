//! Entry points of the fuzz targets (`fuzz/`) and of their corpus replay test
//! (`tests/fuzz_corpus.rs`): one function per target, each taking arbitrary bytes, feeding
//! them to one reader of untrusted input, and asserting what must hold of its answer where
//! that is cheap to state. A panic here is a finding: a reader panicked, or an answer broke
//! its rule.
//!
//! Owns: nothing the server runs. Hidden from the docs, not an interface: each function is
//! a thin wrapper over the product code it names, so a target follows that code when it is
//! renamed or replaced.

use std::borrow::Cow;
use std::collections::hash_map::{Entry, HashMap};

use serde::de::IgnoredAny;

use crate::core::auth::{sign_identity, verify_identity, IdentityClaims};
use crate::http::jsonp::{valid_callback, wrap};
use crate::http::long_poll::{self, ack_param};
use crate::http::{conversation_segment, path_id};
use crate::ids::is_token;
use crate::protocol::{
    parse_client_frame, ClientFrame, ErrorCode, Hello, Role, User, CID_MAX, TYPING_TEXT_MAX,
    USER_ATTRS_MAX, USER_ATTR_KEY_MAX, USER_ATTR_VALUE_MAX, USER_ID_MAX, USER_NAME_MAX,
    VISITOR_TOKEN_MAX, VISITOR_TOKEN_MIN,
};
use crate::transport::parts::Parts;
use crate::transport::websocket::frame;
use crate::web::{query_decoded, query_param};

/// What a target runs on one input.
pub type Target = fn(&[u8]);

/// The names of every target, as `fuzz/fuzz_targets/` and `fuzz/corpus/` name them, with
/// the function each one runs.
pub const TARGETS: &[(&str, Target)] = &[
    ("client_frame", client_frame),
    ("jsonp_query", jsonp_query),
    ("jsonp_parts", jsonp_parts),
    ("split_frames", split_frames),
    ("query_path", query_path),
    ("identity", identity),
    ("ws_frames", ws_frames),
];

/// Bytes as the text a transport would hand on (invalid UTF-8 replaced).
fn text(data: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// Client frames: `parse_client_frame` with a body limit taken from the first byte (0–127
/// characters, or the default 4000 from 128 up). An accepted frame must pass every shape
/// rule again, checked here independently, and parse the same twice; a refusal must be a
/// client-mistake code whose `of`/`cid` echo only tokens, encoded as an `err` frame.
pub fn client_frame(data: &[u8]) {
    let (max, rest) = match data.split_first() {
        Some((&b, rest)) if b < 128 => (usize::from(b), rest),
        Some((_, rest)) => (4000, rest),
        None => (4000, data),
    };
    let text = text(rest);
    match parse_client_frame(&text, max) {
        Ok(frame) => {
            assert_frame_is_valid(&frame, max);
            assert_eq!(parse_client_frame(&text, max).as_ref(), Ok(&frame));
        }
        Err(e) => {
            assert!(
                matches!(
                    e.code,
                    ErrorCode::BadJson | ErrorCode::BadFrame | ErrorCode::TooLong
                ),
                "{:?}",
                e.code
            );
            for echoed in [&e.of, &e.cid].into_iter().flatten() {
                assert!(is_token(echoed, 1, CID_MAX), "echoed {echoed:?}");
            }
            assert!(e.conv.is_none() && e.epoch.is_none() && e.head.is_none());
            if !e.msg.starts_with("unknown value \"") {
                for rust in [
                    "ClientFrame",
                    "Hello",
                    "struct",
                    "enum",
                    "u32",
                    "u64",
                    "i64",
                ] {
                    assert!(!e.msg.contains(rust), "{:?}", e.msg);
                }
            }
            let v: serde_json::Value =
                serde_json::from_slice(&e.to_bytes()).expect("err frames are JSON");
            assert_eq!(v["t"], "err");
            assert_eq!(v["msg"], e.msg.as_str());
        }
    }
}

fn assert_frame_is_valid(frame: &ClientFrame, max_body_chars: usize) {
    let chars = |s: &str| s.chars().count();
    match frame {
        ClientFrame::Hello(Hello {
            role,
            visitor,
            user,
            ..
        }) => {
            assert_ne!(*role, Role::System);
            if let Some(v) = visitor {
                assert!(is_token(v, VISITOR_TOKEN_MIN, VISITOR_TOKEN_MAX), "{v:?}");
            }
            if let Some(u) = user {
                assert_user_is_valid(u);
            }
        }
        ClientFrame::Msg {
            cid, body, contact, ..
        } => {
            assert!(is_token(cid.as_str(), 1, CID_MAX), "{cid:?}");
            assert!(chars(body) <= max_body_chars);
            assert!(!body.trim().is_empty());
            if let Some(c) = contact {
                assert!(chars(&c.name) <= USER_NAME_MAX && chars(&c.email) <= 256);
            }
        }
        ClientFrame::Typing { text: Some(t), .. } => assert!(chars(t) <= TYPING_TEXT_MAX),
        ClientFrame::Invite { text, .. } => assert!(chars(text) <= max_body_chars),
        _ => {}
    }
}

fn assert_user_is_valid(u: &User) {
    let chars = |s: &str| s.chars().count();
    assert!((1..=USER_ID_MAX).contains(&chars(&u.id)));
    assert!(chars(&u.name) <= USER_NAME_MAX);
    assert!(u.attrs.len() <= USER_ATTRS_MAX);
    for (k, v) in &u.attrs {
        assert!(chars(k) <= USER_ATTR_KEY_MAX);
        let len = match v {
            serde_json::Value::String(s) => chars(s),
            other => other.to_string().len(),
        };
        assert!(len <= USER_ATTR_VALUE_MAX);
    }
}

/// JSONP query strings: the callback (`cb`, and the whole input as a candidate name) must
/// be accepted exactly when it is one to three dot-separated identifiers, and then wrap
/// into `/**/cb(…);` with no raw U+2028/U+2029; every query value must percent-decode
/// exactly as a strict decoder does.
pub fn jsonp_query(data: &[u8]) {
    let q = text(data);
    let candidates = [query_param(Some(&q), "cb"), Some(&*q)];
    for cb in candidates.into_iter().flatten() {
        let ok = valid_callback(cb);
        assert_eq!(ok, is_callback_name(cb), "{cb:?}");
        if ok {
            let json = query_decoded(Some(&q), "f")
                .ok()
                .flatten()
                .unwrap_or_default();
            let w = wrap(cb, &json);
            assert!(w.starts_with(&format!("/**/{cb}(")) && w.ends_with(");"));
            assert!(!w.contains(['\u{2028}', '\u{2029}']));
        }
    }
    check_query(&q, &["cb", "f", "d", "pid", "i", "n", "chan", "ack"]);
}

/// One to three `.`-separated identifiers of `[A-Za-z_$][A-Za-z0-9_$]{0,63}`, read one
/// character at a time.
fn is_callback_name(cb: &str) -> bool {
    let (mut segments, mut len) = (1, 0);
    for c in cb.chars() {
        match c {
            '.' if len > 0 => (segments, len) = (segments + 1, 0),
            'A'..='Z' | 'a'..='z' | '_' | '$' => len += 1,
            '0'..='9' if len > 0 => len += 1,
            _ => return false,
        }
        if len > 64 || segments > 3 {
            return false;
        }
    }
    len > 0
}

/// Every parameter of `q` named in `names` or by one of its first four keys: `query_param`
/// finds the first `name=value` (or bare `name`) segment, and `query_decoded` agrees with
/// a strict decoder, including on what it refuses; a decoded value encodes back to itself.
fn check_query(q: &str, names: &[&str]) {
    let mut all: Vec<&str> = names.to_vec();
    for kv in q.split('&').take(4) {
        let key = kv.split_once('=').map_or(kv, |(k, _)| k);
        if !all.contains(&key) {
            all.push(key);
        }
    }
    for name in all {
        let first = q
            .split('&')
            .find(|kv| kv.split_once('=').map_or(*kv, |(k, _)| k) == name);
        let raw = query_param(Some(q), name);
        assert_eq!(
            raw,
            first.map(|kv| kv.split_once('=').map_or("", |(_, v)| v)),
            "{name:?}"
        );
        let decoded = query_decoded(Some(q), name);
        match raw {
            None => assert!(matches!(decoded, Ok(None))),
            Some(raw) => {
                let want = strict_decode(raw);
                assert_eq!(decoded.as_ref().ok().cloned().flatten(), want, "{raw:?}");
                assert_eq!(decoded.is_err(), want.is_none());
                if let Some(s) = want {
                    let again = format!("x={}", percent_encode(&s));
                    assert_eq!(query_decoded(Some(&again), "x").ok().flatten(), Some(s));
                }
            }
        }
    }
}

/// `%XX` with two hex digits is a byte, `+` a space, anything else itself; the bytes must
/// be UTF-8.
fn strict_decode(raw: &str) -> Option<String> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let (hi, lo) = (hex(*b.get(i + 1)?)?, hex(*b.get(i + 2)?)?);
                out.push((hi << 4) | lo);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(3 * s.len());
    for b in s.bytes() {
        out.push('%');
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

/// JSONP multi-part reassembly: a sequence of parts for four message ids against
/// `Parts`, checked step by step against a plain model of the rules (same total, index in
/// range, first copy wins, never more than the byte bound held, joined in index order).
/// Input: two bytes of byte bound (0–2047), then per part: id, index, total, length and
/// that many bytes of data.
pub fn jsonp_parts(data: &[u8]) {
    /// The channel's default `jsonp_max_parts`: totals past it never reach `Parts`.
    const MAX_PARTS: usize = 32;
    let mut bytes = data.iter().copied();
    let mut next = || bytes.next();
    let (Some(a), Some(b)) = (next(), next()) else {
        return;
    };
    let max_bytes = usize::from(u16::from_le_bytes([a, b]) % 2048);
    let mut pending: HashMap<u8, (Parts, Vec<Option<String>>)> = HashMap::new();
    while let (Some(pid), Some(i), Some(n), Some(len)) = (next(), next(), next(), next()) {
        let (pid, i, n) = (pid % 4, usize::from(i % 40), usize::from(n % 40));
        let chunk: Vec<u8> = (0..len % 64).map_while(|_| next()).collect();
        let part = String::from_utf8_lossy(&chunk).into_owned();
        let (parts, model) = match pending.entry(pid) {
            Entry::Occupied(e) => e.into_mut(),
            // What `Channel::add_part` refuses before it makes a `Parts`.
            Entry::Vacant(_) if n == 0 || n > MAX_PARTS || i >= n => continue,
            Entry::Vacant(e) => e.insert((Parts::new(n), vec![None; n])),
        };
        let got = parts.add(i, n, part.clone(), max_bytes);
        let want = if n != model.len() {
            Err(crate::transport::parts::PartError::InconsistentParts)
        } else if i >= n {
            Err(crate::transport::parts::PartError::PartOutOfRange(i, n))
        } else {
            model[i].get_or_insert(part);
            let held: usize = model.iter().flatten().map(String::len).sum();
            if held > max_bytes {
                Err(crate::transport::parts::PartError::TooBig)
            } else {
                Ok(model.iter().flatten().count())
            }
        };
        assert_eq!(got, want);
        if got.is_err() {
            pending.remove(&pid);
            continue;
        }
        assert!(parts.bytes() <= max_bytes);
        assert_eq!(parts.have(), model.iter().flatten().count());
        assert_eq!(parts.n(), model.len());
        if parts.is_complete() {
            let (parts, model) = pending.remove(&pid).expect("present");
            let joined = parts.join();
            assert!(joined.len() <= max_bytes);
            assert_eq!(joined, model.into_iter().flatten().collect::<String>());
        }
    }
}

/// Long-poll and JSONP send bodies: `split_frames`. Each frame it returns must be one
/// JSON value, cut from the body without surrounding whitespace, one per element of an
/// array body; each is then parsed as a client frame, as a channel would.
pub fn split_frames(data: &[u8]) {
    let body = text(data);
    let Ok(frames) = long_poll::split_frames(&body) else {
        return;
    };
    assert!(!frames.is_empty());
    for f in &frames {
        assert!(
            serde_json::from_str::<IgnoredAny>(f).is_ok(),
            "not JSON: {f:?}"
        );
        assert_eq!(f.as_str(), f.trim_matches([' ', '\t', '\n', '\r']));
        assert!(body.contains(f.as_str()));
        let _ = parse_client_frame(f, 4000);
    }
    let t = body.trim_start();
    if t.starts_with('[') {
        let all: Vec<IgnoredAny> = serde_json::from_str(t).expect("the array was read once");
        assert_eq!(all.len(), frames.len());
    } else {
        assert_eq!(frames, [t.trim_end_matches([' ', '\t', '\n', '\r'])]);
    }
}

/// Request targets (`path?query`): the conversation id of `/v1/conversations/{id}/…` and
/// of the settings paths must come from a path that names it exactly once, as decimal
/// digits; query parameters as `jsonp_query` checks them.
pub fn query_path(data: &[u8]) {
    let target = text(data);
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    for tail in ["messages", "entries"] {
        let Some(segment) = conversation_segment(path, tail) else {
            continue;
        };
        assert_eq!(format!("/v1/conversations/{segment}/{tail}"), path);
        check_path_id(segment);
    }
    for prefix in ["/v1/canned/", "/v1/rules/"] {
        if let Some(segment) = path.strip_prefix(prefix) {
            check_path_id(segment);
        }
    }
    check_query(
        query,
        &["chan", "ack", "site", "q", "after", "limit", "tr", "cb"],
    );
    if let Ok(ack) = ack_param(Some(query)) {
        let raw = query_param(Some(query), "ack").unwrap_or("");
        assert!(raw.is_empty() || raw.parse() == Ok(ack));
    }
}

fn check_path_id(segment: &str) {
    if let Some(id) = path_id(segment) {
        assert!(
            !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()),
            "{segment:?}"
        );
        assert_eq!(id.to_string(), {
            let s = segment.trim_start_matches('0');
            if s.is_empty() {
                "0"
            } else {
                s
            }
        });
    }
}

/// The host site's identity token (`verify_identity`). Input: a mode byte, then secret, id
/// and the rest separated by NUL bytes. Even modes check the rest as a token: it must never
/// panic, and claims it yields must sign into a token that verifies. Odd ones sign a right
/// token for the id and edit it as the rest says (pairs of position and byte: replace,
/// delete, insert, change case): it must verify exactly when no edit changed it.
pub fn identity(data: &[u8]) {
    const NOW: i64 = 1_800_000_000;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut fields = rest.splitn(3, |&b| b == 0);
    let secret = text(fields.next().unwrap_or_default());
    let id = text(fields.next().unwrap_or_default());
    let rest = fields.next().unwrap_or_default();
    if mode % 2 == 0 {
        if let Ok(claims) = verify_identity(&secret, &text(rest), NOW) {
            let again = sign_identity(&secret, &claims);
            assert!(verify_identity(&secret, &again, NOW).is_ok());
        }
        return;
    }
    let Ok(claims) = IdentityClaims::new(&id, "", Vec::new(), NOW, 3600) else {
        return;
    };
    if secret.is_empty() {
        return;
    }
    let right = sign_identity(&secret, &claims);
    assert!(verify_identity(&secret, &right, NOW).is_ok(), "{right}");
    let mut token: Vec<char> = right.chars().collect();
    for edit in rest.chunks_exact(2) {
        let (pos, b) = (usize::from(edit[0]), edit[1]);
        let at = pos % (token.len() + 1);
        let c = char::from(b & 0x7f);
        match (b >> 7, pos % 4) {
            (0, _) if at < token.len() => token[at] = c,
            (1, 0) if at < token.len() => {
                token.remove(at);
            }
            (1, 1) => token.insert(at, c),
            (1, _) if at < token.len() => token[at] = token[at].to_ascii_uppercase(),
            _ => token.push(c),
        }
    }
    let token: String = token.into_iter().collect();
    assert_eq!(
        verify_identity(&secret, &token, NOW).is_ok(),
        token == right,
        "secret {secret:?} id {id:?} token {token:?} right {right}"
    );
}

/// WebSocket frames as a client sends them: `frame::parse` over a stream of bytes, with
/// the payload limit taken from the first byte (× 64). Every frame read must lie within
/// the bytes, its length be the one `need` announces, every shorter prefix of it read as
/// incomplete, and the same payload written again as a client frame must read back the
/// same; a refusal ends the stream, as it ends a connection.
pub fn ws_frames(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let max = usize::from(first) * 64;
    let mut buf = rest.to_vec();
    let mut at = 0;
    while at < buf.len() {
        let original = buf[at..].to_vec();
        let f = match frame::parse(&mut buf[at..], max) {
            Ok(Some(f)) => f,
            Ok(None) | Err(_) => return,
        };
        let len = f.len();
        assert!(len <= original.len() && f.payload.start <= f.payload.end);
        assert!(f.payload.end - f.payload.start <= max);
        assert_eq!(frame::need(&original), Some(len));
        let mut prefix = original[..len - 1].to_vec();
        assert_eq!(frame::parse(&mut prefix, max), Ok(None));
        let payload = buf[at..][f.payload.clone()].to_vec();
        let mask = [original[f.payload.start - 4], 1, 2, 3];
        let mut again = frame::client_frame(f.fin, f.op, &payload, mask);
        let g = frame::parse(&mut again, max)
            .expect("a frame written again is valid")
            .expect("and complete");
        assert_eq!((g.fin, g.op), (f.fin, f.op));
        assert_eq!(&again[g.payload.clone()], &payload[..]);
        at += len;
    }
}
