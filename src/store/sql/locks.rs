//! The locking reads of the database servers, written once.
//!
//! Compiled inside `postgres` and `mysql` (`#[path = "../sql/locks.rs"] mod locks;`),
//! against that backend's `Db`, as the other shared query files are. Owns the
//! `SELECT … FOR UPDATE` of each `Dialect` method both servers answer the same way: the
//! rows stay locked until the caller's commit, a writer waiting on them reads them again
//! once the holder commits (a locking read reads the latest committed version, whatever
//! the isolation), and the order they are taken in is the caller's. SQLite needs none of
//! them (its write transaction excludes every other writer); how each backend reads the
//! webhooks an append records deliveries for differs, and stays with the backend.

use diesel::prelude::*;

use super::Db;
use crate::store::sql::schema::{agents, site_leases, webhooks};
use crate::store::sql::Dialect;
use crate::store::StoreResult;

type Conn = <Db as Dialect>::Conn;

/// The ids of the active admins of `site` (`Dialect::lock_admins`).
pub(super) fn admins(c: &mut Conn, site: i64) -> StoreResult<Vec<i64>> {
    Ok(agents::table
        .filter(agents::site_id.eq(site))
        .filter(agents::role.eq(crate::vocab::AgentRole::Admin.as_str()))
        .filter(agents::removed_at.is_null())
        .select(agents::id)
        .for_update()
        .load(c)?)
}

/// The ids of every account with `email`, on any site (`Dialect::lock_accounts`).
pub(super) fn accounts(c: &mut Conn, email: &str) -> StoreResult<Vec<i64>> {
    Ok(agents::table
        .filter(agents::email.eq(email))
        .select(agents::id)
        .for_update()
        .load(c)?)
}

/// `(site, node, epoch)` of the leases of `sites` (`Dialect::lock_leases`).
pub(super) fn leases(c: &mut Conn, sites: &[i64]) -> StoreResult<Vec<(i64, String, i64)>> {
    Ok(site_leases::table
        .filter(site_leases::site_id.eq_any(sites))
        .select((
            site_leases::site_id,
            site_leases::node_id,
            site_leases::epoch,
        ))
        .for_update()
        .load(c)?)
}

/// The site of webhook `id`, if there is one (`Dialect::lock_webhook`).
pub(super) fn webhook(c: &mut Conn, id: i64) -> StoreResult<Option<i64>> {
    Ok(webhooks::table
        .find(id)
        .select(webhooks::site_id)
        .for_update()
        .first(c)
        .optional()?)
}
