//! A visitor's server-side session: shared by all of its connections (tabs, transports).
//!
//! Owns: the visitor's open conversation as this process knows it, and which connections
//! to tell when that conversation is opened from one of them. Knows nothing of transports.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::time::Instant;

use super::signal::Signal;
use super::TransportKind;
use crate::ids::{AgentId, SessionId, SiteId};
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
    /// Connections of this visitor, to wake when the conversation opens.
    conns: Mutex<Vec<Arc<Signal>>>,
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
            conns: Mutex::new(Vec::new()),
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
        let mut transports: Vec<&str> = i.transports.iter().map(|t| t.name()).collect();
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
        for s in self.conns.lock().unwrap_or_else(|p| p.into_inner()).iter() {
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
            for s in self.conns.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                if except.is_none_or(|e| !Arc::ptr_eq(e, s)) {
                    s.mark_session();
                }
            }
        }
    }

    /// Forget the open conversation `conv` (it was closed): the next message opens a new one.
    pub(crate) fn clear_conv(&self, conv: crate::ids::ConversationId) {
        let mut c = self.conv.lock().unwrap_or_else(|p| p.into_inner());
        if c.map(|x| x.id) == Some(conv) {
            *c = None;
        }
    }

    pub(crate) fn attach(&self, s: &Arc<Signal>, kind: TransportKind) {
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(s.clone());
        self.info().transports.push(kind);
    }

    /// Detach a connection; returns how many remain.
    pub(crate) fn detach(&self, s: &Arc<Signal>, kind: TransportKind) -> usize {
        {
            let mut i = self.info();
            if let Some(p) = i.transports.iter().position(|t| *t == kind) {
                i.transports.remove(p);
            }
        }
        let mut c = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        c.retain(|x| !Arc::ptr_eq(x, s));
        c.len()
    }

    pub(crate) fn connection_count(&self) -> usize {
        self.conns.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}
