//! HTTP primitives shared by the edge and the HTTP transports: the response body type,
//! the one error type with its statuses, query parsing and bounded body reading.
//!
//! Owns: nothing of routing or of what requests mean; it sits below both `http` and
//! `transport`.

mod error;

use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;

pub use error::HttpError;

pub type Body = Full<Bytes>;

/// Read a request body of at most `limit` bytes (413 past it).
pub async fn read_body(
    body: Incoming,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<Bytes, HttpError> {
    let collected = tokio::time::timeout(timeout, Limited::new(body, limit).collect())
        .await
        .map_err(|_| HttpError::RequestTimeout)?;
    match collected {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(HttpError::TooLarge)
        }
        Err(e) => Err(HttpError::BadRequest(format!("reading body: {e}"))),
    }
}

/// Query parameter `name`, percent-decoded (`+` is a space) as UTF-8.
pub fn query_decoded(query: Option<&str>, name: &str) -> Result<Option<String>, HttpError> {
    let Some(raw) = query_param(query, name) else {
        return Ok(None);
    };
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                // Two hex digits, and nothing else: `from_str_radix` alone would also
                // take a sign ("%+7" as 0x07).
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        HttpError::BadRequest(format!("bad percent-encoding in {name}"))
                    })?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map(Some)
        .map_err(|_| HttpError::BadRequest(format!("{name} is not UTF-8")))
}

pub fn text(status: StatusCode, content_type: &str, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}

/// The value of query parameter `name`, if present (no percent-decoding: the values this
/// server reads are tokens of `[A-Za-z0-9_-]`).
pub fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}
