//! The nodes of a cluster and the leases of its sites, as SQL every backend runs the same
//! way: inserts on unique keys and conditional updates in ordinary transactions.
//!
//! Compiled inside each backend's module, against that backend's `Db` (see `sql`).
//! Owns: the statements of `store::Cluster`. Whether an UPDATE matched is always read
//! back from the row, never from the affected-row count (which MySQL reports as rows
//! changed, not rows matched). Knows nothing of heartbeats' timing or of routing.

use diesel::prelude::*;

use super::Db;
use crate::ids::SiteId;
use crate::store::sql::schema::{nodes, site_leases};
use crate::store::sql::Dialect;
use crate::store::{Cluster, Lease, Node, StoreError, StoreResult};

type Conn = <Db as Dialect>::Conn;

type NodeRow = (String, String, String, i64, i64);
type LeaseRow = (i64, String, i64, i64);

fn node_of((id, url, incarnation, started_at, beat_at): NodeRow) -> Node {
    Node {
        id,
        url,
        incarnation,
        started_at,
        beat_at,
    }
}

fn lease_of((site, node, epoch, expires_at): LeaseRow) -> Lease {
    Lease {
        site: SiteId(site),
        node,
        epoch,
        expires_at,
    }
}

const NODE: (
    nodes::id,
    nodes::url,
    nodes::incarnation,
    nodes::started_at,
    nodes::beat_at,
) = (
    nodes::id,
    nodes::url,
    nodes::incarnation,
    nodes::started_at,
    nodes::beat_at,
);

const LEASE: (
    site_leases::site_id,
    site_leases::node_id,
    site_leases::epoch,
    site_leases::expires_at,
) = (
    site_leases::site_id,
    site_leases::node_id,
    site_leases::epoch,
    site_leases::expires_at,
);

fn node_row(c: &mut Conn, id: &str) -> StoreResult<Option<Node>> {
    Ok(nodes::table
        .find(id)
        .select(NODE)
        .first::<NodeRow>(c)
        .optional()?
        .map(node_of))
}

fn lease_row(c: &mut Conn, site: SiteId) -> StoreResult<Option<Lease>> {
    Ok(site_leases::table
        .find(site.0)
        .select(LEASE)
        .first::<LeaseRow>(c)
        .optional()?
        .map(lease_of))
}

fn held_by(c: &mut Conn, node: &str) -> StoreResult<Vec<Lease>> {
    Ok(site_leases::table
        .filter(site_leases::node_id.eq(node))
        .order(site_leases::site_id)
        .select(LEASE)
        .load::<LeaseRow>(c)?
        .into_iter()
        .map(lease_of)
        .collect())
}

impl Cluster for Db {
    fn node(&self, id: &str) -> StoreResult<Option<Node>> {
        self.read(|c| node_row(c, id))
    }

    fn nodes(&self) -> StoreResult<Vec<Node>> {
        self.read(|c| {
            Ok(nodes::table
                .order(nodes::id)
                .select(NODE)
                .load::<NodeRow>(c)?
                .into_iter()
                .map(node_of)
                .collect())
        })
    }

    fn claim_node(&self, node: &Node, seen_beat: Option<i64>) -> StoreResult<()> {
        self.write(|c| {
            let Some(seen) = seen_beat else {
                diesel::insert_into(nodes::table)
                    .values((
                        nodes::id.eq(&node.id),
                        nodes::url.eq(&node.url),
                        nodes::incarnation.eq(&node.incarnation),
                        nodes::started_at.eq(node.started_at),
                        nodes::beat_at.eq(node.beat_at),
                    ))
                    .execute(c)?;
                return Ok(());
            };
            diesel::update(
                nodes::table
                    .filter(nodes::id.eq(&node.id))
                    .filter(nodes::beat_at.eq(seen)),
            )
            .set((
                nodes::url.eq(&node.url),
                nodes::incarnation.eq(&node.incarnation),
                nodes::started_at.eq(node.started_at),
                nodes::beat_at.eq(node.beat_at),
            ))
            .execute(c)?;
            match node_row(c, &node.id)? {
                Some(now) if now.incarnation == node.incarnation => Ok(()),
                _ => Err(StoreError::Conflict(format!(
                    "node id {:?} was claimed by another process meanwhile",
                    node.id
                ))),
            }
        })
    }

    fn beat(&self, id: &str, incarnation: &str, url: &str, now: i64) -> StoreResult<bool> {
        self.write(|c| {
            diesel::update(
                nodes::table
                    .filter(nodes::id.eq(id))
                    .filter(nodes::incarnation.eq(incarnation)),
            )
            .set((nodes::beat_at.eq(now), nodes::url.eq(url)))
            .execute(c)?;
            Ok(node_row(c, id)?.is_some_and(|n| n.incarnation == incarnation))
        })
    }

    fn leave(&self, id: &str, incarnation: &str) -> StoreResult<()> {
        self.write(|c| {
            if node_row(c, id)?.is_none_or(|n| n.incarnation != incarnation) {
                return Ok(());
            }
            diesel::update(site_leases::table.filter(site_leases::node_id.eq(id)))
                .set((
                    site_leases::node_id.eq(""),
                    site_leases::expires_at.eq(0i64),
                ))
                .execute(c)?;
            diesel::update(nodes::table.filter(nodes::id.eq(id)))
                .set(nodes::beat_at.eq(0i64))
                .execute(c)?;
            Ok(())
        })
    }

    fn leases(&self) -> StoreResult<Vec<Lease>> {
        self.read(|c| {
            Ok(site_leases::table
                .order(site_leases::site_id)
                .select(LEASE)
                .load::<LeaseRow>(c)?
                .into_iter()
                .map(lease_of)
                .collect())
        })
    }

    fn acquire(
        &self,
        site: SiteId,
        node: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<Option<Lease>> {
        // A first lease inserted by another node at the same moment: not ours.
        let taken = |e| match e {
            StoreError::Conflict(_) => Ok(None),
            e => Err(e),
        };
        self.write(|c| {
            let Some(was) = lease_row(c, site)? else {
                diesel::insert_into(site_leases::table)
                    .values((
                        site_leases::site_id.eq(site.0),
                        site_leases::node_id.eq(node),
                        site_leases::epoch.eq(1i64),
                        site_leases::expires_at.eq(until),
                    ))
                    .execute(c)?;
                return Ok(Some(Lease {
                    site,
                    node: node.to_string(),
                    epoch: 1,
                    expires_at: until,
                }));
            };
            if !was.node.is_empty() && was.expires_at >= now {
                return Ok(None);
            }
            // Conditional on the epoch seen: a concurrent taker wins once, not twice.
            diesel::update(
                site_leases::table
                    .filter(site_leases::site_id.eq(site.0))
                    .filter(site_leases::epoch.eq(was.epoch)),
            )
            .set((
                site_leases::node_id.eq(node),
                site_leases::epoch.eq(was.epoch + 1),
                site_leases::expires_at.eq(until),
            ))
            .execute(c)?;
            Ok(lease_row(c, site)?.filter(|l| l.node == node && l.epoch == was.epoch + 1))
        })
        .or_else(taken)
    }

    fn renew(&self, node: &str, until: i64) -> StoreResult<Vec<Lease>> {
        self.write(|c| {
            diesel::update(site_leases::table.filter(site_leases::node_id.eq(node)))
                .set(site_leases::expires_at.eq(until))
                .execute(c)?;
            held_by(c, node)
        })
    }

    fn release(&self, site: SiteId, node: &str, epoch: i64) -> StoreResult<bool> {
        self.write(|c| {
            let held = lease_row(c, site)?.is_some_and(|l| l.node == node && l.epoch == epoch);
            if held {
                diesel::update(
                    site_leases::table
                        .filter(site_leases::site_id.eq(site.0))
                        .filter(site_leases::epoch.eq(epoch)),
                )
                .set((
                    site_leases::node_id.eq(""),
                    site_leases::expires_at.eq(0i64),
                ))
                .execute(c)?;
            }
            Ok(held)
        })
    }
}
