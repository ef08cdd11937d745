//! HTTP primitives of the edge: the response body type, the one error type with its
//! statuses, its JSON body and the conversions of the core's and the store's errors into
//! it, query parsing and bounded body reading.
//!
//! Owns: nothing of routing or of what requests mean. It sits below `http` (and the
//! `transport`s, which need none of it: their HTTP requests are the edge's), above the
//! core and the store whose errors it maps.

mod error;

use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;

pub(crate) use error::HttpError;

pub(crate) type Body = Full<Bytes>;

/// Read a request body of at most `limit` bytes (413 past it).
pub(crate) async fn read_body(
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

/// Query parameter `name`, percent-decoded (`+` is a space) as UTF-8. Strict: a `%` not
/// followed by two hex digits, or bytes that are not UTF-8, are refused (400), never
/// passed on as they came.
pub(crate) fn query_decoded(query: Option<&str>, name: &str) -> Result<Option<String>, HttpError> {
    let Some(raw) = query_param(query, name) else {
        return Ok(None);
    };
    // `percent_decode` leaves a malformed escape as it is; here it is a client mistake.
    // (Two hex digits and nothing else: a sign, as `from_str_radix` would take, is not.)
    let well_formed = raw.split('%').skip(1).all(|rest| {
        rest.as_bytes()
            .get(..2)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return Err(HttpError::BadRequest(format!(
            "bad percent-encoding in {name}"
        )));
    }
    // A literal `+` arrives as `%2B`, so every raw `+` is a space.
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| Some(s.into_owned()))
        .map_err(|_| HttpError::BadRequest(format!("{name} is not UTF-8")))
}

pub(crate) fn text(status: StatusCode, content_type: &str, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}

/// The value of query parameter `name`, if present (no percent-decoding: the values this
/// server reads are tokens of `[A-Za-z0-9_-]`).
pub(crate) fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        let q = Some("f=%7B%22t%22%3A%22ping%22%7D&s=a+b&u=%E5%AE%A2&bad=%G1&bad2=%E5");
        assert_eq!(query_decoded(q, "f").unwrap().unwrap(), r#"{"t":"ping"}"#);
        assert_eq!(query_decoded(q, "s").unwrap().unwrap(), "a b");
        assert_eq!(query_decoded(q, "u").unwrap().unwrap(), "客");
        assert!(query_decoded(q, "bad").is_err());
        assert!(query_decoded(q, "bad2").is_err());
        assert_eq!(query_decoded(q, "none").unwrap(), None);
        // A percent sign takes two hex digits, never a signed number.
        for bad in ["x=%+7", "x=%+7D", "x=%-7", "x=% 7", "x=%7"] {
            assert!(query_decoded(Some(bad), "x").is_err(), "{bad}");
        }
        assert_eq!(query_decoded(Some("x=%7d%7D"), "x").unwrap().unwrap(), "}}");
        assert_eq!(query_decoded(Some("x=a%2Bb"), "x").unwrap().unwrap(), "a+b");
        for bad in ["x=%", "x=a%", "x=%%41", "x=%\u{e9}1"] {
            assert!(query_decoded(Some(bad), "x").is_err(), "{bad}");
        }
    }

    #[test]
    fn query_params() {
        assert_eq!(query_param(Some("a=1&site=s_x&b"), "site"), Some("s_x"));
        assert_eq!(query_param(Some("a=1&b"), "b"), Some(""));
        assert_eq!(query_param(Some("a=1"), "site"), None);
        assert_eq!(query_param(None, "site"), None);
    }
}
