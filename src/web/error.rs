//! HTTP errors: one type, one status each, one JSON body shape.
//!
//! Owns: the mapping from a refusal to its status code and reason, and from the errors of
//! the layers below (the store's, the core's) to refusals. Every handler returns these
//! instead of building error responses itself.

use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::Full;

use crate::core::access::ServiceError;
use crate::core::hub::Unhealthy;
use crate::core::login::LoginError;
use crate::core::send::SendError;
use crate::core::AppendError;
use crate::store::StoreError;

/// A refused HTTP request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("not found")]
    NotFound,
    #[error("unknown site")]
    UnknownSite,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("missing, unknown, expired or revoked token (or wrong email or password)")]
    Unauthorized,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("this cid is already used in another conversation: pick a new one")]
    CidTaken,
    #[error("too many attempts; retry in {0} s")]
    TooManyRequests(u64),
    #[error("payload too large")]
    TooLarge,
    #[error("unsupported content type {0:?}: send text/plain or application/json")]
    UnsupportedMediaType(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Refused at once because the work is at its bound; retry after a second.
    #[error("{0}")]
    Busy(String),
    #[error("the request did not arrive in time")]
    RequestTimeout,
    /// Another node of the cluster serves the site: its base URL (empty: ask the router).
    #[error("another node serves this site: send this request to it")]
    Moved(String),
}

impl HttpError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            HttpError::NotFound | HttpError::UnknownSite => StatusCode::NOT_FOUND,
            HttpError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            HttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::Forbidden(_) => StatusCode::FORBIDDEN,
            HttpError::Unauthorized => StatusCode::UNAUTHORIZED,
            HttpError::Conflict(_) | HttpError::CidTaken => StatusCode::CONFLICT,
            HttpError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            HttpError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            HttpError::Unavailable(_) | HttpError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            HttpError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            HttpError::Moved(_) => StatusCode::MISDIRECTED_REQUEST,
        }
    }

    pub(crate) fn code(&self) -> &'static str {
        match self {
            HttpError::NotFound => "not_found",
            HttpError::UnknownSite => "unknown_site",
            HttpError::MethodNotAllowed => "method_not_allowed",
            HttpError::BadRequest(_) => "bad_request",
            HttpError::Forbidden(_) => "forbidden",
            HttpError::Unauthorized => "unauthorized",
            HttpError::Conflict(_) => "conflict",
            HttpError::CidTaken => "cid_taken",
            HttpError::TooManyRequests(_) => "rate_limited",
            HttpError::TooLarge => "too_large",
            HttpError::UnsupportedMediaType(_) => "unsupported_media_type",
            HttpError::Unavailable(_) => "unavailable",
            HttpError::Busy(_) => "busy",
            HttpError::RequestTimeout => "request_timeout",
            HttpError::Moved(_) => "moved",
        }
    }

    /// The JSON body of this refusal: `{"error": code, "reason": text}` (and `url` for a
    /// move), the same in a plain answer and inside a JSONP callback.
    pub(crate) fn body(&self) -> String {
        let mut b = serde_json::json!({ "error": self.code(), "reason": self.to_string() });
        if let HttpError::Moved(url) = self {
            b["url"] = url.as_str().into();
        }
        b.to_string()
    }

    /// The body with the matching status (and `Retry-After` where one is due).
    pub(crate) fn into_response(self) -> Response<Full<Bytes>> {
        let body = self.body();
        let mut b = Response::builder();
        match &self {
            HttpError::TooManyRequests(wait) => b = b.header(header::RETRY_AFTER, wait.to_string()),
            HttpError::Busy(_) => b = b.header(header::RETRY_AFTER, "1"),
            // The rest of a late request is not read: close rather than reuse.
            HttpError::RequestTimeout => b = b.header(header::CONNECTION, "close"),
            _ => {}
        }
        b.status(self.status())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CACHE_CONTROL, "no-store")
            .body(Full::new(Bytes::from(body)))
            .expect("static response parts are valid")
    }
}

/// A store failure, as the HTTP API answers it: a conflict is the caller's (409); anything
/// else means the store could not do it now (503). The one place this mapping lives.
impl From<StoreError> for HttpError {
    fn from(e: StoreError) -> HttpError {
        match e {
            StoreError::Conflict(why) => HttpError::Conflict(why),
            e => HttpError::Unavailable(format!("store: {e}")),
        }
    }
}

/// A refusal of the API's services (`core::access`).
impl From<ServiceError> for HttpError {
    fn from(e: ServiceError) -> HttpError {
        match e {
            ServiceError::Unauthorized => HttpError::Unauthorized,
            ServiceError::Forbidden(why) => HttpError::Forbidden(why.into()),
            ServiceError::Invalid(why) => HttpError::BadRequest(why),
            ServiceError::NotFound => HttpError::NotFound,
            ServiceError::SignIn(e) => HttpError::from(e),
            ServiceError::Store(e) => HttpError::from(e),
        }
    }
}

/// A refused sign-in: wrong credentials are 401, too many failures 429 (`Retry-After`),
/// a full password pool 503 (`Retry-After: 1`), an email of several sites 400.
impl From<LoginError> for HttpError {
    fn from(e: LoginError) -> HttpError {
        match e {
            LoginError::RateLimited(wait) => HttpError::TooManyRequests(wait),
            LoginError::NameTheSite => HttpError::BadRequest(e.to_string()),
            LoginError::BadCredentials => HttpError::Unauthorized,
            LoginError::Busy => HttpError::Busy(e.to_string()),
        }
    }
}

/// An unwell store (`/healthz`): 503 with the reason.
impl From<Unhealthy> for HttpError {
    fn from(e: Unhealthy) -> HttpError {
        HttpError::Unavailable(e.to_string())
    }
}

/// An append the writer did not take or could not commit: 503, resend later.
impl From<AppendError> for HttpError {
    fn from(e: AppendError) -> HttpError {
        HttpError::Unavailable(e.to_string())
    }
}

/// An agent's message that was not queued (`core::send`).
impl From<SendError> for HttpError {
    fn from(e: SendError) -> HttpError {
        match e {
            SendError::Invalid(f) => HttpError::BadRequest(f.msg),
            SendError::UnknownConv(_) => HttpError::NotFound,
            SendError::Lookup(_, e) => HttpError::from(e),
            SendError::Refused(e) => HttpError::from(e),
        }
    }
}
