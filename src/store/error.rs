//! What a store call can fail with, in the store's own words.
//!
//! Owns: `StoreError` and `StoreResult`. Knows nothing of any database library: each
//! backend turns its driver's errors into these kinds, so callers decide on the kind
//! (a 409, an unhealthy store, a refused write) and never on a driver's error type.

/// Store failures. All of them mean "not done": nothing was acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or did not answer: a connection, a pool, an I/O
    /// error, a full disk, failed migrations. Worth retrying later; nothing was done.
    #[error("{0}")]
    Unavailable(String),
    /// The request cannot be done as asked (no such conversation, a bad database URL, a
    /// reference to a row that does not exist). Retrying it changes nothing.
    #[error("{0}")]
    Invalid(String),
    /// A uniqueness rule or a limit: the caller asked for something already taken.
    #[error("{0}")]
    Conflict(String),
    /// The database is no longer the one this process opened (its file was deleted or
    /// replaced). Nothing more is written; see the log for what was saved.
    #[error("database lost: {0}")]
    Lost(String),
    /// The write was refused because this node no longer holds the lease of these sites
    /// at the epoch it acquired (another node took it over, or it was released): nothing
    /// of the batch was written. The node must drop those sites.
    #[error("fenced: this node no longer holds the lease of site(s) {0:?}")]
    Fenced(Vec<crate::ids::SiteId>),
}

pub type StoreResult<T> = Result<T, StoreError>;
