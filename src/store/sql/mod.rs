//! What the SQL backends share: the schema, the rows, the queries, and the seam where a
//! backend says how it differs.
//!
//! Owns: `schema` and `models` (one diesel schema for every backend), the `Dialect`
//! trait (the whole per-backend difference the shared queries see), and the query
//! modules written once against it: `queries.rs` (every service method but the append,
//! the cluster's and the webhooks'), `append.rs` (one group commit, with the webhook
//! deliveries it records), `cluster.rs` (nodes, leases) and `webhooks.rs` (webhooks and
//! their deliveries).
//! They are compiled inside each backend's module (`#[path = "../sql/queries.rs"] mod queries;`), against that backend's
//! `Db` type: the SQL is written once and type-checked for every backend built in,
//! without generic bounds over diesel's query types. For the database servers
//! (PostgreSQL, MySQL) also `pools` (their bounded connection pools), `locks.rs` (their
//! locking reads) and `migrate.rs` (running migrations under a lock when several nodes
//! start at once), the two compiled in the same way. Also owns turning diesel's errors into `StoreError`. Knows nothing of any
//! one backend, nor of transports or the wire.
//!
//! A new SQL backend (as `postgres` and `mysql` were, each behind the cargo feature of
//! its name) is:
//! - `store/<backend>/mod.rs`: a store type with its set-up (connections and pool,
//!   session settings) that runs its migrations when it opens; `impl Dialect` for it;
//!   `type Db = ThatStore;` and `mod queries; mod append; mod cluster; mod webhooks;`
//!   included as above (and `mod migrate;` for a database server);
//! - its migrations, `diesel-migrations/<backend>/`, creating the tables of `schema`;
//! - its URL scheme in `store::open` and `store::migrate`, and `conformance::suite!` run
//!   on it in its tests (a database server's on fresh databases from `store::testdb`).

pub(crate) mod models;
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) mod pools;
pub(crate) mod schema;

use models::{
    NewAgentRow, NewCannedRow, NewConvRow, NewRuleRow, NewSiteRow, NewVisitorRow, NewWebhookRow,
};

use super::{StoreError, StoreResult};

/// How a SQL backend differs from the others, as the shared queries need to know.
pub(crate) trait Dialect {
    /// The diesel connection the queries run on.
    type Conn;
    /// The filter "`entries.body` contains this pattern, ignoring ASCII case" (see
    /// `contains`).
    type Contains;
    /// Most bound parameters one statement may carry.
    const MAX_BINDS: usize;

    /// Run `f` on a connection for reading (a pooled one, where there is a pool).
    fn read<T>(&self, f: impl FnOnce(&mut Self::Conn) -> StoreResult<T>) -> StoreResult<T>;

    /// Run `f` in one write transaction, committed when it returns `Ok`, rolled back
    /// otherwise. The backend decides how writes are serialised (SQLite: one writer
    /// connection and `BEGIN IMMEDIATE`) and refuses them once its database is lost.
    fn write<T>(&self, f: impl FnOnce(&mut Self::Conn) -> StoreResult<T>) -> StoreResult<T>;

    /// Is the database reachable, and still the one opened? (`Log::ping`.)
    fn reachable(&self) -> StoreResult<()>;

    /// Insert one row and return the id the database gave it (`RETURNING id` where the
    /// backend has it, the last insert id otherwise).
    fn insert(c: &mut Self::Conn, row: NewRow<'_>) -> StoreResult<i64>;

    /// `(site, node, epoch)` of the leases of these sites, read in the caller's write
    /// transaction so that no takeover can commit before it does: `SELECT … FOR UPDATE`
    /// where the backend locks rows; SQLite's write transaction already excludes every
    /// other writer.
    fn lock_leases(c: &mut Self::Conn, sites: &[i64]) -> StoreResult<Vec<(i64, String, i64)>>;

    /// The ids of the admins of `site` that are not removed, read in the caller's write
    /// transaction so that two role changes or removals at once cannot both count an
    /// admin the other takes away: `SELECT … FOR UPDATE` where the backend locks rows (a
    /// waiting one reads them again once the first commits); SQLite's write transaction
    /// already excludes every other writer.
    fn lock_admins(c: &mut Self::Conn, site: i64) -> StoreResult<Vec<i64>>;

    /// The ids of every account with this email (on every site, of any role, removed or
    /// not), read in the caller's write transaction so that two `add_site_with_admin` for
    /// one email cannot both count the sites it administers before either adds one:
    /// `SELECT … FOR UPDATE` where the backend locks rows (a waiting one counts again,
    /// in a statement of its own, once the first commits); SQLite's write transaction
    /// already excludes every other writer. An email with no account yet has no row to
    /// lock (READ COMMITTED locks no gap), so two calls serialise only when it has one:
    /// the calling admin's own, for every call the API makes.
    fn lock_accounts(c: &mut Self::Conn, email: &str) -> StoreResult<Vec<i64>>;

    /// `(id, site, events)` of the webhooks of these sites, read in the caller's write
    /// transaction (the append's) so that none of them is deleted before this commit,
    /// which records deliveries for them: `SELECT … FOR KEY SHARE` on PostgreSQL (which
    /// only a deletion or `lock_webhook` waits for), `FOR UPDATE` on MySQL (MariaDB has no
    /// `FOR SHARE`); SQLite's write transaction already excludes every other writer.
    fn lock_hooks(c: &mut Self::Conn, sites: &[i64]) -> StoreResult<Vec<(i64, i64, String)>>;

    /// The site of webhook `id`, if there is one, its row locked until the caller's
    /// write transaction ends (`SELECT … FOR UPDATE` where the backend locks rows;
    /// SQLite's write transaction already excludes every other writer): taken before
    /// changing its deliveries and its row, so that an append recording deliveries for it
    /// commits first (and they are seen), and so that a webhook's row is locked before
    /// its deliveries' rows by every writer changing both.
    fn lock_webhook(c: &mut Self::Conn, id: i64) -> StoreResult<Option<i64>>;

    /// `entries.body` matches the LIKE `pattern` (made by `like_pattern`, `\` escapes),
    /// ignoring the case of ASCII letters: LIKE on SQLite, ILIKE on PostgreSQL, LIKE
    /// under a case-insensitive collation on MySQL.
    fn contains(pattern: String) -> Self::Contains;
}

/// A row whose new id the shared queries need.
pub(crate) enum NewRow<'a> {
    Site(&'a NewSiteRow<'a>),
    Agent(&'a NewAgentRow<'a>),
    Visitor(&'a NewVisitorRow<'a>),
    Conversation(&'a NewConvRow<'a>),
    Canned(&'a NewCannedRow<'a>),
    Rule(&'a NewRuleRow<'a>),
    Webhook(&'a NewWebhookRow<'a>),
}

/// Columns of an entry row, for the rows one multi-row INSERT may carry.
pub(crate) const ENTRY_COLUMNS: usize = 9;

/// Columns of a new delivery row (`models::NewDeliveryRow`), likewise.
pub(crate) const DELIVERY_COLUMNS: usize = 8;

/// Rows of `columns` columns per multi-row INSERT on a backend allowing `max_binds`
/// parameters.
pub(crate) const fn rows_per_insert(max_binds: usize, columns: usize) -> usize {
    let fit = max_binds / columns;
    if fit < 2000 {
        fit
    } else {
        2000
    }
}

/// Values per `IN (…)` list on a backend allowing `max_binds` parameters, leaving room
/// for the rest of the statement.
pub(crate) const fn ids_per_query(max_binds: usize) -> usize {
    max_binds - max_binds / 10
}

/// A LIKE pattern matching `needle` anywhere, its wildcards escaped with `\` so it is
/// matched literally.
pub(crate) fn like_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len() + 2);
    p.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// A site holding `n` of `what` may add one more only below `max`.
pub(crate) fn room(n: i64, max: usize, what: &str) -> StoreResult<()> {
    if n as usize >= max {
        return Err(StoreError::Conflict(format!(
            "the site has {max} {what} already"
        )));
    }
    Ok(())
}

/// A uniqueness rule the caller broke, said in the caller's words: `what`.
pub(crate) fn taken(e: StoreError, what: &str) -> StoreError {
    match e {
        StoreError::Conflict(_) => StoreError::Conflict(what.to_string()),
        e => e,
    }
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> StoreError {
        use diesel::result::{DatabaseErrorKind as Kind, Error};
        match &e {
            Error::DatabaseError(Kind::UniqueViolation, _) => {
                StoreError::Conflict(format!("database: {e}"))
            }
            Error::DatabaseError(
                Kind::ForeignKeyViolation
                | Kind::NotNullViolation
                | Kind::CheckViolation
                | Kind::RestrictViolation,
                _,
            )
            | Error::NotFound => StoreError::Invalid(format!("database: {e}")),
            _ => StoreError::Unavailable(format!("database: {e}")),
        }
    }
}

impl From<diesel::ConnectionError> for StoreError {
    fn from(e: diesel::ConnectionError) -> StoreError {
        StoreError::Unavailable(format!("database connection: {e}"))
    }
}

impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(e: diesel::r2d2::PoolError) -> StoreError {
        StoreError::Unavailable(format!("connection pool: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_literally_and_limits_fit() {
        assert_eq!(like_pattern(r"50%_a\b"), r"%50\%\_a\\b%");
        assert_eq!(rows_per_insert(32_766, ENTRY_COLUMNS), 2000);
        assert_eq!(rows_per_insert(999, ENTRY_COLUMNS), 111);
        assert_eq!(rows_per_insert(999, DELIVERY_COLUMNS), 124);
        assert!(ids_per_query(32_766) < 32_766);
    }
}
