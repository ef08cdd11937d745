//! The edge's errors are `web::HttpError`; kept here for the edge's own paths.

pub use crate::web::HttpError;

/// A store failure, as the HTTP API answers it: a conflict is the caller's (409); anything
/// else means the store could not do it now (503). The one place this mapping lives.
impl From<crate::store::StoreError> for HttpError {
    fn from(e: crate::store::StoreError) -> HttpError {
        match e {
            crate::store::StoreError::Conflict(why) => HttpError::Conflict(why),
            e => HttpError::Unavailable(format!("store: {e}")),
        }
    }
}
