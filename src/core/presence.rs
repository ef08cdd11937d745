//! Who is on each site right now: visitors (and where they are) and agents.
//!
//! Owns: the per-site sets of online visitor sessions and agent connections, the JSON
//! agents see for a visitor, and fanning volatile presence frames out — visitor changes
//! to the site's agents, agent availability to the site's visitors. Nothing here is ever
//! stored: a visitor reaches the database only once it has a conversation.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::session::VisitorSession;
use super::signal::Signal;
use crate::ids::{AgentId, ConversationId, SiteId};
use crate::protocol::ServerFrame;

/// One agent connection.
pub(crate) struct AgentLink {
    pub agent: AgentId,
    pub name: String,
    pub sig: Arc<Signal>,
    /// The agent said it is away (`presence`).
    pub(super) away: AtomicBool,
}

impl AgentLink {
    pub(crate) fn new(agent: AgentId, name: String, sig: Arc<Signal>) -> AgentLink {
        AgentLink {
            agent,
            name,
            sig,
            away: AtomicBool::new(false),
        }
    }
}

#[derive(Default)]
pub(super) struct SitePresence {
    /// Online visitor sessions by session id.
    pub(super) visitors: HashMap<String, Arc<VisitorSession>>,
    /// Agent connections (an agent with two tabs has two).
    pub(super) agents: Vec<Arc<AgentLink>>,
    /// Who owns each assigned open conversation (`desk`).
    pub(super) owners: HashMap<ConversationId, Owner>,
    /// Conversations waiting for an agent, oldest first, with their visitor's token.
    pub(super) queue: VecDeque<(ConversationId, String)>,
    /// Round-robin position.
    pub(super) turn: usize,
}

/// The agent a conversation is assigned to.
pub(super) struct Owner {
    pub(super) agent: AgentId,
    /// The conversation's visitor (its session, when on line, is found by this token).
    pub(super) token: String,
    /// When it was given (or last found nobody else free): re-assignment counts from it.
    pub(super) since: tokio::time::Instant,
    /// The agent has written in the conversation since it was assigned.
    pub(super) answered: bool,
}

impl SitePresence {
    pub(super) fn available(&self) -> bool {
        self.agents.iter().any(|a| !a.away.load(Ordering::Acquire))
    }

    /// Open conversations the desk gave `agent`.
    pub(super) fn load(&self, agent: AgentId) -> usize {
        self.owners.values().filter(|o| o.agent == agent).count()
    }

    /// The online session of the visitor with this token.
    pub(super) fn session_of(&self, token: &str) -> Option<Arc<VisitorSession>> {
        if token.is_empty() {
            return None;
        }
        self.visitors.values().find(|s| s.token == token).cloned()
    }

    /// Nothing left to remember for the site.
    fn is_empty(&self) -> bool {
        self.visitors.is_empty()
            && self.agents.is_empty()
            && self.owners.is_empty()
            && self.queue.is_empty()
    }
}

#[derive(Default)]
pub(crate) struct Presence {
    sites: Mutex<HashMap<SiteId, SitePresence>>,
}

impl Presence {
    pub(super) fn lock(&self) -> MutexGuard<'_, HashMap<SiteId, SitePresence>> {
        self.sites.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A visitor is online (a first connection) or changed (a page view): tell agents.
    pub(crate) fn visitor_changed(&self, s: &Arc<VisitorSession>) {
        let v = s.presence_json();
        let agents = {
            let mut sites = self.lock();
            let site = sites.entry(s.site).or_default();
            let new = site.visitors.insert(s.id.0.clone(), s.clone()).is_none();
            let f = ServerFrame::Visitor {
                op: if new { "join" } else { "update" },
                v: &v,
            }
            .to_bytes();
            site.agents
                .iter()
                .map(|a| (a.sig.clone(), f.clone()))
                .collect::<Vec<_>>()
        };
        for (sig, f) in agents {
            sig.push_volatile(f);
        }
    }

    /// A visitor left (no connection for `presence_grace_ms`): tell agents.
    pub(crate) fn visitor_gone(&self, s: &Arc<VisitorSession>) {
        let agents = {
            let mut sites = self.lock();
            let Some(site) = sites.get_mut(&s.site) else {
                return;
            };
            if site.visitors.remove(&s.id.0).is_none() {
                return;
            }
            let v = serde_json::json!({ "id": s.id.0 });
            let f = ServerFrame::Visitor { op: "leave", v: &v }.to_bytes();
            let out: Vec<_> = site
                .agents
                .iter()
                .map(|a| (a.sig.clone(), f.clone()))
                .collect();
            if site.is_empty() {
                sites.remove(&s.site);
            }
            out
        };
        for (sig, f) in agents {
            sig.push_volatile(f);
        }
    }

    pub(crate) fn find_visitor(&self, site: SiteId, id: &str) -> Option<Arc<VisitorSession>> {
        self.lock().get(&site)?.visitors.get(id).cloned()
    }

    /// Every online visitor of `site`, as agents see them.
    pub(crate) fn snapshot(&self, site: SiteId) -> serde_json::Value {
        let sessions = self.visitors(site);
        serde_json::Value::Array(sessions.iter().map(|s| s.presence_json()).collect())
    }

    /// Sites with a visitor on line and an agent available.
    pub(crate) fn sites_with_visitors_and_agents(&self) -> Vec<SiteId> {
        self.lock()
            .iter()
            .filter(|(_, sp)| !sp.visitors.is_empty() && sp.available())
            .map(|(site, _)| *site)
            .collect()
    }

    /// The online visitors of `site`.
    pub(crate) fn visitors(&self, site: SiteId) -> Vec<Arc<VisitorSession>> {
        self.lock()
            .get(&site)
            .map(|sp| sp.visitors.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Is any agent of `site` online and not away?
    pub(crate) fn agents_available(&self, site: SiteId) -> bool {
        self.lock().get(&site).is_some_and(SitePresence::available)
    }

    /// Change the agents of `site` under the lock; if availability flipped, tell every
    /// online visitor's connections.
    fn with_agents(&self, site: SiteId, f: impl FnOnce(&mut SitePresence)) {
        let notify = {
            let mut sites = self.lock();
            let sp = sites.entry(site).or_default();
            let before = sp.available();
            f(sp);
            let after = sp.available();
            let visitors: Vec<Arc<VisitorSession>> = if before != after {
                sp.visitors.values().cloned().collect()
            } else {
                Vec::new()
            };
            if sp.is_empty() {
                sites.remove(&site);
            }
            (after, visitors)
        };
        let (online, visitors) = notify;
        if visitors.is_empty() {
            return;
        }
        let f = ServerFrame::Agents { online }.to_bytes();
        for v in visitors {
            v.push_volatile(&f);
        }
    }

    pub(crate) fn agent_joined(&self, site: SiteId, link: &Arc<AgentLink>) {
        let link = link.clone();
        self.with_agents(site, |sp| sp.agents.push(link));
    }

    pub(crate) fn agent_left(&self, site: SiteId, link: &Arc<AgentLink>) {
        self.with_agents(site, |sp| sp.agents.retain(|a| !Arc::ptr_eq(a, link)));
    }

    pub(crate) fn set_away(&self, site: SiteId, link: &Arc<AgentLink>, away: bool) {
        self.with_agents(site, |_| link.away.store(away, Ordering::Release));
    }
}
