//! The cluster's tables in memory: the same rules as `store::sql::cluster`, for testing
//! the nodes' logic without a database (one process is then the whole "cluster").

use super::{conflict, MemoryStore};
use crate::ids::SiteId;
use crate::store::{Cluster, Lease, Node, StoreError, StoreResult};

impl Cluster for MemoryStore {
    fn node(&self, id: &str) -> StoreResult<Option<Node>> {
        Ok(self.state().nodes.get(id).cloned())
    }

    fn nodes(&self) -> StoreResult<Vec<Node>> {
        Ok(self.state().nodes.values().cloned().collect())
    }

    fn claim_node(&self, node: &Node, seen_beat: Option<i64>) -> StoreResult<()> {
        let mut st = self.state();
        match (st.nodes.get(&node.id), seen_beat) {
            (None, None) => {}
            (Some(now), Some(seen)) if now.beat_at == seen => {}
            (Some(_), None) => return Err(conflict("node id taken")),
            _ => {
                return Err(StoreError::Conflict(format!(
                    "node id {:?} was claimed by another process meanwhile",
                    node.id
                )))
            }
        }
        st.nodes.insert(node.id.clone(), node.clone());
        Ok(())
    }

    fn beat(&self, id: &str, incarnation: &str, url: &str, now: i64) -> StoreResult<bool> {
        let mut st = self.state();
        match st.nodes.get_mut(id) {
            Some(n) if n.incarnation == incarnation => {
                n.beat_at = now;
                n.url = url.to_string();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn leave(&self, id: &str, incarnation: &str) -> StoreResult<()> {
        let mut st = self.state();
        let Some(n) = st
            .nodes
            .get_mut(id)
            .filter(|n| n.incarnation == incarnation)
        else {
            return Ok(());
        };
        n.beat_at = 0;
        for l in st.leases.values_mut().filter(|l| l.node == id) {
            l.node.clear();
            l.expires_at = 0;
        }
        Ok(())
    }

    fn leases(&self) -> StoreResult<Vec<Lease>> {
        Ok(self.state().leases.values().cloned().collect())
    }

    fn acquire(
        &self,
        site: SiteId,
        node: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<Option<Lease>> {
        let mut st = self.state();
        st.site_exists(site)?;
        let epoch = match st.leases.get(&site) {
            None => 1,
            Some(l) if l.node.is_empty() || l.expires_at < now => l.epoch + 1,
            Some(_) => return Ok(None),
        };
        let lease = Lease {
            site,
            node: node.to_string(),
            epoch,
            expires_at: until,
        };
        st.leases.insert(site, lease.clone());
        Ok(Some(lease))
    }

    fn renew(&self, node: &str, until: i64) -> StoreResult<Vec<Lease>> {
        let mut st = self.state();
        Ok(st
            .leases
            .values_mut()
            .filter(|l| l.node == node)
            .map(|l| {
                l.expires_at = until;
                l.clone()
            })
            .collect())
    }

    fn release(&self, site: SiteId, node: &str, epoch: i64) -> StoreResult<bool> {
        let mut st = self.state();
        match st.leases.get_mut(&site) {
            Some(l) if l.node == node && l.epoch == epoch => {
                l.node.clear();
                l.expires_at = 0;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
