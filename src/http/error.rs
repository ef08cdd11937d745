//! The edge's errors are `web::HttpError`; kept here for the edge's own paths.

pub use crate::web::HttpError;
