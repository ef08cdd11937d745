//! Cross-origin answers: the CORS headers of the API endpoints a widget calls from
//! another origin (negotiation, long-poll and XDomainRequest channels), and the preflight.
//!
//! Owns: echoing the request's `Origin` (never `*` with credentials: none are used), and
//! the preflight's allowed methods and headers. Which origins may talk to a site is not
//! decided here: the `hello` does that (`Hub::origin_allowed`).

use bytes::Bytes;
use http::{header, HeaderMap, Request, Response, StatusCode};
use http_body_util::Full;

use super::Body;

/// The request's `Origin`, if it sent one as text.
pub(super) fn origin_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A JSON answer with the headers every channel response carries: no caching, and the
/// request's origin allowed to read it.
pub(super) fn json_response(
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

/// `OPTIONS /v1/…`: CORS preflight. No credentials are ever used, so any origin may ask;
/// sites' allowed origins are enforced by `hello`.
pub(super) fn preflight<B>(req: &Request<B>) -> Response<Body> {
    let origin = origin_of(req.headers()).unwrap_or_else(|| "*".into());
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin)
        .header(header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS")
        .header(header::ACCESS_CONTROL_ALLOW_HEADERS, "Content-Type")
        .header(header::ACCESS_CONTROL_MAX_AGE, "600")
        .header(header::VARY, "Origin")
        .body(Full::default())
        .expect("static response parts are valid")
}
