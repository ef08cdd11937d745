//! Several nodes on one database: who this node is, which nodes are alive, which sites it
//! serves, and which node serves any site (the router's answer).
//!
//! Owns: claiming the node id at start (a node id still beating is refused), the
//! heartbeat, the view of live nodes and leases (refreshed every beat), rendezvous
//! hashing of sites over live nodes, and the leases this node holds (`Held`, which the
//! writer reads as its fence). What a lease won or lost means for connections and the
//! desk is the hub's (`Hub::take_site`, `Hub::drop_site`). Knows the `Cluster` store
//! service, not any database; every store call blocks (callers run it on blocking
//! threads).

use std::collections::HashMap;
use std::sync::{Mutex, RwLock, RwLockReadGuard};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::ids::{random_token, SiteId};
use crate::store::{now_ms, Lease, Node, Site, Store, StoreError, StoreResult};

/// This process as a node.
#[derive(Debug, Clone)]
pub(crate) struct Me {
    pub(crate) id: String,
    pub(crate) url: String,
    pub(crate) incarnation: String,
}

/// The leases this node holds, by site, at their epochs: the writer's fence. Taking the
/// write lock waits for the commit in progress, so once a site is removed no commit
/// can still write to it under this node's epoch.
#[derive(Default)]
pub(crate) struct Held {
    epochs: RwLock<HashMap<SiteId, i64>>,
    /// Sites a commit found fenced since the last beat: the beat drops them.
    fenced: Mutex<Vec<SiteId>>,
}

impl Held {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, HashMap<SiteId, i64>> {
        self.epochs.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn epoch(&self, site: SiteId) -> Option<i64> {
        self.read().get(&site).copied()
    }

    pub(crate) fn insert(&self, site: SiteId, epoch: i64) {
        let mut m = self.epochs.write().unwrap_or_else(|p| p.into_inner());
        m.insert(site, epoch);
    }

    /// Stop writing to `site`; its epoch, if it was held.
    pub(crate) fn remove(&self, site: SiteId) -> Option<i64> {
        let mut m = self.epochs.write().unwrap_or_else(|p| p.into_inner());
        m.remove(&site)
    }

    /// A commit was fenced for `site`: stop writing to it, and let the next beat drop it.
    pub(crate) fn fenced(&self, site: SiteId) {
        if self.remove(site).is_some() {
            self.fenced
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(site);
        }
    }

    fn take_fenced(&self) -> Vec<SiteId> {
        std::mem::take(&mut *self.fenced.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn sites(&self) -> Vec<(SiteId, i64)> {
        self.read().iter().map(|(s, e)| (*s, *e)).collect()
    }
}

/// What a node knows of the cluster, as of its last beat.
#[derive(Default)]
struct View {
    /// Live nodes, by id.
    live: Vec<Node>,
    /// Every lease, by site.
    leases: HashMap<SiteId, Lease>,
}

/// Which node serves a site: its id and base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    pub(crate) node: String,
    pub(crate) url: String,
}

/// What a beat found to do (`Cluster::beat`).
#[derive(Default)]
pub(crate) struct Changes {
    /// Sites this node lost (another node took them over, or this node was found dead):
    /// already removed from `Held`, with where their clients go now.
    pub(crate) lost: Vec<(SiteId, String)>,
    /// Sites another live node should serve now (it joined): to hand over.
    pub(crate) give: Vec<(SiteId, Owner)>,
    /// Sites this node should serve and may take: to acquire.
    pub(crate) take: Vec<SiteId>,
}

/// A node's (or a router's) part in the cluster.
pub(crate) struct Cluster {
    /// `None` for a routing server: it watches, it owns nothing.
    me: Option<Me>,
    beat: Duration,
    dead_after: Duration,
    held: Held,
    view: Mutex<View>,
    /// Serialises acquisitions (the beat's and a hello's) so the hub loads each site once.
    taking: tokio::sync::Mutex<()>,
    /// Set by `leave`: no more beats, no more leases.
    left: std::sync::atomic::AtomicBool,
}

/// Rendezvous score of `node` for site `key`: the highest wins.
fn score(node: &str, key: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(node.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    h.finalize().into()
}

/// The live node rendezvous hashing gives site `key` (ties, which SHA-256 makes
/// vanishingly rare, go to the smaller id).
pub(crate) fn rendezvous<'a>(key: &str, live: &'a [Node]) -> Option<&'a Node> {
    live.iter().max_by(|a, b| {
        score(&a.id, key)
            .cmp(&score(&b.id, key))
            .then(b.id.cmp(&a.id))
    })
}

impl Cluster {
    /// The part a node takes in the cluster (`node_id` set), or a router's (`router`).
    /// `None` for a node running alone.
    pub(crate) fn new(config: &Config, router: bool) -> Option<Cluster> {
        let me = (!config.node_id.is_empty() && !router).then(|| Me {
            id: config.node_id.clone(),
            url: config.base_url(),
            incarnation: random_token(16),
        });
        if me.is_none() && !router {
            return None;
        }
        Some(Cluster {
            me,
            beat: Duration::from_millis(config.node_beat_ms),
            dead_after: config.node_dead_after(),
            held: Held::default(),
            view: Mutex::new(View::default()),
            taking: tokio::sync::Mutex::new(()),
            left: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub(crate) fn me(&self) -> Option<&Me> {
        self.me.as_ref()
    }

    pub(crate) fn beat_every(&self) -> Duration {
        self.beat
    }

    pub(crate) fn held(&self) -> &Held {
        &self.held
    }

    pub(crate) fn taking(&self) -> &tokio::sync::Mutex<()> {
        &self.taking
    }

    fn dead_ms(&self) -> i64 {
        self.dead_after.as_millis() as i64
    }

    fn view(&self) -> std::sync::MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claim this node's id: a row that still beats belongs to a live node, and this one
    /// is refused. A row that looks alive is watched for as long as a node takes to be
    /// declared dead: if it beats meanwhile, the id is in use; if not, it was this node's
    /// own before a crash, and is claimed. Blocks.
    pub(crate) fn join(&self, store: &dyn Store) -> StoreResult<()> {
        let Some(me) = &self.me else { return Ok(()) };
        let row = |beat_at| Node {
            id: me.id.clone(),
            url: me.url.clone(),
            incarnation: me.incarnation.clone(),
            started_at: now_ms(),
            beat_at,
        };
        let Some(seen) = store.node(&me.id)? else {
            return store.claim_node(&row(now_ms()), None);
        };
        if seen.beat_at >= now_ms() - self.dead_ms() {
            tracing::info!(node = %me.id, "this node id beat recently: waiting to see it stop");
            std::thread::sleep(self.dead_after + self.beat);
        }
        let clash = |now: &Node| {
            StoreError::Conflict(format!(
                "node id {:?} is in use by a live node at {} (it beat {} ms ago): give \
                 every node its own node_id",
                me.id,
                now.url,
                now_ms() - now.beat_at
            ))
        };
        match store.node(&me.id)? {
            Some(now) if now.beat_at != seen.beat_at => Err(clash(&now)),
            _ => store
                .claim_node(&row(now_ms()), Some(seen.beat_at))
                .map_err(|e| match e {
                    StoreError::Conflict(_) => clash(&seen),
                    e => e,
                }),
        }
    }

    /// One beat: heartbeat this node, renew its leases, refresh the view, and say what
    /// changed (leases lost are removed from `Held` here). Blocks.
    pub(crate) fn beat(&self, store: &dyn Store, sites: &[Site]) -> StoreResult<Changes> {
        if self.left.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(Changes::default());
        }
        let now = now_ms();
        let mut changes = Changes::default();
        let mine = match &self.me {
            Some(me) => {
                if !store.beat(&me.id, &me.incarnation, &me.url, now)? {
                    tracing::error!(node = %me.id, "another process claimed this node id: serving no site");
                    for (site, _) in self.held.sites() {
                        self.held.remove(site);
                        changes.lost.push((site, String::new()));
                    }
                    return Ok(changes);
                }
                for site in self.held.take_fenced() {
                    changes.lost.push((site, String::new()));
                }
                let renewed = store.renew(&me.id, now + self.dead_ms())?;
                let still: HashMap<SiteId, i64> =
                    renewed.iter().map(|l| (l.site, l.epoch)).collect();
                // A lease in this node's name that it does not serve (a release that
                // failed) is given up, or nobody would ever take the site.
                for l in &renewed {
                    if self.held.epoch(l.site) != Some(l.epoch) {
                        store.release(l.site, &me.id, l.epoch)?;
                    }
                }
                for (site, epoch) in self.held.sites() {
                    if still.get(&site) != Some(&epoch) {
                        self.held.remove(site);
                        changes.lost.push((site, String::new()));
                    }
                }
                Some(me)
            }
            None => None,
        };
        let live: Vec<Node> = store
            .nodes()?
            .into_iter()
            .filter(|n| n.beat_at >= now - self.dead_ms())
            .collect();
        let leases: HashMap<SiteId, Lease> =
            store.leases()?.into_iter().map(|l| (l.site, l)).collect();
        let mut wanted = Vec::new();
        if let Some(me) = mine {
            for site in sites {
                let Some(want) = rendezvous(&site.key, &live) else {
                    continue;
                };
                let held = self.held.epoch(site.id).is_some();
                if want.id == me.id && !held {
                    let free = leases
                        .get(&site.id)
                        .is_none_or(|l| l.node.is_empty() || l.expires_at < now || l.node == me.id);
                    if free {
                        changes.take.push(site.id);
                    }
                } else if want.id != me.id && held {
                    let to = Owner {
                        node: want.id.clone(),
                        url: want.url.clone(),
                    };
                    wanted.push((site.id, to));
                }
            }
        }
        changes.give = wanted;
        *self.view() = View { live, leases };
        for (site, url) in &mut changes.lost {
            if let Some(o) = self.owner_by_id(*site, sites) {
                *url = o.url;
            }
        }
        Ok(changes)
    }

    /// Take the lease of `site` for this node, if nobody holds it; its epoch is then in
    /// `Held`. Blocks.
    pub(crate) fn acquire(&self, store: &dyn Store, site: SiteId) -> StoreResult<Option<i64>> {
        let Some(me) = &self.me else { return Ok(None) };
        if self.left.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(None);
        }
        if let Some(e) = self.held.epoch(site) {
            return Ok(Some(e));
        }
        let now = now_ms();
        let Some(lease) = store.acquire(site, &me.id, now, now + self.dead_ms())? else {
            return Ok(None);
        };
        tracing::info!(site = site.0, epoch = lease.epoch, "site lease acquired");
        Ok(Some(lease.epoch))
    }

    /// Give the lease of `site` up (after `Held` stopped writing to it). Blocks.
    pub(crate) fn release(&self, store: &dyn Store, site: SiteId, epoch: i64) -> StoreResult<()> {
        if let Some(me) = &self.me {
            store.release(site, &me.id, epoch)?;
            tracing::info!(site = site.0, epoch, "site lease released");
        }
        Ok(())
    }

    /// A clean stop: every lease released, the node marked dead. Blocks.
    pub(crate) fn leave(&self, store: &dyn Store) -> StoreResult<()> {
        let Some(me) = &self.me else { return Ok(()) };
        self.left.store(true, std::sync::atomic::Ordering::Release);
        for (site, _) in self.held.sites() {
            self.held.remove(site);
        }
        store.leave(&me.id, &me.incarnation)
    }

    /// Who serves `site` as of the last beat: the live holder of its lease, else the node
    /// rendezvous hashing gives it (which takes it on its next beat or first client).
    /// `None` before the first beat, or with no live node.
    pub(crate) fn owner(&self, site: &Site) -> Option<Owner> {
        let view = self.view();
        let now = now_ms();
        if let Some(l) = view.leases.get(&site.id) {
            if !l.node.is_empty() && l.expires_at >= now {
                if let Some(n) = view.live.iter().find(|n| n.id == l.node) {
                    return Some(Owner {
                        node: n.id.clone(),
                        url: n.url.clone(),
                    });
                }
            }
        }
        rendezvous(&site.key, &view.live).map(|n| Owner {
            node: n.id.clone(),
            url: n.url.clone(),
        })
    }

    /// The node rendezvous hashing over the live nodes gives `site`, whoever holds its
    /// lease now: the node that should take it.
    pub(crate) fn chosen(&self, site: &Site) -> Option<Owner> {
        rendezvous(&site.key, &self.view().live).map(|n| Owner {
            node: n.id.clone(),
            url: n.url.clone(),
        })
    }

    fn owner_by_id(&self, site: SiteId, sites: &[Site]) -> Option<Owner> {
        sites
            .iter()
            .find(|s| s.id == site)
            .and_then(|s| self.owner(s))
    }

    /// The advertised base URLs of the live nodes (as of the last beat).
    pub(crate) fn node_urls(&self) -> Vec<String> {
        self.view().live.iter().map(|n| n.url.clone()).collect()
    }

    /// Is `origin` the advertised base URL of a live node (as of the last beat)?
    pub(crate) fn is_node_url(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        self.view()
            .live
            .iter()
            .any(|n| n.url.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }

    /// Is `node` this node?
    pub(crate) fn is_me(&self, node: &str) -> bool {
        self.me.as_ref().is_some_and(|m| m.id == node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(id: &str) -> Node {
        Node {
            id: id.into(),
            url: format!("http://{id}"),
            incarnation: String::new(),
            started_at: 0,
            beat_at: 0,
        }
    }

    #[test]
    fn rendezvous_moves_only_the_sites_of_a_node_that_leaves() {
        let all: Vec<Node> = ["a", "b", "c"].into_iter().map(n).collect();
        let keys: Vec<String> = (0..600).map(|i| format!("site{i}")).collect();
        let before: Vec<String> = keys
            .iter()
            .map(|k| rendezvous(k, &all).unwrap().id.clone())
            .collect();
        for id in ["a", "b", "c"] {
            let share = before.iter().filter(|o| *o == id).count();
            assert!((120..=280).contains(&share), "{id}: {share} of 600");
        }
        // The same answer whatever the order of the list.
        let reversed: Vec<Node> = all.iter().rev().cloned().collect();
        for k in &keys {
            assert_eq!(
                rendezvous(k, &all).unwrap().id,
                rendezvous(k, &reversed).unwrap().id
            );
        }
        let without_b: Vec<Node> = all.iter().filter(|x| x.id != "b").cloned().collect();
        for (k, was) in keys.iter().zip(&before) {
            let now = &rendezvous(k, &without_b).unwrap().id;
            if was != "b" {
                assert_eq!(now, was, "{k} moved though its node stayed");
            }
        }
        assert!(rendezvous("x", &[]).is_none());
    }
}
