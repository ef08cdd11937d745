//! The help desk: which agent owns each open conversation, the queue when nobody is free,
//! claiming, transfers, closing (by an agent, or when a conversation has been idle), and
//! re-assigning conversations left unanswered.
//!
//! Owns: the assignment rules (`docs/protocol.md` §7): available = on line, not away and
//! under `agent_capacity`; `least-busy` or `round-robin`; `join`/`transfer`/`close`/
//! `reopen` entries through the writer; `assigned`, `queue` and `team` frames. Decisions
//! are made under the presence lock; entries and frames go out after it is released.
//! Ownership is the log's: every change is a durable entry, the store keeps each open
//! conversation's owner in step with it, and a start restores the desk from there
//! (`restore`), so owners, the queue and every agent's load survive a restart. The hub's
//! ticker runs `reassign_stale` and `close_idle`; how long an owner has held a
//! conversation is measured on the runtime's clock (`tokio::time`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::hub::Hub;
use super::presence::{AgentLink, Owner, SitePresence};
use super::session::VisitorSession;
use super::writer::AppendError;
use crate::config::Assignment;
use crate::ids::{AgentId, ConversationId, SiteId};
use crate::protocol::ServerFrame;
use crate::store::{Author, Cid, ConvRef, DeskConv, NewEntry, Reopen};
use crate::vocab::EntryKind;

/// Idle conversations looked at per query, and queries per sweep (at most 10,000 a sweep).
const IDLE_PAGE: usize = 500;
const IDLE_PAGES: usize = 20;
/// Above this many sites served, a sweep asks for every site's and skips the others.
const IDLE_SITES_PER_QUERY: usize = 1000;

/// Why a desk action was refused.
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
    #[error("another agent owns the conversation: ask for a transfer")]
    Owned,
    #[error("the conversation is not waiting for an agent (it is closed)")]
    NotWaiting,
    #[error(transparent)]
    Failed(#[from] AppendError),
}

/// Side effects decided under the lock, carried out after it.
#[derive(Default)]
struct Effects {
    /// (conversation, kind, author, body)
    entries: Vec<(ConversationId, EntryKind, Author, String)>,
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
            let load = sp.load(id);
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
            load: sp.load(a.agent),
        });
    }
    out
}

/// The visitor token of `conv` as the desk knows it: its owner's record, its place in the
/// queue, or the online visitor whose conversation it is.
fn token_of(sp: &SitePresence, conv: ConversationId) -> Option<String> {
    if let Some(o) = sp.owners.get(&conv) {
        return Some(o.token.clone());
    }
    if let Some((_, t)) = sp.queue.iter().find(|(c, _)| *c == conv) {
        return Some(t.clone());
    }
    sp.visitors
        .values()
        .find(|s| s.conv().map(|c| c.id) == Some(conv))
        .map(|s| s.token.clone())
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

    /// The desk as the log left it: every open conversation goes back to its owner, or
    /// to the queue (oldest first) when it has none. Called once, before serving.
    pub(crate) fn restore_desk(&self, convs: Vec<DeskConv>) {
        let mut sites = self.presence().lock();
        for c in convs {
            let sp = sites.entry(c.site).or_default();
            match c.owner {
                Some(agent) => {
                    sp.owners.insert(
                        c.id,
                        Owner {
                            agent,
                            token: c.token,
                            since: Instant::now(),
                            answered: c.answered,
                        },
                    );
                }
                None => sp.queue.push_back((c.id, c.token)),
            }
        }
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
        let chosen = if c.assignment == Assignment::RoundRobin {
            sp.turn = sp.turn.wrapping_add(1);
            &list[sp.turn % list.len()]
        } else {
            list.iter()
                .min_by_key(|(id, _, load)| (*load, *id))
                .expect("not empty")
        };
        Some((chosen.0, chosen.1.clone()))
    }

    /// Give `conv` (of visitor `token`) to `agent` (under the lock), recording what must
    /// follow: the durable entry of `kind`, `assigned` to the agent, `team` to everyone.
    fn give(
        sp: &mut SitePresence,
        fx: &mut Effects,
        conv: ConversationId,
        token: String,
        (agent, name): (AgentId, String),
        kind: EntryKind,
    ) {
        let visitor = sp.session_of(&token).map(|s| s.id.0.clone());
        sp.queue.retain(|(c, _)| *c != conv);
        sp.owners.insert(
            conv,
            Owner {
                agent,
                token,
                since: Instant::now(),
                answered: false,
            },
        );
        let assigned = ServerFrame::Assigned {
            conv,
            visitor: visitor.as_deref().unwrap_or(""),
        }
        .to_bytes();
        for a in sp.agents.iter().filter(|a| a.agent == agent) {
            fx.to_agents.push((a.clone(), assigned.clone()));
        }
        fx.entries.push((conv, kind, Author::Agent(agent), name));
        fx.team = true;
    }

    /// Tell every queued visitor that is on line its position.
    fn positions(sp: &SitePresence, fx: &mut Effects) {
        for (i, (conv, token)) in sp.queue.iter().enumerate() {
            if let Some(s) = sp.session_of(token) {
                let f = ServerFrame::Queue {
                    conv: *conv,
                    position: i + 1,
                };
                fx.to_visitors.push((s, f.to_bytes()));
            }
        }
    }

    /// Assign queued conversations while agents are available.
    fn drain_queue(&self, sp: &mut SitePresence, fx: &mut Effects) {
        let mut moved = false;
        while let Some((conv, token)) = sp.queue.front().cloned() {
            let Some(who) = self.pick(sp, None, None) else {
                break;
            };
            sp.queue.pop_front();
            if let Some(s) = sp.session_of(&token) {
                fx.to_visitors
                    .push((s, ServerFrame::Queue { conv, position: 0 }.to_bytes()));
            }
            Self::give(sp, fx, conv, token, who, EntryKind::Join);
            moved = true;
        }
        if moved {
            Self::positions(sp, fx);
        }
    }

    fn with_site<R>(
        &self,
        site: SiteId,
        f: impl FnOnce(&Hub, &mut SitePresence, &mut Effects) -> R,
    ) -> R {
        let mut fx = Effects::default();
        let (r, team) = {
            let mut sites = self.presence().lock();
            let sp = sites.entry(site).or_default();
            let r = f(self, sp, &mut fx);
            let team = if fx.team {
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
            };
            (r, team)
        };
        for (conv, kind, author, body) in fx.entries {
            let entry = NewEntry::now(
                ConvRef::Id(conv),
                kind,
                author,
                Cid::Made(kind.as_str()),
                body,
            );
            if let Err(e) = self.writer().append(entry) {
                tracing::warn!(error = %e, conv = %conv, kind = kind.as_str(), "desk entry refused");
            }
        }
        for (a, f) in fx.to_agents.into_iter().chain(team) {
            a.sig.push_volatile(f);
        }
        for (s, f) in fx.to_visitors {
            s.push_volatile(&f);
        }
        r
    }

    /// A visitor's message in `conv` was committed (or it accepted an invitation from
    /// `prefer`): make sure an agent owns it, or that it waits in the queue.
    pub(crate) fn ensure_owner(
        &self,
        site: SiteId,
        conv: ConversationId,
        session: &Arc<VisitorSession>,
        prefer: Option<AgentId>,
    ) {
        let new = self.with_site(site, |hub, sp, fx| {
            if let Some(o) = sp.owners.get(&conv) {
                let owner = o.agent;
                if sp.agents.iter().any(|a| a.agent == owner) {
                    return false;
                }
                // The owner is gone: find someone else (or queue).
                sp.owners.remove(&conv);
            }
            if sp.queue.iter().any(|(c, _)| *c == conv) {
                return false;
            }
            match hub.pick(sp, None, prefer) {
                Some(who) => Self::give(sp, fx, conv, session.token.clone(), who, EntryKind::Join),
                None => {
                    // Only the newcomer's position is news; the others did not move.
                    sp.queue.push_back((conv, session.token.clone()));
                    let position = sp.queue.len();
                    fx.to_visitors.push((
                        session.clone(),
                        ServerFrame::Queue { conv, position }.to_bytes(),
                    ));
                }
            }
            true
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

    /// The agent owning `conv`, if any.
    pub(crate) fn owner_of(&self, site: SiteId, conv: ConversationId) -> Option<AgentId> {
        self.presence()
            .lock()
            .get(&site)?
            .owners
            .get(&conv)
            .map(|o| o.agent)
    }

    /// Where `conv` waits in the queue (1 = next), if it does.
    pub(crate) fn queue_position(&self, site: SiteId, conv: ConversationId) -> Option<usize> {
        self.presence()
            .lock()
            .get(&site)?
            .queue
            .iter()
            .position(|(c, _)| *c == conv)
            .map(|i| i + 1)
    }

    /// Agent `agent` wrote in `conv`: it answered.
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

    /// Agent `agent` takes `conv` (the console's Take, or a reply to a conversation
    /// nobody owns): a `join` entry, before anything the agent writes next. Taking a
    /// conversation one already owns does nothing; another agent's is refused.
    pub(crate) fn claim(
        &self,
        site: SiteId,
        conv: ConversationId,
        (agent, name): (AgentId, String),
    ) -> Result<(), DeskError> {
        self.with_site(site, |_, sp, fx| {
            match sp.owners.get(&conv) {
                Some(o) if o.agent == agent => return Ok(()),
                Some(o) if sp.agents.iter().any(|a| a.agent == o.agent) => {
                    return Err(DeskError::Owned)
                }
                // Its owner is off line: anyone may take it.
                Some(_) => {}
                None if sp.queue.iter().any(|(c, _)| *c == conv) => {}
                None => return Err(DeskError::NotWaiting),
            }
            let token = token_of(sp, conv).unwrap_or_default();
            let was_queued = sp.queue.iter().any(|(c, _)| *c == conv);
            if let Some(s) = sp.session_of(&token) {
                fx.to_visitors
                    .push((s, ServerFrame::Queue { conv, position: 0 }.to_bytes()));
            }
            Self::give(sp, fx, conv, token, (agent, name), EntryKind::Join);
            sp.owners.get_mut(&conv).expect("just given").answered = true;
            if was_queued {
                Self::positions(sp, fx);
            }
            Ok(())
        })
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
        self.with_site(site, |_, sp, fx| {
            let Some(link) = sp.agents.iter().find(|a| a.agent == to).cloned() else {
                return Err(DeskError::UnknownAgent);
            };
            // A conversation whose visitor is gone still moves.
            let token = token_of(sp, conv).unwrap_or_default();
            Self::give(
                sp,
                fx,
                conv,
                token,
                (to, link.name.clone()),
                EntryKind::Transfer,
            );
            Ok(())
        })
    }

    /// `close`: nobody owns `conv` any more; its visitor's next message opens a new one.
    /// `by` is the agent who closed it (`body` its name), or kefu for an idle one.
    pub(crate) fn close_conversation(
        &self,
        site: SiteId,
        conv: ConversationId,
        by: Author,
        body: String,
    ) {
        self.with_site(site, |hub, sp, fx| {
            let token = token_of(sp, conv);
            sp.owners.remove(&conv);
            sp.queue.retain(|(c, _)| *c != conv);
            if let Some(s) = token.and_then(|t| sp.session_of(&t)) {
                s.clear_conv(conv);
            }
            fx.entries.push((conv, EntryKind::Close, by, body));
            hub.drain_queue(sp, fx);
            fx.team = true;
        });
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
        self.with_site(site, |_, sp, fx| {
            Self::give(sp, fx, conv, token, agent, EntryKind::Reopen);
        });
        if let Some(s) = live.filter(|s| s.connection_count() > 0) {
            self.presence().visitor_changed(&s);
        }
        Ok(())
    }

    /// Agent `agent` of `site` was removed: its connections end, and each conversation
    /// it owned goes to another available agent (a `transfer` entry), or, when nobody is
    /// free, to the front of the queue, where the next agent to come takes it. (The log
    /// still names the removed agent as the owner of a queued one until someone takes it;
    /// after a restart it is an off-line owner's, which any agent may take and which the
    /// visitor's next message hands on.)
    pub(crate) fn agent_removed(&self, site: SiteId, agent: AgentId) {
        let links: Vec<Arc<AgentLink>> = self
            .presence()
            .lock()
            .get(&site)
            .map(|sp| {
                sp.agents
                    .iter()
                    .filter(|a| a.agent == agent)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for link in &links {
            link.sig.mark_revoked();
            // Off the desk now (visitors learn if nobody is left on line), not when the
            // connection's task gets to its end.
            self.presence().agent_left(site, link);
        }
        self.with_site(site, |hub, sp, fx| {
            let mut owned: Vec<ConversationId> = sp
                .owners
                .iter()
                .filter(|(_, o)| o.agent == agent)
                .map(|(c, _)| *c)
                .collect();
            owned.sort_unstable();
            let mut queued = false;
            for conv in owned.into_iter().rev() {
                let token = sp.owners.remove(&conv).map(|o| o.token).unwrap_or_default();
                match hub.pick(sp, Some(agent), None) {
                    Some(who) => Self::give(sp, fx, conv, token, who, EntryKind::Transfer),
                    None => {
                        sp.queue.push_front((conv, token));
                        queued = true;
                    }
                }
            }
            if queued {
                Self::positions(sp, fx);
            }
            fx.team = true;
        });
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
                        let token = sp.owners[&conv].token.clone();
                        Self::give(sp, fx, conv, token, who, EntryKind::Transfer);
                    } else if let Some(o) = sp.owners.get_mut(&conv) {
                        // Nobody else is free: try again after another period.
                        o.since = Instant::now();
                    }
                }
            });
        }
    }

    /// Close the conversations that saw no entry for `idle_close_ms` and whose visitor is
    /// not on line (a `close` entry by kefu), so forgotten chats do not fill agents'
    /// capacity. Returns how many were closed.
    pub(crate) async fn close_idle(&self) -> usize {
        let idle = self.config().idle_close_ms;
        if idle == 0 {
            return 0;
        }
        let before = crate::store::now_ms() - idle as i64;
        // A node of a cluster looks at the sites it serves only (a node serving very many
        // at once asks for all and skips the others).
        let sites: Option<Arc<Vec<SiteId>>> = self.cluster().and_then(|c| {
            let held: Vec<SiteId> = c.held().sites().into_iter().map(|(s, _)| s).collect();
            (held.len() <= IDLE_SITES_PER_QUERY).then(|| Arc::new(held))
        });
        if sites.as_ref().is_some_and(|s| s.is_empty()) {
            return 0;
        }
        let mut closed = 0;
        let mut after = ConversationId(0);
        // Page by id, so conversations skipped (their visitor is here) hide none behind.
        for _ in 0..IDLE_PAGES {
            let which = sites.clone();
            let page = match self
                .blocking(move |s| {
                    s.idle_conversations(
                        before,
                        which.as_deref().map(Vec::as_slice),
                        after,
                        IDLE_PAGE,
                    )
                })
                .await
            {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = %e, "idle conversations unavailable");
                    return closed;
                }
            };
            for c in &page {
                if !self.serves(c.site) {
                    continue;
                }
                let here = self
                    .live_session(c.site, &c.token)
                    .is_some_and(|s| s.connection_count() > 0);
                if here {
                    continue;
                }
                tracing::info!(conv = %c.id, site = %c.site, "closing an idle conversation");
                self.close_conversation(c.site, c.id, Author::System, String::new());
                closed += 1;
            }
            match page.last() {
                Some(last) if page.len() == IDLE_PAGE => after = last.id,
                _ => break,
            }
        }
        closed
    }
}

#[cfg(test)]
mod tests;
