//! Running a server database's migrations when several nodes may start at once on it.
//!
//! Compiled inside each server backend's module (PostgreSQL, MySQL), against that
//! backend's `Db` (see `sql`). Owns: the migration lock, a one-row table
//! `kefu_migration_lock` made with `CREATE TABLE IF NOT EXISTS`, taken by INSERTing its
//! one row (the primary key lets one node in), released by deleting it, and kept fresh
//! while the migrations run by a second connection that rewrites its `taken_at` every
//! `REFRESH`. A node that finds the row taken waits; a row that has not changed for
//! `STALE` (by the waiting node's clock, so clocks need not agree) belongs to a node that
//! died while migrating: it is deleted, only if it is still that row, and the lock taken
//! again. Whoever holds the lock runs the pending migrations, so a node that waited finds
//! them applied. Only unique keys, conditional deletes and updates and ordinary
//! statements: no advisory locks, nothing a PostgreSQL- or MySQL-compatible distributed
//! engine lacks. Knows nothing of the migrations themselves.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

use super::Db;
use crate::ids::random_token;
use crate::store::sql::Dialect;
use crate::store::{now_ms, StoreError, StoreResult};

type Conn = <Db as Dialect>::Conn;

diesel::table! {
    kefu_migration_lock (id) {
        id -> Integer,
        holder -> Text,
        taken_at -> BigInt,
    }
}

const LOCK_TABLE: &str = "CREATE TABLE IF NOT EXISTS kefu_migration_lock (\
     id INTEGER NOT NULL PRIMARY KEY, holder VARCHAR(64) NOT NULL, taken_at BIGINT NOT NULL)";

/// The holder rewrites the lock row this often while it migrates.
const REFRESH: Duration = Duration::from_secs(5);
/// A lock row unchanged for this long was left by a node that died while migrating.
pub(crate) const STALE: Duration = Duration::from_secs(30);
/// How long a node waits for another to finish migrating before it gives up.
pub(crate) const WAIT_AT_MOST: Duration = Duration::from_secs(600);
/// How often a waiting node looks at the lock again.
const POLL: Duration = Duration::from_millis(100);

/// Run the pending migrations of the database at `url` under the migration lock; the
/// versions applied, oldest first (none when another node applied them already).
pub(super) fn run(url: &str, migrations: EmbeddedMigrations) -> StoreResult<Vec<String>> {
    let mut conn = Db::connect(url)?;
    create_lock_table(&mut conn)?;
    let me = random_token(16);
    take(&mut conn, &me)?;
    let refresher = Refresher::start(url.to_string(), me.clone());
    let applied = conn
        .run_pending_migrations(migrations)
        .map(|done| done.iter().map(|v| v.to_string()).collect::<Vec<_>>())
        .map_err(|e| StoreError::Unavailable(format!("migrations: {e}")));
    refresher.stop();
    let released = release(&mut conn, &me);
    let applied = applied?;
    released?;
    Ok(applied)
}

/// `CREATE TABLE IF NOT EXISTS` itself may fail when another node creates the table at
/// the same moment (PostgreSQL: a duplicate key in its catalogue): try a few times.
fn create_lock_table(conn: &mut Conn) -> StoreResult<()> {
    let mut tries = 0;
    loop {
        match diesel::sql_query(LOCK_TABLE).execute(conn) {
            Ok(_) => return Ok(()),
            Err(e) if tries < 10 => {
                tracing::debug!(error = %e, "creating the migration lock table: trying again");
                tries += 1;
                std::thread::sleep(POLL);
            }
            Err(e) => return Err(StoreError::Unavailable(format!("migration lock: {e}"))),
        }
    }
}

/// Take the lock: insert its row, or wait until its holder deletes it (or is found dead).
fn take(conn: &mut Conn, me: &str) -> StoreResult<()> {
    use kefu_migration_lock::dsl as l;
    let deadline = Instant::now() + WAIT_AT_MOST;
    // The row last seen held by another node, and since when it has not changed.
    let mut seen: Option<((String, i64), Instant)> = None;
    loop {
        let inserted = diesel::insert_into(l::kefu_migration_lock)
            .values((l::id.eq(1), l::holder.eq(me), l::taken_at.eq(now_ms())))
            .execute(conn);
        match inserted {
            Ok(_) => return Ok(()),
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {}
            Err(e) => return Err(StoreError::Unavailable(format!("migration lock: {e}"))),
        }
        let held: Option<(String, i64)> = l::kefu_migration_lock
            .find(1)
            .select((l::holder, l::taken_at))
            .first(conn)
            .optional()?;
        match (held, &seen) {
            // Released in the meantime: take it now.
            (None, _) => continue,
            (Some(row), Some((last, since))) if row == *last => {
                if since.elapsed() >= STALE {
                    tracing::warn!(
                        holder = %row.0,
                        "the migration lock was left by a node that stopped while migrating: \
                         taking it over"
                    );
                    diesel::delete(
                        l::kefu_migration_lock
                            .filter(l::id.eq(1))
                            .filter(l::holder.eq(&row.0))
                            .filter(l::taken_at.eq(row.1)),
                    )
                    .execute(conn)?;
                    seen = None;
                    continue;
                }
            }
            (Some(row), _) => {
                if seen.is_none() {
                    tracing::info!("another node is migrating the database: waiting");
                }
                seen = Some((row, Instant::now()));
            }
        }
        if Instant::now() >= deadline {
            return Err(StoreError::Unavailable(format!(
                "migrations: another node has held the migration lock for over {}s; if no \
                 node is migrating, delete the row of table kefu_migration_lock",
                WAIT_AT_MOST.as_secs()
            )));
        }
        std::thread::sleep(POLL);
    }
}

fn release(conn: &mut Conn, me: &str) -> StoreResult<()> {
    use kefu_migration_lock::dsl as l;
    diesel::delete(l::kefu_migration_lock.filter(l::holder.eq(me))).execute(conn)?;
    Ok(())
}

/// Keeps the lock row fresh from a connection of its own while the migrations run.
struct Refresher {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Refresher {
    fn start(url: String, me: String) -> Refresher {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            use kefu_migration_lock::dsl as l;
            let mut conn = None;
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(REFRESH)
            {
                if conn.is_none() {
                    conn = Db::connect(&url).ok();
                }
                let Some(c) = conn.as_mut() else { continue };
                let done = diesel::update(l::kefu_migration_lock.filter(l::holder.eq(&me)))
                    .set(l::taken_at.eq(now_ms()))
                    .execute(c);
                if let Err(e) = done {
                    tracing::warn!(error = %e, "could not refresh the migration lock");
                    conn = None;
                }
            }
        });
        Refresher { stop, thread }
    }

    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}
