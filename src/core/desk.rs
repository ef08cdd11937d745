//! The help desk: which agent owns each open conversation, the queue when nobody is free,
//! transfers, closing, and re-assigning conversations left unanswered.
//!
//! Owns: the assignment rules (`docs/protocol.md` §7): available = on line, not away and
//! under `agent_capacity`; `least-busy` or `round-robin`; `join`/`transfer`/`close` entries
//! through the writer; `assigned`, `queue` and `team` frames. Decisions are made under the
//! presence lock; entries and frames go out after it is released. Ownership is kept in
//! memory: after a restart, a conversation gets an owner again when its visitor writes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::hub::Hub;
use super::presence::{AgentLink, Owner, SitePresence};
use super::session::VisitorSession;
use super::writer::AppendError;
use crate::ids::{AgentId, ConversationId, SiteId};
use crate::protocol::{Role, ServerFrame};
use crate::store::{NewEntry, Reopen};

/// Why a transfer or a reopen was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DeskError {
    #[error("that agent is not on line")]
    UnknownAgent,
    #[error("no such conversation")]
    UnknownConv,
    #[error("the conversation is open")]
    AlreadyOpen,
    #[error("its visitor has another open conversation")]
    VisitorBusy,
    #[error(transparent)]
    Failed(#[from] AppendError),
}

/// Side effects decided under the lock, carried out after it.
#[derive(Default)]
struct Effects {
    /// (conversation, kind, agent, agent name)
    entries: Vec<(ConversationId, &'static str, AgentId, String)>,
    /// Frames for agent connections.
    to_agents: Vec<(Arc<AgentLink>, Bytes)>,
    /// Frames for visitors' connections.
    to_visitors: Vec<(Arc<VisitorSession>, Bytes)>,
    /// Send `team` to every agent of the site.
    team: bool,
}

/// Agents of the site who could take one more conversation, as (id, name, load), in
/// id order.
fn candidates(sp: &SitePresence, capacity: usize) -> Vec<(AgentId, String, usize)> {
    let mut ids: Vec<(AgentId, String)> = sp
        .agents
        .iter()
        .filter(|a| !a.away.load(std::sync::atomic::Ordering::Acquire))
        .map(|a| (a.agent, a.name.clone()))
        .collect();
    ids.sort_by_key(|(id, _)| *id);
    ids.dedup_by_key(|(id, _)| *id);
    ids.into_iter()
        .map(|(id, name)| {
            let load = sp.owners.values().filter(|o| o.agent == id).count();
            (id, name, load)
        })
        .filter(|(_, _, load)| *load < capacity)
        .collect()
}

/// One agent on line, as `team` frames and `/v1/agents` show it.
pub(crate) struct Member {
    pub id: AgentId,
    pub name: String,
    /// `online`, or `away` when every connection of the agent said so.
    pub status: &'static str,
    /// Conversations the desk gave the agent.
    pub load: usize,
}

/// The site's agents on line, once each, in the order they connected.
fn team(sp: &SitePresence) -> Vec<Member> {
    let mut out: Vec<Member> = Vec::new();
    for a in &sp.agents {
        if out.iter().any(|m| m.id == a.agent) {
            continue;
        }
        let away = sp
            .agents
            .iter()
            .filter(|x| x.agent == a.agent)
            .all(|x| x.away.load(std::sync::atomic::Ordering::Acquire));
        out.push(Member {
            id: a.agent,
            name: a.name.clone(),
            status: if away { "away" } else { "online" },
            load: sp.owners.values().filter(|o| o.agent == a.agent).count(),
        });
    }
    out
}

impl Hub {
    /// The site's agents on line now.
    pub(crate) fn team(&self, site: SiteId) -> Vec<Member> {
        self.presence()
            .lock()
            .get(&site)
            .map(team)
            .unwrap_or_default()
    }

    fn pick(
        &self,
        sp: &mut SitePresence,
        exclude: Option<AgentId>,
        prefer: Option<AgentId>,
    ) -> Option<(AgentId, String)> {
        let c = self.config();
        let mut list = candidates(sp, c.agent_capacity);
        list.retain(|(id, _, _)| Some(*id) != exclude);
        if let Some(p) = prefer.and_then(|p| list.iter().find(|(id, _, _)| *id == p)) {
            return Some((p.0, p.1.clone()));
        }
        if list.is_empty() {
            return None;
        }
        let chosen = if c.assignment == "round-robin" {
            sp.turn = sp.turn.wrapping_add(1);
            &list[sp.turn % list.len()]
        } else {
            list.iter()
                .min_by_key(|(id, _, load)| (*load, *id))
                .expect("not empty")
        };
        Some((chosen.0, chosen.1.clone()))
    }

    /// Give `conv` to `agent` (under the lock), recording what must follow.
    fn give(
        sp: &mut SitePresence,
        fx: &mut Effects,
        conv: ConversationId,
        session: Arc<VisitorSession>,
        (agent, name): (AgentId, String),
        kind: &'static str,
    ) {
        sp.owners.insert(
            conv,
            Owner {
                agent,
                session: session.clone(),
                since: Instant::now(),
                answered: false,
            },
        );
        let assigned = ServerFrame::Assigned {
            conv,
            visitor: &session.id.0,
        }
        .to_bytes();
        for a in sp.agents.iter().filter(|a| a.agent == agent) {
            fx.to_agents.push((a.clone(), assigned.clone()));
        }
        fx.entries.push((conv, kind, agent, name));
        fx.team = true;
    }

    /// Tell every queued visitor its position.
    fn positions(sp: &SitePresence, fx: &mut Effects) {
        for (i, (conv, s)) in sp.queue.iter().enumerate() {
            fx.to_visitors.push((
                s.clone(),
                ServerFrame::Queue {
                    conv: *conv,
                    position: i + 1,
                }
                .to_bytes(),
            ));
        }
    }

    /// Assign queued conversations while agents are available.
    fn drain_queue(&self, sp: &mut SitePresence, fx: &mut Effects) {
        let mut moved = false;
        while let Some((conv, s)) = sp.queue.front().cloned() {
            let Some(who) = self.pick(sp, None, None) else {
                break;
            };
            sp.queue.pop_front();
            fx.to_visitors.push((
                s.clone(),
                ServerFrame::Queue { conv, position: 0 }.to_bytes(),
            ));
            Self::give(sp, fx, conv, s, who, "join");
            moved = true;
        }
        if moved {
            Self::positions(sp, fx);
        }
    }

    fn with_site(&self, site: SiteId, f: impl FnOnce(&Hub, &mut SitePresence, &mut Effects)) {
        let mut fx = Effects::default();
        let team = {
            let mut sites = self.presence().lock();
            let sp = sites.entry(site).or_default();
            f(self, sp, &mut fx);
            if fx.team {
                let list = serde_json::Value::Array(
                    team(sp)
                        .into_iter()
                        .map(|m| {
                            serde_json::json!({
                                "id": m.id, "name": m.name, "status": m.status, "load": m.load,
                            })
                        })
                        .collect(),
                );
                let f = ServerFrame::Team { agents: &list }.to_bytes();
                sp.agents
                    .iter()
                    .map(|a| (a.clone(), f.clone()))
                    .collect::<Vec<_>>()
            } else {
                Vec::new()
            }
        };
        for (conv, kind, agent, name) in fx.entries {
            let cid = format!("{kind}:{}", self.next_invite_id());
            let entry = NewEntry::now(conv, kind, Role::Agent, format!("a{agent}"), cid, name);
            if let Err(e) = self.writer().append(entry) {
                tracing::warn!(error = %e, conv = %conv, kind, "desk entry refused");
            }
        }
        for (a, f) in fx.to_agents.into_iter().chain(team) {
            a.sig.push_volatile(f);
        }
        for (s, f) in fx.to_visitors {
            s.push_volatile(&f);
        }
    }

    /// A visitor wrote in `conv` (or accepted an invitation from `prefer`): make sure an
    /// agent owns it, or that it waits in the queue.
    pub(crate) fn ensure_owner(
        &self,
        site: SiteId,
        conv: ConversationId,
        session: &Arc<VisitorSession>,
        prefer: Option<AgentId>,
    ) {
        let mut new = false;
        self.with_site(site, |hub, sp, fx| {
            if let Some(o) = sp.owners.get(&conv) {
                let owner = o.agent;
                if sp.agents.iter().any(|a| a.agent == owner) {
                    return;
                }
                // The owner is gone: find someone else (or queue).
                sp.owners.remove(&conv);
            }
            if sp.queue.iter().any(|(c, _)| *c == conv) {
                return;
            }
            new = true;
            match hub.pick(sp, None, prefer) {
                Some(who) => Self::give(sp, fx, conv, session.clone(), who, "join"),
                None => {
                    // Only the newcomer's position is news; the others did not move.
                    sp.queue.push_back((conv, session.clone()));
                    let position = sp.queue.len();
                    fx.to_visitors.push((
                        session.clone(),
                        ServerFrame::Queue { conv, position }.to_bytes(),
                    ));
                }
            }
        });
        if new {
            // Every agent sees the visitor now has a conversation (assigned or waiting).
            self.presence().visitor_changed(session);
        }
    }

    /// The agent an invitation to a visitor of `site` would come from now: the one with
    /// the fewest conversations among those who could take one more.
    pub(crate) fn inviter(&self, site: SiteId) -> Option<(AgentId, String)> {
        let sites = self.presence().lock();
        let sp = sites.get(&site)?;
        candidates(sp, self.config().agent_capacity)
            .into_iter()
            .min_by_key(|(id, _, load)| (*load, *id))
            .map(|(id, name, _)| (id, name))
    }

    /// The agent owning `conv`, if any (kept in memory).
    pub(crate) fn owner_of(&self, site: SiteId, conv: ConversationId) -> Option<AgentId> {
        self.presence()
            .lock()
            .get(&site)?
            .owners
            .get(&conv)
            .map(|o| o.agent)
    }

    /// Is `conv` waiting in the queue?
    pub(crate) fn is_queued(&self, site: SiteId, conv: ConversationId) -> bool {
        self.presence()
            .lock()
            .get(&site)
            .is_some_and(|sp| sp.queue.iter().any(|(c, _)| *c == conv))
    }

    /// Agent `agent` wrote in `conv`: it answered (and owns it if nobody did).
    pub(crate) fn answered(&self, site: SiteId, conv: ConversationId, agent: AgentId) {
        let mut sites = self.presence().lock();
        let Some(sp) = sites.get_mut(&site) else {
            return;
        };
        if let Some(o) = sp.owners.get_mut(&conv) {
            if o.agent == agent {
                o.answered = true;
            }
        }
    }

    /// Agents came, left or changed availability: serve the queue, refresh `team`.
    pub(crate) fn desk_changed(&self, site: SiteId) {
        self.with_site(site, |hub, sp, fx| {
            hub.drain_queue(sp, fx);
            fx.team = true;
        });
    }

    /// `transfer`: give `conv` to agent `to`.
    pub(crate) fn transfer(
        &self,
        site: SiteId,
        conv: ConversationId,
        to: AgentId,
    ) -> Result<(), DeskError> {
        let mut result = Ok(());
        self.with_site(site, |_, sp, fx| {
            let Some(link) = sp.agents.iter().find(|a| a.agent == to).cloned() else {
                result = Err(DeskError::UnknownAgent);
                return;
            };
            let session = match sp.owners.remove(&conv) {
                Some(o) => o.session,
                None => match sp
                    .visitors
                    .values()
                    .find(|s| s.conv().map(|c| c.id) == Some(conv))
                {
                    Some(s) => s.clone(),
                    None => {
                        // Its visitor is gone; the conversation still moves.
                        let s = Arc::new(VisitorSession::new(site, String::new()));
                        sp.queue.retain(|(c, _)| *c != conv);
                        s
                    }
                },
            };
            sp.queue.retain(|(c, _)| *c != conv);
            Self::give(sp, fx, conv, session, (to, link.name.clone()), "transfer");
        });
        result
    }

    /// `close`: nobody owns `conv` any more; its visitor's next message opens a new one.
    pub(crate) fn close_conversation(
        &self,
        site: SiteId,
        conv: ConversationId,
        by: AgentId,
        name: String,
    ) {
        self.with_site(site, |hub, sp, fx| {
            let session = sp.owners.remove(&conv).map(|o| o.session).or_else(|| {
                sp.visitors
                    .values()
                    .find(|s| s.conv().map(|c| c.id) == Some(conv))
                    .cloned()
            });
            sp.queue.retain(|(c, _)| *c != conv);
            if let Some(s) = session {
                s.clear_conv(conv);
            }
            fx.entries.push((conv, "close", by, name));
            hub.drain_queue(sp, fx);
            fx.team = true;
        });
        self.writer().close_conversation(conv);
    }

    /// `reopen`: `conv` (closed) is open again, its visitor's, and owned by `agent`.
    pub(crate) async fn reopen(
        &self,
        site: SiteId,
        conv: ConversationId,
        agent: (AgentId, String),
    ) -> Result<(), DeskError> {
        let (info, token) = match self.writer().reopen(conv).await? {
            Reopen::Reopened { info, token } => (info, token),
            Reopen::NotFound => return Err(DeskError::UnknownConv),
            Reopen::AlreadyOpen => return Err(DeskError::AlreadyOpen),
            Reopen::VisitorBusy => return Err(DeskError::VisitorBusy),
        };
        // The visitor's tabs, if any, get `conv` and follow it again.
        let live = self.live_session(site, &token);
        if let Some(s) = &live {
            s.set_conv(info, None);
        }
        let session = live
            .clone()
            .unwrap_or_else(|| Arc::new(VisitorSession::new(site, token)));
        self.with_site(site, |_, sp, fx| {
            sp.queue.retain(|(c, _)| *c != conv);
            Self::give(sp, fx, conv, session, agent, "reopen");
        });
        if let Some(s) = live.filter(|s| s.connection_count() > 0) {
            self.presence().visitor_changed(&s);
        }
        Ok(())
    }

    /// Re-assign conversations left unanswered for `reassign_after_ms`.
    pub(crate) fn reassign_stale(&self) {
        let after = Duration::from_millis(self.config().reassign_after_ms);
        let sites: Vec<SiteId> = self.presence().lock().keys().copied().collect();
        for site in sites {
            self.with_site(site, |hub, sp, fx| {
                let stale: Vec<(ConversationId, AgentId)> = sp
                    .owners
                    .iter()
                    .filter(|(_, o)| !o.answered && o.since.elapsed() >= after)
                    .map(|(c, o)| (*c, o.agent))
                    .collect();
                for (conv, current) in stale {
                    if let Some(who) = hub.pick(sp, Some(current), None) {
                        let o = sp.owners.remove(&conv).expect("listed above");
                        Self::give(sp, fx, conv, o.session, who, "transfer");
                    } else if let Some(o) = sp.owners.get_mut(&conv) {
                        // Nobody else is free: try again after another period.
                        o.since = Instant::now();
                    }
                }
            });
        }
    }
}
