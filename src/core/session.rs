//! A visitor's server-side session: shared by all of its connections (tabs, transports).
//!
//! Owns: the visitor's open conversation as this process knows it, which connections
//! to tell when that conversation is opened from one of them, and its departures (each
//! time its last connection leaves), which the grace timers of `Hub::leave_session`
//! belong to. Knows nothing of transports.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::time::Instant;

use super::signal::Signal;
use super::TransportKind;
use crate::ids::{AgentId, ConversationId, SessionId, SiteId};
use crate::store::{now_ms, ConvInfo};

/// What agents see of a visitor (never stored), and what invitation rules measure.
#[derive(Debug, Clone)]
pub(crate) struct VisitorInfo {
    pub url: String,
    pub title: String,
    pub referrer: String,
    pub visible: bool,
    pub ua: String,
    /// First seen, ms since the Unix epoch.
    pub since: i64,
    /// Page views in this session.
    pub pages: u32,
    /// Visits counted by the widget for this browser.
    pub visits: u32,
    /// The host site's identity of the visitor, as the last `hello` with a `user` gave it.
    pub user: Option<Identity>,
    /// Transports of the open connections, one per connection.
    pub transports: Vec<TransportKind>,
    /// When the visitor came to the current page, ms since the Unix epoch.
    pub page_since: i64,
    /// The same moment on the runtime's clock: time on the page, for invitation rules.
    pub page_at: Instant,
    /// When the visitor was last invited (by an agent or a rule).
    pub invited: Option<i64>,
    /// When a rule last invited the visitor (the runtime's clock).
    pub auto_invited: Option<Instant>,
    /// Rules that invited the visitor in this session (at most `max_rules`).
    pub rules_fired: Vec<i64>,
}

impl Default for VisitorInfo {
    fn default() -> VisitorInfo {
        VisitorInfo {
            url: String::new(),
            title: String::new(),
            referrer: String::new(),
            visible: false,
            ua: String::new(),
            since: 0,
            pages: 0,
            visits: 0,
            user: None,
            transports: Vec::new(),
            page_since: 0,
            page_at: Instant::now(),
            invited: None,
            auto_invited: None,
            rules_fired: Vec::new(),
        }
    }
}

/// The host site's identity of a visitor, as agents see it (`docs/identity.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub id: String,
    pub name: String,
    pub attrs: serde_json::Map<String, serde_json::Value>,
    /// Everything above came from an identity token signed with the site secret.
    pub verified: bool,
    /// The token's expiry (Unix seconds), when verified.
    pub exp: Option<i64>,
}

impl Identity {
    /// `{"id","name","attrs","verified"}`, and `exp` when verified.
    fn to_json(&self) -> serde_json::Value {
        let mut j = serde_json::json!({
            "id": self.id, "name": self.name, "attrs": self.attrs, "verified": self.verified,
        });
        if let Some(exp) = self.exp {
            j["exp"] = exp.into();
        }
        j
    }
}

/// An invitation waiting for the visitor's answer.
#[derive(Debug, Clone)]
pub(crate) struct Invite {
    pub id: u64,
    pub agent: AgentId,
    pub text: String,
}

pub(crate) struct VisitorSession {
    pub id: SessionId,
    pub site: SiteId,
    /// The visitor's bearer token (never sent to other clients).
    pub token: String,
    /// Loaded once from the store when the session is first used.
    pub(crate) loaded: tokio::sync::OnceCell<()>,
    /// The open conversation, once there is one.
    conv: Mutex<Option<ConvInfo>>,
    /// The conversation closed last: still the visitor's own to read, so a tab that was
    /// still starting to follow it when it closed gets its `close` entry, not a refusal.
    closed: Mutex<Option<ConversationId>>,
    /// Connections of this visitor, to wake when the conversation opens; and how many
    /// times the last of them left (a grace timer acts only for the latest departure).
    conns: Mutex<(Vec<Arc<Signal>>, u64)>,
    /// Presence shown to agents.
    info: Mutex<VisitorInfo>,
    /// Invitations not yet answered, oldest first; bounded by `max_invites`.
    invites: Mutex<VecDeque<Invite>>,
}

impl VisitorSession {
    pub(crate) fn new(site: SiteId, token: String) -> VisitorSession {
        VisitorSession {
            id: SessionId::random(),
            site,
            token,
            loaded: tokio::sync::OnceCell::new(),
            conv: Mutex::new(None),
            closed: Mutex::new(None),
            conns: Mutex::new((Vec::new(), 0)),
            info: Mutex::new(VisitorInfo {
                since: now_ms(),
                page_since: now_ms(),
                visible: true,
                ..VisitorInfo::default()
            }),
            invites: Mutex::new(VecDeque::new()),
        }
    }

    pub(crate) fn info(&self) -> MutexGuard<'_, VisitorInfo> {
        self.info.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The visitor as agents see it (`docs/protocol.md` §7).
    pub(crate) fn presence_json(&self) -> serde_json::Value {
        let conv = self.conv().map(|c| c.id);
        let i = self.info();
        let mut transports: Vec<&str> = i.transports.iter().map(|t| t.as_str()).collect();
        transports.sort_unstable();
        transports.dedup();
        let user = i.user.as_ref().map(Identity::to_json);
        serde_json::json!({
            "id": self.id.0,
            "page": {"url": i.url, "title": i.title, "ref": i.referrer},
            "visible": i.visible,
            "ua": i.ua,
            "transports": transports,
            "since": i.since,
            "pages": i.pages,
            "visits": i.visits,
            "conv": conv,
            "user": user,
            "invited": i.invited,
        })
    }

    /// Queue a volatile frame on every connection of this visitor.
    pub(crate) fn push_volatile(&self, f: &Bytes) {
        for s in self.conns().0.iter() {
            s.push_volatile(f.clone());
        }
    }

    /// Remember an invitation (dropping the oldest past `max`).
    pub(crate) fn add_invite(&self, inv: Invite, max: usize) {
        let mut q = self.invites.lock().unwrap_or_else(|p| p.into_inner());
        while q.len() >= max.max(1) {
            q.pop_front();
        }
        q.push_back(inv);
    }

    /// Is an invitation waiting for the visitor's answer?
    pub(crate) fn has_invites(&self) -> bool {
        !self
            .invites
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// Take invitation `id` (answered), if it is still pending.
    pub(crate) fn take_invite(&self, id: u64) -> Option<Invite> {
        let mut q = self.invites.lock().unwrap_or_else(|p| p.into_inner());
        let i = q.iter().position(|x| x.id == id)?;
        q.remove(i)
    }

    pub(crate) fn conv(&self) -> Option<ConvInfo> {
        *self.conv.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record the open conversation; wakes the other connections if it is new.
    pub(crate) fn set_conv(&self, info: ConvInfo, except: Option<&Arc<Signal>>) {
        let changed = {
            let mut c = self.conv.lock().unwrap_or_else(|p| p.into_inner());
            let changed = c.map(|c| c.id) != Some(info.id);
            *c = Some(info);
            changed
        };
        if changed {
            for s in self.conns().0.iter() {
                if except.is_none_or(|e| !Arc::ptr_eq(e, s)) {
                    s.mark_session();
                }
            }
        }
    }

    /// Forget the open conversation `conv` (it was closed): the next message opens a new one.
    pub(crate) fn clear_conv(&self, conv: ConversationId) {
        let mut c = self.conv.lock().unwrap_or_else(|p| p.into_inner());
        if c.map(|x| x.id) == Some(conv) {
            *c = None;
            *self.closed.lock().unwrap_or_else(|p| p.into_inner()) = Some(conv);
        }
    }

    /// Is `conv` this visitor's to read: its open conversation, or the one it closed last?
    pub(crate) fn may_read(&self, conv: ConversationId) -> bool {
        self.conv().map(|c| c.id) == Some(conv)
            || *self.closed.lock().unwrap_or_else(|p| p.into_inner()) == Some(conv)
    }

    fn conns(&self) -> MutexGuard<'_, (Vec<Arc<Signal>>, u64)> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The connections of this session now.
    pub(crate) fn signals(&self) -> Vec<Arc<Signal>> {
        self.conns().0.clone()
    }

    pub(crate) fn attach(&self, s: &Arc<Signal>, kind: TransportKind) {
        self.conns().0.push(s.clone());
        self.info().transports.push(kind);
    }

    /// Detach a connection. When it was the last: `Some` of this departure's number.
    pub(crate) fn detach(&self, s: &Arc<Signal>, kind: TransportKind) -> Option<u64> {
        {
            let mut i = self.info();
            if let Some(p) = i.transports.iter().position(|t| *t == kind) {
                i.transports.remove(p);
            }
        }
        let mut c = self.conns();
        c.0.retain(|x| !Arc::ptr_eq(x, s));
        if !c.0.is_empty() {
            return None;
        }
        c.1 += 1;
        Some(c.1)
    }

    /// Has the visitor stayed away since `departure` (no connection came back since)?
    pub(crate) fn away_since(&self, departure: u64) -> bool {
        let c = self.conns();
        c.0.is_empty() && c.1 == departure
    }

    pub(crate) fn connection_count(&self) -> usize {
        self.conns().0.len()
    }
}

/// The grace periods of a visitor who left (`Hub::leave_session`), under paused time.
#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::advance;

    use crate::config::Config;
    use crate::core::testing::{settle, World};
    use crate::core::Shutdown;

    #[test]
    fn a_visitor_may_read_its_open_conversation_and_the_one_it_closed_last() {
        use super::VisitorSession;
        use crate::ids::{ConversationId, Epoch, Offset, SiteId, VisitorId};
        use crate::store::ConvInfo;
        let s = VisitorSession::new(SiteId(1), "visitor-token-0001".into());
        let info = |id| ConvInfo {
            id: ConversationId(id),
            site: SiteId(1),
            visitor: VisitorId(1),
            epoch: Epoch(1),
            head: Offset::ZERO,
        };
        assert!(!s.may_read(ConversationId(1)));
        s.set_conv(info(1), None);
        assert!(s.may_read(ConversationId(1)) && !s.may_read(ConversationId(2)));
        s.clear_conv(ConversationId(1));
        assert!(s.may_read(ConversationId(1)), "closed last: still its own");
        s.set_conv(info(2), None);
        s.clear_conv(ConversationId(2));
        assert!(s.may_read(ConversationId(2)));
        assert!(!s.may_read(ConversationId(1)), "only the one closed last");
        // Another conversation's close leaves the open one and the last closed alone.
        s.set_conv(info(3), None);
        s.clear_conv(ConversationId(9));
        assert!(s.may_read(ConversationId(3)) && s.may_read(ConversationId(2)));
    }

    fn world() -> World {
        // Heartbeats far apart: links stay alive through the long waits below.
        let config = Config {
            heartbeat_ms: 3_600_000,
            presence_grace_ms: 10_000,
            session_grace_ms: 60_000,
            ..Config::default()
        };
        World::new(config, |_, _| {})
    }

    #[tokio::test(start_paused = true)]
    async fn a_visitor_who_left_is_shown_gone_then_forgotten() {
        let w = world();
        let (_trigger, shutdown) = Shutdown::new();
        let mut agent = w.agent(&shutdown, &w.admin).await;
        let v = w.visitor(&shutdown, None).await;
        let (id, token) = (
            v.welcome["session"].as_str().unwrap().to_string(),
            v.welcome["visitor"].as_str().unwrap().to_string(),
        );
        let site = w.site.id;
        let shown = |w: &World| w.hub.presence().find_visitor(site, &id).is_some();
        let known = |w: &World| w.hub.live_session(site, &token).is_some();
        v.hang_up();
        settle().await;
        assert!(shown(&w) && known(&w), "a reload is not a departure");
        agent.written();
        advance(Duration::from_millis(9_990)).await;
        settle().await;
        assert!(shown(&w));
        advance(Duration::from_millis(20)).await;
        let leave = agent.next_type("visitor").await;
        assert_eq!(
            (leave["op"].as_str(), leave["v"]["id"].as_str()),
            (Some("leave"), Some(&*id))
        );
        assert!(
            !shown(&w) && known(&w),
            "gone from the list, its session kept"
        );
        advance(Duration::from_millis(49_970)).await;
        settle().await;
        assert!(known(&w));
        advance(Duration::from_millis(20)).await;
        settle().await;
        assert!(!known(&w), "forgotten after session_grace_ms");
    }

    #[tokio::test(start_paused = true)]
    async fn a_visitor_back_within_grace_keeps_its_session() {
        let w = world();
        let (_trigger, shutdown) = Shutdown::new();
        let v = w.visitor(&shutdown, None).await;
        let (id, token) = (
            v.welcome["session"].as_str().unwrap().to_string(),
            v.welcome["visitor"].as_str().unwrap().to_string(),
        );
        v.hang_up();
        settle().await;
        advance(Duration::from_millis(5_000)).await;
        let back = w.visitor(&shutdown, Some(&token)).await;
        assert_eq!(back.welcome["session"].as_str(), Some(&*id));
        // Long past both graces: the session the first connection left is still the one.
        advance(Duration::from_millis(120_000)).await;
        settle().await;
        let site = w.site.id;
        assert!(w.hub.presence().find_visitor(site, &id).is_some());
        let s = w.hub.live_session(site, &token).expect("kept");
        assert_eq!(s.id.0, id);
        // Once it leaves for good, both graces run again from then.
        back.hang_up();
        settle().await;
        advance(Duration::from_millis(59_990)).await;
        settle().await;
        assert!(w.hub.live_session(site, &token).is_some());
        advance(Duration::from_millis(20)).await;
        settle().await;
        assert!(w.hub.live_session(site, &token).is_none());
        assert!(w.hub.presence().find_visitor(site, &id).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn the_graces_of_a_visitor_who_came_back_and_left_again_count_from_its_last_departure() {
        let w = world();
        let (_trigger, shutdown) = Shutdown::new();
        let v = w.visitor(&shutdown, None).await;
        let (id, token) = (
            v.welcome["session"].as_str().unwrap().to_string(),
            v.welcome["visitor"].as_str().unwrap().to_string(),
        );
        let site = w.site.id;
        v.hang_up();
        settle().await;
        // Back after 5 s, gone again at 55 s: the first departure's timers (at 10 s and
        // 60 s) belong to a departure that is over.
        advance(Duration::from_millis(5_000)).await;
        let back = w.visitor(&shutdown, Some(&token)).await;
        advance(Duration::from_millis(2_000)).await;
        settle().await;
        advance(Duration::from_millis(3_000)).await;
        settle().await;
        advance(Duration::from_millis(45_000)).await;
        settle().await;
        back.hang_up();
        settle().await;
        advance(Duration::from_millis(5_010)).await;
        settle().await;
        assert!(
            w.hub.presence().find_visitor(site, &id).is_some(),
            "left 5 s ago: still shown"
        );
        advance(Duration::from_millis(5_000)).await;
        settle().await;
        assert!(w.hub.presence().find_visitor(site, &id).is_none());
        assert!(
            w.hub.live_session(site, &token).is_some(),
            "left 10 s ago: its session is kept"
        );
        advance(Duration::from_millis(49_970)).await;
        settle().await;
        assert!(w.hub.live_session(site, &token).is_some());
        advance(Duration::from_millis(40)).await;
        settle().await;
        assert!(w.hub.live_session(site, &token).is_none());
    }
}
