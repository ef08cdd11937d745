//! The PostgreSQL backend (cargo feature `postgres`): diesel over libpq, two bounded pools
//! (`sql::pools`), writes in ordinary READ COMMITTED transactions.
//!
//! Owns: what is PostgreSQL's own — its migrations (`diesel-migrations/postgres`, run
//! under the migration lock of `sql::migrate` when the store opens) and its `Dialect`
//! (RETURNING, ILIKE, bind limits). The queries are the SQL backends' shared ones
//! (`store::sql`), compiled here. Knows nothing of the async runtime: it blocks, and its
//! callers run it on blocking threads.

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel_migrations::{embed_migrations, EmbeddedMigrations};

use super::sql::pools::{Pools, Session};
use super::sql::schema::{
    agents, canned_responses, conversations, entries, invite_rules, sites, visitors,
};
use super::sql::{Dialect, NewRow};
use super::{Options, StoreResult};

#[allow(clippy::duplicate_mod)] // compiled once per backend, by design (see `sql`)
#[path = "../sql/append.rs"]
mod append;
#[allow(clippy::duplicate_mod)] // compiled once per backend, by design (see `sql`)
#[path = "../sql/cluster.rs"]
mod cluster;
#[allow(clippy::duplicate_mod)] // compiled once per backend, by design (see `sql`)
#[path = "../sql/locks.rs"]
mod locks;
#[allow(clippy::duplicate_mod)] // compiled once per backend, by design (see `sql`)
#[path = "../sql/migrate.rs"]
mod migrate;
/// The SQL every backend shares, compiled for this one.
#[allow(clippy::duplicate_mod)] // compiled once per backend, by design (see `sql`)
#[path = "../sql/queries.rs"]
mod queries;
#[allow(clippy::duplicate_mod)] // compiled once per backend, by design (see `sql`)
#[path = "../sql/webhooks.rs"]
mod webhooks;

/// The store the shared queries implement the service traits for.
type Db = PgStore;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("diesel-migrations/postgres");

/// The server's defaults are what kefu wants on every connection (UTF-8, READ
/// COMMITTED, `standard_conforming_strings`). Write connections bound how long a
/// transaction keeps its locks while its client is silent (the server then ends the
/// session) and how long a statement waits for a lock (`Options::hold`).
fn session(options: &Options) -> Session {
    let ms = options.hold.as_millis().max(1);
    Session {
        all: String::new(),
        writers: vec![
            vec![format!("SET idle_in_transaction_session_timeout = {ms}")],
            vec![format!("SET lock_timeout = {ms}")],
        ],
    }
}

pub(crate) struct PgStore {
    pools: Pools<PgConnection>,
}

impl PgStore {
    /// Run pending migrations on the database at `url`, then open the pools.
    pub(crate) fn open(url: &str, options: &Options) -> StoreResult<Self> {
        migrate(url)?;
        Ok(PgStore {
            pools: Pools::open(url, options, session(options))?,
        })
    }

    /// One connection outside the pools, set up as theirs are.
    fn connect(url: &str) -> StoreResult<PgConnection> {
        Ok(PgConnection::establish(url)?)
    }
}

/// Run the pending migrations of the database at `url`; the versions applied.
pub(crate) fn migrate(url: &str) -> StoreResult<Vec<String>> {
    migrate::run(url, MIGRATIONS)
}

impl Dialect for PgStore {
    type Conn = PgConnection;
    type Contains = diesel::dsl::Escape<diesel::dsl::ILike<entries::body, String>>;
    /// The protocol counts a statement's parameters in 16 bits.
    const MAX_BINDS: usize = 65_535;

    fn read<T>(&self, f: impl FnOnce(&mut PgConnection) -> StoreResult<T>) -> StoreResult<T> {
        self.pools.read(f)
    }

    fn write<T>(&self, f: impl FnOnce(&mut PgConnection) -> StoreResult<T>) -> StoreResult<T> {
        self.pools.write(f)
    }

    fn reachable(&self) -> StoreResult<()> {
        self.pools.reachable()
    }

    fn insert(c: &mut PgConnection, row: NewRow<'_>) -> StoreResult<i64> {
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

    /// `SELECT … FOR UPDATE`: a role change or removal waiting on these rows reads them
    /// again once the one holding them commits (and leaves out an admin it removed).
    fn lock_admins(c: &mut PgConnection, site: i64) -> StoreResult<Vec<i64>> {
        locks::admins(c, site)
    }

    /// `SELECT … FOR UPDATE`: a second call for this email waits on these rows until the
    /// first commits, and its count, read after, sees the site and the account it added.
    fn lock_accounts(c: &mut PgConnection, email: &str) -> StoreResult<Vec<i64>> {
        locks::accounts(c, email)
    }

    /// `SELECT … FOR UPDATE`: the lease rows stay locked until this commit, so a takeover
    /// (an UPDATE of the row) waits for it, and this commit sees any takeover committed
    /// before it (a locking read reads the latest version, whatever the isolation).
    fn lock_leases(c: &mut PgConnection, sites: &[i64]) -> StoreResult<Vec<(i64, String, i64)>> {
        locks::leases(c, sites)
    }

    /// `SELECT … FOR KEY SHARE`: a deletion of these rows (and `lock_webhook`) waits for
    /// this commit, and this read skips a row deleted by a commit it waited for; a change
    /// of their other columns (an attempt's outcome) waits for nothing.
    fn lock_hooks(c: &mut PgConnection, sites: &[i64]) -> StoreResult<Vec<(i64, i64, String)>> {
        use super::sql::schema::webhooks;
        Ok(webhooks::table
            .filter(webhooks::site_id.eq_any(sites))
            .order(webhooks::id)
            .select((webhooks::id, webhooks::site_id, webhooks::events))
            .for_key_share()
            .load(c)?)
    }

    /// `SELECT … FOR UPDATE`: it waits for every append holding the row (`lock_hooks`),
    /// and they for it.
    fn lock_webhook(c: &mut PgConnection, id: i64) -> StoreResult<Option<i64>> {
        locks::webhook(c, id)
    }
    /// ILIKE, `\` escaping the wildcards (PostgreSQL's default escape, said anyway).
    fn contains(pattern: String) -> Self::Contains {
        entries::body.ilike(pattern).escape('\\')
    }
}

/// The server the tests run on.
#[cfg(test)]
const TEST_SERVER: super::testdb::Server = super::testdb::Server::Postgres;

#[cfg(test)]
#[allow(clippy::duplicate_mod)] // compiled once per backend, by design (see `sql`)
#[path = "../sql/server_tests.rs"]
mod tests;
