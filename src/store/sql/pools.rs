//! The connections of a database server backend (PostgreSQL, MySQL): two bounded r2d2
//! pools, one for reads and one for writes, over the backend's own diesel connection.
//!
//! Owns: the pool sizes and timeouts, the session settings applied to every connection a
//! pool opens, and running a closure on a connection (reads) or in one ordinary
//! transaction (writes). Generic over the connection type only, never over queries.
//! Knows nothing of the queries or of any one backend.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, R2D2Connection};
use diesel::Connection;

use crate::store::{Options, StoreError, StoreResult};

/// Write connections per node: the group commit's writer thread, and one for the rare
/// writes beside it (sites, agents, settings, tokens).
pub(crate) const WRITERS: u32 = 2;

/// How long a store call waits for a pooled connection (including connecting, when the
/// pool must open one) before it fails as `Unavailable`: what a call waits at most while
/// the database is away.
pub(crate) const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(3);

/// The SQL a backend runs on every new connection (session settings).
#[derive(Debug, Clone, Default)]
pub(crate) struct Session {
    /// On every connection.
    pub(crate) all: String,
    /// On write connections, after `all`, one setting each: the first of its
    /// alternatives the server accepts (servers of one family name some settings
    /// differently). A setting no alternative of which is accepted fails the connection.
    pub(crate) writers: Vec<Vec<String>>,
}

/// The customizer of one pool: what `Session` runs on each of its connections.
#[derive(Debug)]
struct Customizer {
    session: Session,
    writes: bool,
}

impl<C: Connection + SimpleConnection> CustomizeConnection<C, diesel::r2d2::Error> for Customizer {
    fn on_acquire(&self, conn: &mut C) -> Result<(), diesel::r2d2::Error> {
        self.session
            .apply(conn, self.writes)
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

impl Session {
    /// Run the settings on `conn`: `all`, and `writers` too when `writes`.
    pub(crate) fn apply(
        &self,
        conn: &mut impl SimpleConnection,
        writes: bool,
    ) -> diesel::QueryResult<()> {
        if !self.all.is_empty() {
            conn.batch_execute(&self.all)?;
        }
        if !writes {
            return Ok(());
        }
        for alternatives in &self.writers {
            let mut last = Ok(());
            for sql in alternatives {
                last = conn.batch_execute(sql);
                if last.is_ok() {
                    break;
                }
            }
            last?;
        }
        Ok(())
    }
}

/// Readers (`options.pool_size`) and writers (`WRITERS`): a node holds at most
/// `pool_size + WRITERS` connections to the database.
pub(crate) struct Pools<C: R2D2Connection + 'static> {
    readers: Pool<ConnectionManager<C>>,
    writers: Pool<ConnectionManager<C>>,
}

impl<C: R2D2Connection + SimpleConnection + Send + 'static> Pools<C> {
    /// Open both pools on `url` (each connects once now, so a database that is not there
    /// fails here), applying `session` to every connection (its `writers` part to the
    /// write pool's).
    pub(crate) fn open(url: &str, options: &Options, session: Session) -> StoreResult<Self> {
        // No idle minimum: r2d2 would open connections in its own threads to keep it,
        // and a process exiting while one of them is in a TLS handshake crashes in the
        // TLS library's exit handlers. Connections are opened by the calls that need
        // them, the first one here.
        let pool = |size: u32, writes: bool| -> StoreResult<Pool<ConnectionManager<C>>> {
            let pool = Pool::builder()
                .max_size(size)
                .min_idle(Some(0))
                .connection_timeout(CHECKOUT_TIMEOUT)
                .connection_customizer(Box::new(Customizer {
                    session: session.clone(),
                    writes,
                }))
                .build_unchecked(ConnectionManager::<C>::new(url));
            drop(pool.get()?);
            Ok(pool)
        };
        Ok(Pools {
            readers: pool(options.pool_size, false)?,
            writers: pool(WRITERS, true)?,
        })
    }

    pub(crate) fn read<T>(&self, f: impl FnOnce(&mut C) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.readers.get()?;
        f(&mut conn)
    }

    /// `f` in one ordinary READ COMMITTED transaction, committed when
    /// it returns `Ok`. A commit whose answer is lost (the link cut at that moment) is an
    /// error, as any other: the caller acknowledges nothing, and a resend with the same
    /// cid finds the entry stored.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut C) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.writers.get()?;
        let conn: &mut C = &mut conn;
        conn.transaction::<T, StoreError, _>(f)
    }

    /// A `SELECT 1` on a pooled reader.
    pub(crate) fn reachable(&self) -> StoreResult<()> {
        self.read(|c| Ok(c.batch_execute("SELECT 1")?))
    }
}
