//! The embedded default backend: SQLite through diesel, WAL mode, one writer connection
//! plus a small pool of readers.
//!
//! Owns: what is SQLite's own — opening the file (pragmas, migrations from
//! `diesel-migrations/sqlite`), serialising writes on one connection with `BEGIN
//! IMMEDIATE`, watching that the file is still the one opened (and saving a copy when it
//! is not), and its `Dialect` (RETURNING, LIKE, bind limits). The queries themselves are
//! the SQL backends' shared ones (`store::sql`), compiled here. Knows nothing of the
//! async runtime: it blocks, and its callers run it on blocking threads.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::sql::schema::{
    agents, canned_responses, conversations, entries, invite_rules, site_leases, sites, visitors,
};
use super::sql::{Dialect, NewRow};
use super::{now_ms, Options, StoreError, StoreResult};
use crate::config::Synchronous;

#[allow(clippy::duplicate_mod)] // compiled once per backend, by design (see `sql`)
#[path = "../sql/append.rs"]
mod append;
#[allow(clippy::duplicate_mod)] // compiled once per backend, by design (see `sql`)
#[path = "../sql/cluster.rs"]
mod cluster;
/// The SQL every backend shares, compiled for this one.
#[allow(clippy::duplicate_mod)] // compiled once per backend, by design (see `sql`)
#[path = "../sql/queries.rs"]
mod queries;
#[allow(clippy::duplicate_mod)] // compiled once per backend, by design (see `sql`)
#[path = "../sql/webhooks.rs"]
mod webhooks;

/// The store the shared queries implement the service traits for.
type Db = SqliteStore;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("diesel-migrations/sqlite");

/// Pragmas applied to every connection.
#[derive(Debug, Clone, Copy)]
struct Pragmas {
    synchronous: Synchronous,
}

impl Pragmas {
    fn sql(self) -> String {
        format!(
            "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; \
             PRAGMA foreign_keys = ON;",
            match self.synchronous {
                Synchronous::Full => "FULL",
                Synchronous::Normal => "NORMAL",
            }
        )
    }
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&self.sql())
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// SQLite store: `writer` is the only connection that writes (SQLite allows one writer at
/// a time; funnelling every write through one connection avoids `SQLITE_BUSY`), `readers`
/// serve resumes and lookups concurrently thanks to WAL.
pub(crate) struct SqliteStore {
    writer: Mutex<SqliteConnection>,
    readers: Pool<ConnectionManager<SqliteConnection>>,
    /// The database file, and its identity (device, inode) when it was opened: a file
    /// deleted or replaced under the running server would otherwise go on taking commits
    /// that no restart will ever see.
    path: PathBuf,
    identity: Option<(u64, u64)>,
    /// Set once the file was found deleted or replaced: why, and where a copy of
    /// everything committed was saved. Every write is refused from then on.
    lost: Mutex<Option<String>>,
}

/// (device, inode) of the file at `path`, if it exists.
#[cfg(unix)]
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|_| (0, 0))
}

impl SqliteStore {
    /// Open (creating if needed) the database file at `path` and run pending migrations.
    /// `options.pool_size` readers; `options.synchronous` picks `synchronous`.
    pub(crate) fn open(path: &str, options: &Options) -> StoreResult<Self> {
        let pragmas = Pragmas {
            synchronous: options.synchronous,
        };
        let (writer, _) = writer_and_migrations(path, pragmas)?;
        let readers = Pool::builder()
            .max_size(options.pool_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .connection_customizer(Box::new(pragmas))
            .build(ConnectionManager::<SqliteConnection>::new(path))?;
        let path = PathBuf::from(path);
        Ok(SqliteStore {
            writer: Mutex::new(writer),
            readers,
            identity: file_identity(&path),
            path,
            lost: Mutex::new(None),
        })
    }

    /// The writer connection. A poisoned lock only means another write panicked; the
    /// connection is still usable because every write runs in its own transaction.
    fn writer(&self) -> std::sync::MutexGuard<'_, SqliteConnection> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Is the file at our path still the one we opened? The first time it is not, save a
    /// copy of everything committed (the open connection still reads the old file) next
    /// to it, and refuse every write from then on.
    fn check_file(&self, conn: &mut SqliteConnection) -> StoreResult<()> {
        let mut lost = self.lost.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(why) = &*lost {
            return Err(StoreError::Lost(why.clone()));
        }
        let now = file_identity(&self.path);
        if now == self.identity {
            return Ok(());
        }
        let what = if now.is_none() {
            "was deleted"
        } else {
            "was replaced by another file"
        };
        let copy = PathBuf::from(format!("{}.recovered-{}", self.path.display(), now_ms()));
        let saved = diesel::sql_query("VACUUM INTO ?")
            .bind::<diesel::sql_types::Text, _>(copy.to_string_lossy().to_string())
            .execute(conn);
        let why = match saved {
            Ok(_) => format!(
                "the database file {} {what} while kefu was running; every commit up to now \
                 was saved to {}: stop kefu and put that file in place",
                self.path.display(),
                copy.display()
            ),
            Err(e) => format!(
                "the database file {} {what} while kefu was running, and saving a copy to {} \
                 failed ({e}): stop kefu and recover the file from its open descriptor",
                self.path.display(),
                copy.display()
            ),
        };
        tracing::error!(reason = %why, "database lost: refusing every write");
        *lost = Some(why.clone());
        Err(StoreError::Lost(why))
    }
}

/// The writer connection to the file at `path` (created, with its directory, if needed),
/// after running the pending migrations on it; and the versions it applied.
fn writer_and_migrations(
    path: &str,
    pragmas: Pragmas,
) -> StoreResult<(SqliteConnection, Vec<String>)> {
    if path.is_empty() {
        return Err(StoreError::Invalid(
            "unsupported database url \"sqlite://\" (expected sqlite://PATH)".into(),
        ));
    }
    if let Some(dir) = Path::new(path).parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
    }
    let mut writer = SqliteConnection::establish(path)?;
    writer.batch_execute(&pragmas.sql())?;
    let applied = writer
        .run_pending_migrations(MIGRATIONS)
        .map_err(|e| StoreError::Unavailable(format!("migrations: {e}")))?
        .iter()
        .map(|v| v.to_string())
        .collect();
    Ok((writer, applied))
}

/// Run the pending migrations of the file at `path` (created if needed); the versions
/// applied.
pub(crate) fn migrate(path: &str) -> StoreResult<Vec<String>> {
    let pragmas = Pragmas {
        synchronous: Synchronous::Full,
    };
    Ok(writer_and_migrations(path, pragmas)?.1)
}

impl Dialect for SqliteStore {
    type Conn = SqliteConnection;
    type Contains = diesel::dsl::Escape<diesel::dsl::Like<entries::body, String>>;
    /// SQLite's `SQLITE_MAX_VARIABLE_NUMBER` since 3.32.
    const MAX_BINDS: usize = 32_766;

    fn read<T>(&self, f: impl FnOnce(&mut SqliteConnection) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.readers.get()?;
        f(&mut conn)
    }

    /// On the one writer connection, in `BEGIN IMMEDIATE`, unless the file was lost; a
    /// commit into a file that is gone is not reported done (the saved copy keeps it).
    fn write<T>(&self, f: impl FnOnce(&mut SqliteConnection) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.writer();
        self.check_file(&mut conn)?;
        let done = conn.immediate_transaction(f)?;
        self.check_file(&mut conn)?;
        Ok(done)
    }

    fn reachable(&self) -> StoreResult<()> {
        self.read(|c| Ok(c.batch_execute("SELECT 1")?))?;
        self.check_file(&mut self.writer())
    }

    fn insert(c: &mut SqliteConnection, row: NewRow<'_>) -> StoreResult<i64> {
        // The table, not the query module of the same name.
        use super::sql::schema::webhooks;
        macro_rules! returning_id {
            ($table:ident, $row:expr) => {
                diesel::insert_into($table::table)
                    .values($row)
                    .returning($table::id)
                    .get_result(c)?
            };
        }
        Ok(match row {
            NewRow::Site(r) => returning_id!(sites, r),
            NewRow::Agent(r) => returning_id!(agents, r),
            NewRow::Visitor(r) => returning_id!(visitors, r),
            NewRow::Conversation(r) => returning_id!(conversations, r),
            NewRow::Canned(r) => returning_id!(canned_responses, r),
            NewRow::Rule(r) => returning_id!(invite_rules, r),
            NewRow::Webhook(r) => returning_id!(webhooks, r),
        })
    }

    /// A plain read: the write transaction holds SQLite's one write lock, so no other
    /// role change or removal can commit before this one.
    fn lock_admins(c: &mut SqliteConnection, site: i64) -> StoreResult<Vec<i64>> {
        use super::sql::schema::agents;
        Ok(agents::table
            .filter(agents::site_id.eq(site))
            .filter(agents::role.eq(crate::vocab::AgentRole::Admin.as_str()))
            .filter(agents::removed_at.is_null())
            .select(agents::id)
            .load(c)?)
    }

    /// A plain read, for the same reason: no other site can be added for this email
    /// before this commit.
    fn lock_accounts(c: &mut SqliteConnection, email: &str) -> StoreResult<Vec<i64>> {
        use super::sql::schema::agents;
        Ok(agents::table
            .filter(agents::email.eq(email))
            .select(agents::id)
            .load(c)?)
    }

    /// A plain read: the write transaction (`BEGIN IMMEDIATE`) holds SQLite's one write
    /// lock, so no other process can take a lease over before this commit.
    fn lock_leases(
        c: &mut SqliteConnection,
        sites: &[i64],
    ) -> StoreResult<Vec<(i64, String, i64)>> {
        Ok(site_leases::table
            .filter(site_leases::site_id.eq_any(sites))
            .select((
                site_leases::site_id,
                site_leases::node_id,
                site_leases::epoch,
            ))
            .load(c)?)
    }

    /// A plain read: the write transaction holds SQLite's one write lock, so no webhook
    /// is deleted before this commit.
    fn lock_hooks(c: &mut SqliteConnection, sites: &[i64]) -> StoreResult<Vec<(i64, i64, String)>> {
        use super::sql::schema::webhooks;
        Ok(webhooks::table
            .filter(webhooks::site_id.eq_any(sites))
            .order(webhooks::id)
            .select((webhooks::id, webhooks::site_id, webhooks::events))
            .load(c)?)
    }

    /// A plain read, for the same reason.
    fn lock_webhook(c: &mut SqliteConnection, id: i64) -> StoreResult<Option<i64>> {
        use super::sql::schema::webhooks;
        Ok(webhooks::table
            .find(id)
            .select(webhooks::site_id)
            .first(c)
            .optional()?)
    }
    /// LIKE: case-insensitive for ASCII letters in SQLite.
    fn contains(pattern: String) -> Self::Contains {
        entries::body.like(pattern).escape('\\')
    }
}

#[cfg(test)]
mod tests;
