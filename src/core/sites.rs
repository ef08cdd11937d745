//! Which sites this node serves, and what winning or losing one means.
//!
//! Owns: the hub's side of the cluster — the beat loop (`run_beats`), taking a site
//! (its lease, then its desk from the log), dropping one (stop writing, send its clients
//! to the node that serves it now, forget its in-memory state, then release its lease
//! when handing it over), the check a `hello` passes (`serve_site`), the router's answer
//! (`route`), and leaving at shutdown. A node running alone serves every site and none
//! of this does anything. The cluster's own rules are `cluster`'s.

use std::sync::Arc;

use super::cluster::{Cluster, Owner};
use super::hub::Hub;
use crate::ids::SiteId;
use crate::store::{Site, StoreResult};

/// The router's answer for a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    /// The node serving it; empty for a node running alone.
    pub(crate) node: String,
    pub(crate) url: String,
}

impl Hub {
    /// Part of a cluster (a node with a `node_id`, or a router)?
    pub(crate) fn clustered(&self) -> bool {
        self.cluster().is_some()
    }

    /// A routing server: it serves no site, it answers `/v1/route`.
    pub(crate) fn is_router(&self) -> bool {
        self.cluster().is_some_and(|c| c.me().is_none())
    }

    /// The base URLs of the live nodes of this node's cluster (none when alone).
    pub(crate) fn node_urls(&self) -> Vec<String> {
        self.cluster().map(|c| c.node_urls()).unwrap_or_default()
    }

    /// Which node serves `site`, as every node and router answers it.
    pub(crate) fn route(&self, site: &Site) -> Option<Route> {
        match self.cluster() {
            None => Some(Route {
                node: String::new(),
                url: self.config().base_url(),
            }),
            Some(c) => c.owner(site).map(|Owner { node, url }| Route { node, url }),
        }
    }

    /// Where a client of `site` (which this node does not serve) should go: the base URL
    /// of the node serving it, or empty (ask the router) when that is not known.
    pub(crate) async fn elsewhere(&self, site: Option<SiteId>) -> String {
        let Some(site) = site else {
            return String::new();
        };
        let Ok(Some(site)) = self.blocking(move |s| s.site(site)).await else {
            return String::new();
        };
        match self.route(&site) {
            Some(r) if !self.cluster().is_some_and(|c| c.is_me(&r.node)) => r.url,
            _ => String::new(),
        }
    }

    /// `serve_site` for a site known by id (an API request's): a site that cannot be
    /// looked up now is let through, for the append itself to report the store's error.
    pub(crate) async fn serve_site_id(&self, site: SiteId) -> Result<(), String> {
        let Some(cluster) = self.cluster() else {
            return Ok(());
        };
        if cluster.held().epoch(site).is_some() {
            return Ok(());
        }
        match self.blocking(move |s| s.site(site)).await {
            Ok(Some(site)) => self.serve_site(&site).await,
            _ => Ok(()),
        }
    }

    /// May this node serve a client of `site` now? A node running alone serves every
    /// site. A node of a cluster serves the sites whose lease it holds, and takes the
    /// lease at once when the site is its own by rendezvous and free. `Err`: the base URL
    /// to send the client to (empty: ask the router again).
    pub(crate) async fn serve_site(&self, site: &Site) -> Result<(), String> {
        let Some(cluster) = self.cluster() else {
            return Ok(());
        };
        if cluster.held().epoch(site.id).is_some() {
            return Ok(());
        }
        // Taken only when rendezvous says it is this node's: the view's lease holder may
        // be this node a moment after it handed the site over.
        match cluster.chosen(site) {
            Some(o) if cluster.is_me(&o.node) => {}
            Some(_) => return Err(self.elsewhere(Some(site.id)).await),
            None => return Err(String::new()),
        }
        match self.take_site(site.id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.elsewhere(Some(site.id)).await),
            Err(e) => {
                tracing::warn!(error = %e, site = site.id.0, "taking the site's lease failed");
                Err(String::new())
            }
        }
    }

    /// Take the lease of `site` and load its desk from the log; true when this node
    /// holds it now.
    async fn take_site(&self, site: SiteId) -> StoreResult<bool> {
        let Some(cluster) = self.cluster().cloned() else {
            return Ok(true);
        };
        let _one = cluster.taking().lock().await;
        if cluster.held().epoch(site).is_some() {
            return Ok(true);
        }
        let c = cluster.clone();
        let taken = self
            .blocking(move |s| {
                let Some(epoch) = c.acquire(s, site)? else {
                    return Ok(None);
                };
                Ok(Some((epoch, s.desk_conversations(Some(site))?)))
            })
            .await?;
        let Some((epoch, desk)) = taken else {
            return Ok(false);
        };
        self.restore_desk(desk);
        cluster.held().insert(site, epoch);
        Ok(true)
    }

    /// Stop serving `site`: no more writes to it, its clients sent to `url`, its
    /// in-memory state (desk, presence, visitor sessions) forgotten; when `handover`
    /// names the epoch held, the lease is released too, so the next node takes it at once.
    async fn drop_site(&self, site: SiteId, url: &str, handover: Option<i64>) {
        if let (Some(epoch), Some(cluster)) = (handover, self.cluster().cloned()) {
            // Removing it waits for the commit in progress: after this, nothing of this
            // node's reaches the site's log.
            let c = cluster.clone();
            let released = self
                .blocking(move |s| {
                    c.held().remove(site);
                    c.release(s, site, epoch)
                })
                .await;
            if let Err(e) = released {
                tracing::warn!(error = %e, site = site.0, "releasing the lease failed; it expires");
            }
        }
        let signals = self.forget_site(site);
        tracing::info!(
            site = site.0,
            clients = signals.len(),
            to = url,
            "site moved away"
        );
        for sig in signals {
            sig.mark_moved(url);
        }
    }

    /// Run the cluster's beats until shutdown: heartbeat, renew, refresh the view, hand
    /// over and take sites as rendezvous hashing says.
    pub(crate) fn run_beats(&self, cluster: Arc<Cluster>) {
        let weak = self.downgrade();
        let every = cluster.beat_every();
        self.tasks().spawn_timer(async move {
            loop {
                let Some(hub) = Hub::upgrade(&weak) else {
                    break;
                };
                hub.beat_once(&cluster).await;
                drop(hub);
                tokio::time::sleep(every).await;
            }
        });
    }

    async fn beat_once(&self, cluster: &Arc<Cluster>) {
        let c = cluster.clone();
        // Not while a site is being taken: the beat would find its new lease not held yet.
        let one = cluster.taking().lock().await;
        let changes = self
            .blocking(move |s| {
                let sites = s.sites()?;
                c.beat(s, &sites)
            })
            .await;
        drop(one);
        let changes = match changes {
            Ok(ch) => ch,
            Err(e) => {
                // The fence keeps the log safe meanwhile: clients stay, writes fail.
                tracing::warn!(error = %e, "cluster beat failed");
                return;
            }
        };
        for (site, url) in changes.lost {
            tracing::warn!(site = site.0, "site lease lost");
            self.drop_site(site, &url, None).await;
        }
        for (site, to) in changes.give {
            let Some(epoch) = cluster.held().epoch(site) else {
                continue;
            };
            tracing::info!(site = site.0, to = %to.node, "handing the site over");
            self.drop_site(site, &to.url, Some(epoch)).await;
        }
        for site in changes.take {
            if let Err(e) = self.take_site(site).await {
                tracing::warn!(error = %e, site = site.0, "taking the site's lease failed");
            }
        }
    }

    /// A clean stop of a node: release every lease and mark the node dead, so that other
    /// nodes take its sites at once; its clients are then sent to the router.
    pub(crate) async fn leave_cluster(&self) {
        let Some(cluster) = self.cluster().cloned() else {
            return;
        };
        if cluster.me().is_none() {
            return;
        }
        match self.blocking(move |s| cluster.leave(s)).await {
            Ok(()) => tracing::info!("left the cluster: every site lease released"),
            Err(e) => tracing::warn!(error = %e, "leaving the cluster failed; leases expire"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::Config;
    use crate::core::testing::{settle, World};
    use crate::core::Shutdown;
    use crate::protocol::close;
    use crate::store::now_ms;

    #[tokio::test(start_paused = true)]
    async fn a_fenced_commit_sends_every_client_of_the_site_away() {
        let config = Config {
            node_id: "a".into(),
            node_beat_ms: 100,
            ..Config::default()
        };
        let w = World::node(config);
        let (_t, shutdown) = Shutdown::new();
        // The first beat takes the site (the only node, so rendezvous gives it to "a").
        for _ in 0..50 {
            if w.hub.serves(w.site.id) {
                break;
            }
            tokio::time::advance(Duration::from_millis(100)).await;
            settle().await;
        }
        assert!(w.hub.serves(w.site.id), "the node took its site");
        let mut visitor = w.visitor(&shutdown, None).await;
        let mut agent = w.agent(&shutdown, &w.admin).await;
        // Another node takes the lease over behind this one's back (as if this one had
        // been paused past its lease).
        let far = now_ms() + 3_600_000;
        let taken = w.store.acquire(w.site.id, "b", far, far + 1).unwrap();
        assert_eq!(taken.map(|l| l.epoch), Some(2));
        visitor.say(serde_json::json!({"t":"msg","cid":"m1","body":"hello"}));
        let bye = visitor.next_type("bye").await;
        assert_eq!(bye["code"], close::MOVED, "{bye}");
        assert!(!w.hub.serves(w.site.id), "the site left the fence at once");
        // Nothing was written: the fence refused the commit.
        assert!(!w.store.visitor_exists(w.site.id, "m1").unwrap());
        // The next beat drops the site: its other clients are sent away too.
        tokio::time::advance(Duration::from_millis(150)).await;
        settle().await;
        let bye = agent.next_type("bye").await;
        assert_eq!(bye["code"], close::MOVED, "{bye}");
    }
}
