//! The hub: the process-wide, transport-neutral state every connection works through.
//!
//! Owns: the store handle and how async code reaches it (blocking threads only), the
//! writer, live streams, visitor sessions and their grace timers, a short-lived site
//! cache, connection gauges, the background tasks (`tasks`) and the ticker among them,
//! and the end of it all (`shutdown`: timers, then the writer). A cheap-to-clone handle
//! around `Arc<Inner>`. Knows nothing of hyper, tungstenite or diesel.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::auth;
use super::budget::PerAddress;
use super::cluster::Cluster;
use super::login::{self, Login, LoginError};
use super::presence::Presence;
use super::registry::Registry;
use super::session::VisitorSession;
use super::signal::Signal;
use super::stream::Stream;
use super::tasks::Tasks;
use super::writer::{AppendError, Writer};
pub(crate) use super::TransportKind;
use crate::config::Config;
use crate::ids::{ConversationId, Offset, SiteId};
use crate::protocol::{EntryFrame, ServerFrame};
use crate::store::{
    now_ms, Agent, Appended, DeskConv, InviteRule, Site, Store, StoreError, StoreResult,
};

/// The answer to an append, once it is committed.
pub(crate) type Committed = tokio::sync::oneshot::Receiver<Result<Appended, AppendError>>;

/// How long a site lookup is cached (a site edited by the CLI is seen within this).
const SITE_TTL: Duration = Duration::from_secs(5);

/// What follows the commit of an append (`Hub::after_commit`).
#[derive(Clone)]
pub(crate) enum AfterCommit {
    Nothing,
    /// A visitor's message, or an invitation it accepted from this agent (who the desk
    /// then prefers): the conversation may be new.
    Visitor(Arc<VisitorSession>, Option<crate::ids::AgentId>),
    /// An agent's message: it answered.
    Agent(crate::ids::AgentId),
}

/// Why the store is not well (`Hub::health`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unhealthy {
    /// It does not answer, or is not the database opened.
    #[error("store: {0}")]
    Store(StoreError),
    /// Writes fail (a full disk, …) until one succeeds again.
    #[error("store writes fail: {0}")]
    WritesFail(String),
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    writer: Writer,
    /// Taken by `shutdown` to join the writer thread.
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    registry: Arc<Registry>,
    /// Live visitor sessions by (site, visitor token).
    sessions: Mutex<HashMap<(SiteId, String), Arc<VisitorSession>>>,
    /// Site lookups by key, with the time they were read (misses are cached too, so a
    /// flood of hellos for an unknown site does not reach the store).
    sites: Mutex<HashMap<String, (Option<Site>, Instant)>>,
    /// Open client connections (all transports).
    connections: AtomicUsize,
    /// Agent sign-in: its limits and its password pool.
    login: Login,
    /// What each client address holds, against the per-address limits.
    per_address: Limits,
    /// Who is on each site now.
    presence: Presence,
    /// Automatic invitation rules per site, loaded on first use (`invite`).
    rules: Mutex<HashMap<SiteId, Arc<Vec<InviteRule>>>>,
    /// Connections closed because they could not keep up (4001), since start.
    slow_disconnects: AtomicUsize,
    /// Every background task: connections (awaited at shutdown) and timers (cancelled).
    tasks: Tasks,
    /// This node's part in a cluster (`sites`), or a router's; `None` running alone.
    cluster: Option<Arc<Cluster>>,
    /// What `/metrics` reports.
    metrics: Arc<super::metrics::Metrics>,
}

/// The per-address budgets, one per resource (`docs/config.md`).
pub(crate) struct Limits {
    /// TCP connections (`max_connections_per_address`).
    pub(crate) connections: Arc<PerAddress>,
    /// HTTP channels (`max_channels_per_address`).
    pub(crate) channels: Arc<PerAddress>,
    /// Incomplete JSONP messages (`jsonp_max_pending_per_address`).
    pub(crate) jsonp_parts: Arc<PerAddress>,
}

impl Limits {
    fn new(c: &Config) -> Limits {
        Limits {
            connections: PerAddress::new(c.max_connections_per_address, "connections"),
            channels: PerAddress::new(c.max_channels_per_address, "channels"),
            jsonp_parts: PerAddress::new(c.jsonp_max_pending_per_address, "JSONP parts"),
        }
    }
}

impl Hub {
    /// Start the hub and its writer thread on an opened store, with the desk as the log
    /// left it (`Store::desk_conversations`). With a `cluster`, the node serves the sites
    /// whose leases it takes (their desks are loaded then), and a router (a cluster part
    /// with no node) serves no site at all: no writer work, no desk timers.
    pub(crate) fn start(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        desk: Vec<DeskConv>,
        cluster: Option<Cluster>,
    ) -> Hub {
        let cluster = cluster.map(Arc::new);
        let registry = Arc::new(Registry::new());
        let metrics = Arc::new(super::metrics::Metrics::new());
        let (writer, thread) = Writer::spawn(
            store.clone(),
            registry.clone(),
            metrics.clone(),
            cluster.clone(),
            config.writer_queue,
            config.writer_batch,
        );
        let hub = Hub {
            inner: Arc::new(Inner {
                config: config.clone(),
                store,
                writer,
                writer_thread: Mutex::new(Some(thread)),
                registry,
                sessions: Mutex::new(HashMap::new()),
                sites: Mutex::new(HashMap::new()),
                connections: AtomicUsize::new(0),
                presence: Presence::default(),
                rules: Mutex::new(HashMap::new()),
                login: Login::new(&config),
                per_address: Limits::new(&config),
                slow_disconnects: AtomicUsize::new(0),
                tasks: Tasks::new(),
                cluster: cluster.clone(),
                metrics,
            }),
        };
        hub.restore_desk(desk);
        if let Some(c) = cluster {
            let router = c.me().is_none();
            hub.run_beats(c);
            if router {
                return hub;
            }
        }
        // Every second, until shutdown or the hub is gone: re-assign unanswered
        // conversations and send the invitations site rules call for; now and then,
        // close idle ones.
        let weak = Arc::downgrade(&hub.inner);
        let idle_every = Duration::from_millis(config.idle_close_ms / 4)
            .clamp(Duration::from_secs(1), Duration::from_secs(30));
        hub.inner.tasks.spawn_timer(async move {
            let mut idle_checked = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let Some(inner) = weak.upgrade() else { break };
                let hub = Hub { inner };
                hub.reassign_stale();
                hub.auto_invite().await;
                if idle_checked.elapsed() >= idle_every {
                    idle_checked = tokio::time::Instant::now();
                    hub.close_idle().await;
                }
            }
        });
        hub
    }

    pub(crate) fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.inner.cluster.as_ref()
    }

    /// Does this node serve `site` now (always, running alone)?
    pub(crate) fn serves(&self, site: SiteId) -> bool {
        self.cluster()
            .is_none_or(|c| c.me().is_some() && c.held().epoch(site).is_some())
    }

    pub(crate) fn downgrade(&self) -> std::sync::Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    pub(crate) fn upgrade(weak: &std::sync::Weak<Inner>) -> Option<Hub> {
        weak.upgrade().map(|inner| Hub { inner })
    }

    /// Forget everything held in memory for `site` (its desk, who is on it, its visitor
    /// sessions, its rules, its live streams) and return the connections that were on it.
    pub(crate) fn forget_site(&self, site: SiteId) -> Vec<Arc<Signal>> {
        let mut signals = Vec::new();
        if let Some(sp) = self.inner.presence.lock().remove(&site) {
            signals.extend(sp.agents.iter().map(|a| a.sig.clone()));
            for v in sp.visitors.values() {
                signals.extend(v.signals());
            }
        }
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(s, _), session| {
                if *s == site {
                    signals.extend(session.signals());
                }
                *s != site
            });
        self.inner
            .rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&site);
        self.inner.registry.forget_site(site);
        signals.sort_by_key(|s| Arc::as_ptr(s) as usize);
        signals.dedup_by(|a, b| Arc::ptr_eq(a, b));
        signals
    }

    /// Why store writes are failing now, if they are (`/healthz`).
    pub(crate) fn store_failing(&self) -> Option<String> {
        self.inner.writer.failing()
    }

    /// Is the store well (`/healthz`): it answers, is still the database opened, and
    /// takes writes?
    pub(crate) async fn health(&self) -> Result<(), Unhealthy> {
        self.blocking(|s| s.ping())
            .await
            .map_err(Unhealthy::Store)?;
        match self.store_failing() {
            Some(why) => Err(Unhealthy::WritesFail(why)),
            None => Ok(()),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub(crate) fn writer(&self) -> &Writer {
        &self.inner.writer
    }

    /// The process's background tasks: every task is spawned through them.
    pub(crate) fn tasks(&self) -> &Tasks {
        &self.inner.tasks
    }

    /// Run a store call on a blocking thread. Async code never holds a connection.
    pub async fn blocking<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> StoreResult<T> + Send + 'static,
    {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || f(&*store))
            .await
            .unwrap_or_else(|e| Err(StoreError::Invalid(format!("store task failed: {e}"))))
    }

    /// Stop the timers, then flush the writer and wait for its thread. Call once, after
    /// the connections ended (`Tasks::drain`): what the timers queued is committed too.
    pub(crate) async fn shutdown(&self) {
        self.inner.tasks.stop_timers().await;
        self.inner.writer.stop().await;
        let thread = self
            .inner
            .writer_thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(t) = thread {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }

    /// The site with this public key (cached for a few seconds).
    pub(crate) async fn site(&self, key: &str) -> StoreResult<Option<Site>> {
        if let Some((site, at)) = self
            .inner
            .sites
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
        {
            if at.elapsed() < SITE_TTL {
                return Ok(site.clone());
            }
        }
        let k = key.to_string();
        let site = self.blocking(move |s| s.site_by_key(&k)).await?;
        let mut cache = self.inner.sites.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(key.to_string(), (site.clone(), Instant::now()));
        Ok(site)
    }

    /// Drop the live stream of `conv` (its conversation was deleted).
    pub(crate) fn forget_stream(&self, conv: ConversationId) {
        self.inner.registry.forget(conv);
    }

    /// Drop the cached site of `key`: the next ask reads it from the store.
    pub(crate) fn forget_cached_site(&self, key: &str) {
        self.inner
            .sites
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Sign an agent in; rate-limited per (email, peer address).
    pub(crate) async fn login(
        &self,
        email: &str,
        password: &str,
        site_key: Option<&str>,
        peer: std::net::IpAddr,
    ) -> StoreResult<Result<(String, Agent), LoginError>> {
        let site_key = site_key.map(str::to_string);
        let find = |email: String| {
            self.blocking(move |st| login::find_agent(st, &email, site_key.as_deref()))
        };
        let checked = self.inner.login.check(email, password, peer, find).await?;
        let outcome = match &checked {
            Ok(_) => "ok",
            Err(LoginError::BadCredentials | LoginError::NameTheSite) => "refused",
            Err(LoginError::RateLimited(_) | LoginError::Busy) => "limited",
        };
        self.inner
            .metrics
            .sign_ins
            .get_or_create(&super::metrics::OutcomeLabels { outcome })
            .inc();
        let agent = match checked {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let ttl = self.inner.config.token_ttl_ms as i64;
        let a = agent.clone();
        let token = self
            .blocking(move |st| login::issue_token(st, &a, ttl))
            .await?;
        Ok(Ok((token, agent)))
    }

    /// May a page from `origin` talk to `site` as `role`? The site's allowed origins; and
    /// for agents also kefu's own console (its base URL, or any live node's of its
    /// cluster). `None`: the role is not known
    /// yet (a WebSocket upgrade before its hello), so kefu's own origin passes too.
    pub(crate) fn origin_allowed(
        &self,
        site: &crate::store::Site,
        origin: &str,
        role: Option<crate::protocol::Role>,
    ) -> bool {
        // The console is served by every node: an agent's may come from any of them.
        let own = origin.trim_end_matches('/') == self.config().base_url()
            || self.cluster().is_some_and(|c| c.is_node_url(origin));
        site.allows_origin(origin) || (own && role != Some(crate::protocol::Role::Visitor))
    }

    /// The per-address budgets (connections, channels, JSONP parts).
    pub(crate) fn per_address(&self) -> &Limits {
        &self.inner.per_address
    }

    /// The agent a sign-in token belongs to, if valid.
    pub(crate) async fn agent_by_token(&self, token: &str) -> StoreResult<Option<Agent>> {
        let hash = auth::token_hash(token);
        self.blocking(move |s| s.agent_by_token(&hash, now_ms()))
            .await
    }

    /// Revoke a sign-in token.
    pub(crate) async fn logout(&self, token: &str) -> StoreResult<bool> {
        let hash = auth::token_hash(token);
        self.blocking(move |s| s.revoke_token(&hash, now_ms()))
            .await
    }

    /// The session of visitor `token` on `site`, with its open conversation loaded.
    pub(crate) async fn visitor_session(
        &self,
        site: SiteId,
        token: &str,
    ) -> StoreResult<Arc<VisitorSession>> {
        let session = self
            .inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((site, token.to_string()))
            .or_insert_with(|| Arc::new(VisitorSession::new(site, token.to_string())))
            .clone();
        session
            .loaded
            .get_or_try_init(|| async {
                let t = token.to_string();
                if let Some(info) = self
                    .blocking(move |s| s.open_conversation_of(site, &t))
                    .await?
                {
                    session.set_conv(info, None);
                }
                Ok::<(), StoreError>(())
            })
            .await?;
        Ok(session)
    }

    pub(crate) fn presence(&self) -> &Presence {
        &self.inner.presence
    }

    pub(crate) fn rule_cache(&self) -> &Mutex<HashMap<SiteId, Arc<Vec<InviteRule>>>> {
        &self.inner.rules
    }

    /// The live session of visitor `token` on `site`, if this process has one.
    pub(crate) fn live_session(&self, site: SiteId, token: &str) -> Option<Arc<VisitorSession>> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(site, token.to_string()))
            .cloned()
    }

    /// A connection left `session`. With no connection left for `presence_grace_ms` the
    /// visitor is shown as gone; after `session_grace_ms` the session is forgotten. Both
    /// count from this departure: a visitor who comes back meanwhile cancels them, and
    /// when it leaves again, the graces of that departure count from then.
    pub(crate) fn leave_session(
        &self,
        session: &Arc<VisitorSession>,
        sig: &Arc<Signal>,
        kind: TransportKind,
    ) {
        let Some(departure) = session.detach(sig, kind) else {
            self.inner.presence.visitor_changed(session);
            return;
        };
        let hub = self.clone();
        let session = session.clone();
        let left = tokio::time::Instant::now();
        let presence_grace = self.inner.config.presence_grace();
        let session_grace = self.inner.config.session_grace().max(presence_grace);
        self.inner.tasks.spawn_timer(async move {
            tokio::time::sleep_until(left + presence_grace).await;
            if session.away_since(departure) {
                hub.inner.presence.visitor_gone(&session);
            }
            tokio::time::sleep_until(left + session_grace).await;
            let mut map = hub.inner.sessions.lock().unwrap_or_else(|p| p.into_inner());
            if session.away_since(departure) {
                if let Some(cur) = map.get(&(session.site, session.token.clone())) {
                    if Arc::ptr_eq(cur, &session) {
                        map.remove(&(session.site, session.token.clone()));
                    }
                }
            }
        });
    }

    /// What a commit means beyond its ack, whether or not the connection that asked for
    /// it is still there: a visitor's conversation opened (its tabs follow it, the desk
    /// assigns it), an agent answered.
    pub(crate) fn after_commit(&self, after: &AfterCommit, r: &Appended) {
        let Appended::New(_, info) = r else {
            return;
        };
        match after {
            AfterCommit::Nothing => {}
            AfterCommit::Visitor(session, prefer) => {
                session.set_conv(*info, None);
                self.ensure_owner(session.site, info.id, session, *prefer);
            }
            AfterCommit::Agent(agent) => self.answered(info.site, info.id, *agent),
        }
    }

    /// Follow `conv`, loading its stream into memory if needed. Returns the stream and
    /// its head when following started. `None`: no such conversation.
    pub(crate) async fn follow(
        &self,
        conv: ConversationId,
        sig: &Arc<Signal>,
    ) -> StoreResult<Option<(Arc<Stream>, Offset)>> {
        if let Some(found) = self.inner.registry.follow(conv, sig) {
            return Ok(Some(found));
        }
        let Some(info) = self.blocking(move |s| s.conversation(conv)).await? else {
            return Ok(None);
        };
        let stream = Stream::new(
            info.id,
            info.site,
            info.epoch,
            info.head,
            self.inner.config.stream_tail,
        );
        let (stream, _) = self.inner.registry.insert_and_follow(stream, sig);
        // Entries committed between the read above and the insert were published to no
        // stream: read the head again now that publishes reach this one.
        match self.blocking(move |s| s.conversation(conv)).await {
            Ok(Some(now)) => stream.observe_head(now.head),
            Ok(None) => {}
            Err(e) => {
                self.inner.registry.release(&stream, sig);
                return Err(e);
            }
        }
        let head = stream.head();
        Ok(Some((stream, head)))
    }

    /// The site of `conv` when its stream is in memory.
    pub(crate) fn live_site(&self, conv: ConversationId) -> Option<SiteId> {
        self.inner.registry.site(conv)
    }

    /// The last committed offset of `conv`, from memory when it is live.
    pub(crate) async fn head(&self, conv: ConversationId) -> StoreResult<Offset> {
        if let Some(h) = self.inner.registry.head(conv) {
            return Ok(h);
        }
        Ok(self
            .blocking(move |s| s.conversation(conv))
            .await?
            .map(|c| c.head)
            .unwrap_or(Offset::ZERO))
    }

    pub(crate) fn unfollow(&self, stream: &Arc<Stream>, sig: &Arc<Signal>) {
        self.inner.registry.release(stream, sig);
    }

    /// Encoded entries of `conv` after `after` from the store, at most `limit`.
    pub(crate) async fn read_store(
        &self,
        conv: ConversationId,
        after: Offset,
        limit: usize,
    ) -> StoreResult<Vec<(Offset, Bytes)>> {
        let entries = self
            .blocking(move |s| s.read_after(conv, after, limit))
            .await?;
        Ok(entries
            .iter()
            .map(|e| (e.off, ServerFrame::Entry(EntryFrame::from(e)).to_bytes()))
            .collect())
    }

    /// Count a connection in; `false` (and nothing counted) when at the cap.
    pub(crate) fn try_connect(&self) -> bool {
        let cap = self.inner.config.max_connections;
        self.inner
            .connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < cap).then_some(n + 1)
            })
            .is_ok()
    }

    pub(crate) fn disconnect(&self) {
        self.inner.connections.fetch_sub(1, Ordering::AcqRel);
    }

    /// Writes waiting in the writer's queue now.
    pub(crate) fn writer_queued(&self) -> usize {
        self.inner.writer.queued()
    }

    /// What `/metrics` reports.
    pub(crate) fn metrics(&self) -> &super::metrics::Metrics {
        &self.inner.metrics
    }

    pub(crate) fn connections(&self) -> usize {
        self.inner.connections.load(Ordering::Acquire)
    }

    pub(crate) fn count_slow(&self) {
        self.inner.slow_disconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections closed as slow (4001) since start.
    pub(crate) fn slow_disconnects(&self) -> usize {
        self.inner.slow_disconnects.load(Ordering::Relaxed)
    }

    /// Streams in memory.
    pub(crate) fn live_streams(&self) -> usize {
        self.inner.registry.len()
    }
}
