//! The MySQL/MariaDB backend (cargo feature `mysql`): diesel over the MySQL client
//! library, two bounded pools (`sql::pools`), writes in ordinary InnoDB transactions
//! (READ COMMITTED, as on PostgreSQL).
//!
//! Owns: what is MySQL's own — its migrations (`diesel-migrations/mysql`, run under the
//! migration lock of `sql::migrate` when the store opens; MySQL commits each DDL
//! statement on its own, so they are written to be run again), the session settings
//! (strict mode: a value too long for its column is an error, never cut short; the
//! binary collation for the connection; the isolation; the bounds on lock waits and
//! silent write transactions), and its `Dialect` (`LAST_INSERT_ID()`, LIKE
//! under a case-insensitive collation, bind limits). The queries are the SQL backends'
//! shared ones (`store::sql`), compiled here. Knows nothing of the async runtime: it
//! blocks, and its callers run it on blocking threads.
//!
//! Affected rows: diesel connects with `CLIENT_FOUND_ROWS`, so an UPDATE reports the rows
//! it matched, also when it changed no value (as PostgreSQL and SQLite do) — what the
//! shared queries count on (`set_password`, `revoke_token`).

use diesel::connection::SimpleConnection;
use diesel::dsl::{sql, SqlTypeOf};
use diesel::expression::SqlLiteral;
use diesel::mysql::MysqlConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
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
type Db = MysqlStore;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("diesel-migrations/mysql");

/// Strict mode whatever the server's default (nothing stored is ever cut short or
/// changed to fit), the binary collation for literals, as the tables have, and READ
/// COMMITTED, as on PostgreSQL: a statement sees what is committed when it starts, and
/// an UPDATE that scans rows another transaction holds locked passes over those that do
/// not match instead of waiting for them (REPEATABLE READ would lock every row it scans).
const ALL: &str = "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'; \
     SET collation_connection = 'utf8mb4_bin'; \
     SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";

/// `ALL`, and on write connections the bounds of `Options::hold`, in whole seconds (the
/// servers' unit): the wait for a row lock, and how long a transaction may stay silent
/// before the server ends it — MariaDB's `idle_transaction_timeout`, else (MySQL, which
/// has none) `wait_timeout`, which ends any silent write connection, in a transaction or
/// not (the pool then opens another).
fn session(options: &Options) -> Session {
    let s = options.hold.as_millis().div_ceil(1000).max(1);
    Session {
        all: ALL.to_string(),
        writers: vec![
            vec![format!("SET SESSION innodb_lock_wait_timeout = {s}")],
            vec![
                format!("SET SESSION idle_transaction_timeout = {s}"),
                format!("SET SESSION wait_timeout = {s}"),
            ],
        ],
    }
}

/// `entries.body` under a case-insensitive collation, for search alone.
const BODY_IGNORING_CASE: &str = "entries.body COLLATE utf8mb4_general_ci";

pub(crate) struct MysqlStore {
    pools: Pools<MysqlConnection>,
}

impl MysqlStore {
    /// Run pending migrations on the database at `url`, then open the pools.
    pub(crate) fn open(url: &str, options: &Options) -> StoreResult<Self> {
        migrate(url)?;
        Ok(MysqlStore {
            pools: Pools::open(url, options, session(options))?,
        })
    }

    /// One connection outside the pools, set up as theirs are.
    fn connect(url: &str) -> StoreResult<MysqlConnection> {
        let mut c = MysqlConnection::establish(url)?;
        c.batch_execute(ALL)?;
        Ok(c)
    }
}

/// Run the pending migrations of the database at `url`; the versions applied.
pub(crate) fn migrate(url: &str) -> StoreResult<Vec<String>> {
    migrate::run(url, MIGRATIONS)
}

impl Dialect for MysqlStore {
    type Conn = MysqlConnection;
    type Contains = diesel::dsl::Escape<diesel::dsl::Like<SqlLiteral<Text>, String>>;
    /// Prepared statements count their placeholders in 16 bits.
    const MAX_BINDS: usize = 65_535;

    fn read<T>(&self, f: impl FnOnce(&mut MysqlConnection) -> StoreResult<T>) -> StoreResult<T> {
        self.pools.read(f)
    }

    fn write<T>(&self, f: impl FnOnce(&mut MysqlConnection) -> StoreResult<T>) -> StoreResult<T> {
        self.pools.write(f)
    }

    fn reachable(&self) -> StoreResult<()> {
        self.pools.reachable()
    }

    /// INSERT, then `LAST_INSERT_ID()` on the same connection, in the same transaction:
    /// the id this connection's last insert was given, whatever other connections do.
    fn insert(c: &mut MysqlConnection, row: NewRow<'_>) -> StoreResult<i64> {
        // The table, not the query module of the same name.
        use super::sql::schema::webhooks;
        macro_rules! insert {
            ($table:ident, $row:expr) => {
                diesel::insert_into($table::table).values($row).execute(c)?
            };
        }
        match row {
            NewRow::Site(r) => insert!(sites, r),
            NewRow::Agent(r) => insert!(agents, r),
            NewRow::Visitor(r) => insert!(visitors, r),
            NewRow::Conversation(r) => insert!(conversations, r),
            NewRow::Canned(r) => insert!(canned_responses, r),
            NewRow::Rule(r) => insert!(invite_rules, r),
            NewRow::Webhook(r) => insert!(webhooks, r),
        };
        let id = diesel::select(sql::<BigInt>("CAST(LAST_INSERT_ID() AS SIGNED)")).get_result(c)?;
        Ok(id)
    }

    /// `SELECT … FOR UPDATE`: a role change or removal waiting on these rows reads them
    /// again once the one holding them commits (and leaves out an admin it removed).
    fn lock_admins(c: &mut MysqlConnection, site: i64) -> StoreResult<Vec<i64>> {
        locks::admins(c, site)
    }

    /// `SELECT … FOR UPDATE`: a second call for this email waits on these rows until the
    /// first commits, and its count, read after, sees the site and the account it added.
    /// (No index starts with `email`: the rows are found by a scan, which waits for any
    /// row another writer holds locked, matching or not, and keeps the locks of the
    /// matching ones only, as READ COMMITTED does.)
    fn lock_accounts(c: &mut MysqlConnection, email: &str) -> StoreResult<Vec<i64>> {
        locks::accounts(c, email)
    }

    /// `SELECT … FOR UPDATE`: the lease rows stay locked until this commit, so a takeover
    /// (an UPDATE of the row) waits for it, and this commit sees any takeover committed
    /// before it (a locking read reads the latest version, whatever the isolation).
    fn lock_leases(c: &mut MysqlConnection, sites: &[i64]) -> StoreResult<Vec<(i64, String, i64)>> {
        locks::leases(c, sites)
    }

    /// `SELECT … FOR UPDATE` (MariaDB has no `FOR SHARE`; inserting the deliveries takes
    /// a shared lock on these rows anyway, for their foreign key): a deletion waits for
    /// this commit, and this read sees one committed before it.
    fn lock_hooks(c: &mut MysqlConnection, sites: &[i64]) -> StoreResult<Vec<(i64, i64, String)>> {
        use super::sql::schema::webhooks;
        Ok(webhooks::table
            .filter(webhooks::site_id.eq_any(sites))
            .order(webhooks::id)
            .select((webhooks::id, webhooks::site_id, webhooks::events))
            .for_update()
            .load(c)?)
    }

    /// `SELECT … FOR UPDATE`: it waits for every append holding the row (`lock_hooks`),
    /// and they for it.
    fn lock_webhook(c: &mut MysqlConnection, id: i64) -> StoreResult<Option<i64>> {
        locks::webhook(c, id)
    }
    /// LIKE on the body under `utf8mb4_general_ci`: the tables' binary collation would
    /// make it case-sensitive. (That collation also equates some accented letters with
    /// plain ones, which ASCII-only folding would not.)
    fn contains(pattern: String) -> Self::Contains {
        let body: SqlLiteral<SqlTypeOf<entries::body>> = sql(BODY_IGNORING_CASE);
        body.like(pattern).escape('\\')
    }
}

/// The server the tests run on.
#[cfg(test)]
const TEST_SERVER: super::testdb::Server = super::testdb::Server::Mysql;

#[cfg(test)]
#[allow(clippy::duplicate_mod)] // compiled once per backend, by design (see `sql`)
#[path = "../sql/server_tests.rs"]
mod server_tests;
#[cfg(test)]
mod tests;
