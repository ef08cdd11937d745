//! A store in memory: the same service traits and the same semantics as the SQL backends,
//! nothing on disk. For testing core logic without a database, and for trials
//! (`database_url = "memory://"`): everything is gone when the process ends.
//!
//! Owns: its tables (plain maps behind one mutex, so every call is one transaction) and
//! their rules, which mirror the SQL schema's: ids counted from 1 and never reused,
//! unique keys (`Conflict`), references to rows that must exist (`Invalid`). Appends
//! apply the rule every backend shares (`store::batch`), recording the webhook
//! deliveries of what they store in the same call; `directory` holds the sites, agents,
//! tokens and settings, `webhooks` the webhooks and their deliveries. Knows nothing of
//! SQL, transports or the wire.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

mod cluster;
mod directory;
mod webhooks;

use super::batch::{self, Change, Conv, Loaded, Opener, Stored, Wanted};
use super::{
    Agent, Appended, Canned, ConvFilter, ConvInfo, ConvRef, ConvSummary, DeletedVisitor, Delivery,
    DeskConv, Entry, Fence, InviteRule, Lease, Log, NewEntry, Node, Reopen, Search, Site,
    StoreError, StoreResult, Webhook,
};
use crate::ids::{AgentId, ConversationId, Epoch, Offset, SiteId, VisitorId};
use crate::vocab::{EntryKind, Role, Sender};

/// The in-memory store.
#[derive(Default)]
pub(crate) struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    sites: BTreeMap<SiteId, Site>,
    /// Agents with their password hashes.
    agents: BTreeMap<AgentId, (Agent, String)>,
    tokens: HashMap<String, Token>,
    /// (site, token) → visitor, and back.
    visitors: HashMap<(SiteId, String), VisitorId>,
    tokens_of: HashMap<VisitorId, String>,
    convs: BTreeMap<ConversationId, ConvRec>,
    /// Conversations of each visitor, oldest first.
    convs_of: HashMap<VisitorId, Vec<ConversationId>>,
    /// Cid → every stored entry with it.
    cids: HashMap<String, Vec<Stored>>,
    canned: BTreeMap<i64, (SiteId, Canned)>,
    rules: BTreeMap<i64, InviteRule>,
    /// The cluster's tables (`cluster`).
    nodes: BTreeMap<String, Node>,
    leases: BTreeMap<SiteId, Lease>,
    /// The webhooks (their `pending` and `next_at` counted when read) and the outbox of
    /// their deliveries (`webhooks`).
    webhooks: BTreeMap<i64, Webhook>,
    deliveries: BTreeMap<i64, Delivery>,
    /// The last id given, per table.
    last: Ids,
}

#[derive(Default, Clone, Copy)]
struct Ids {
    site: i64,
    agent: i64,
    visitor: i64,
    conv: i64,
    canned: i64,
    rule: i64,
    webhook: i64,
    delivery: i64,
}

struct Token {
    agent: AgentId,
    expires_at: i64,
    revoked: bool,
}

struct ConvRec {
    site: SiteId,
    visitor: VisitorId,
    epoch: Epoch,
    open: bool,
    created_at: i64,
    /// The owner, and the offset of the entry that made it the owner.
    owner: Option<(AgentId, Offset)>,
    /// Entry `n` is at index `n - 1`.
    log: Vec<Entry>,
}

impl ConvRec {
    fn head(&self) -> Offset {
        Offset(self.log.len() as u64)
    }
}

/// Space-separated words, as the SQL backends keep lists.
fn words(list: &[String]) -> Vec<String> {
    list.join(" ")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn conflict(what: &str) -> StoreError {
    StoreError::Conflict(what.to_string())
}

impl MemoryStore {
    pub(crate) fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// One call is one transaction. A poisoned lock only means a call panicked, and no
    /// call changes anything before it can no longer fail.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    fn site_exists(&self, site: SiteId) -> StoreResult<()> {
        match self.sites.contains_key(&site) {
            true => Ok(()),
            false => Err(StoreError::Invalid(format!("no site {site}"))),
        }
    }

    fn info(&self, id: ConversationId) -> Option<ConvInfo> {
        self.convs.get(&id).map(|c| ConvInfo {
            id,
            site: c.site,
            visitor: c.visitor,
            epoch: c.epoch,
            head: c.head(),
        })
    }

    /// The newest open conversation of `visitor`.
    fn open_of(&self, visitor: VisitorId) -> Option<ConversationId> {
        self.convs_of
            .get(&visitor)?
            .iter()
            .rev()
            .find(|id| self.convs[*id].open)
            .copied()
    }

    fn desk(&self, id: ConversationId, c: &ConvRec, answered: bool) -> DeskConv {
        DeskConv {
            id,
            site: c.site,
            token: self.tokens_of[&c.visitor].clone(),
            owner: c.owner.map(|(a, _)| a),
            answered,
        }
    }

    /// What a batch needs, as the SQL backends load it.
    fn load(&self, batch: &[NewEntry], want: &Wanted<'_>) -> Loaded {
        let mut loaded = Loaded::default();
        let mut convs = want.convs.clone();
        for e in batch {
            if let ConvRef::Visitor { site, token, .. } = &e.conv {
                if let Some(&v) = self.visitors.get(&(*site, token.clone())) {
                    loaded.visitors.insert((*site, token.clone()), v);
                    if let Some(open) = self.open_of(v) {
                        loaded.open_of.insert(v, open);
                        convs.push(open);
                    }
                }
            }
        }
        for id in convs {
            if let Some(c) = self.convs.get(&id) {
                let conv = Conv {
                    site: c.site,
                    visitor: c.visitor,
                    epoch: c.epoch,
                    head: c.head(),
                };
                loaded.convs.insert(id, conv);
            }
        }
        for &cid in &want.cids {
            if let Some(stored) = self.cids.get(cid) {
                loaded.seen.insert(cid.to_string(), stored.clone());
            }
        }
        loaded
    }
}

/// The visitors and conversations a batch opens, kept aside until it is done.
struct Pending<'s> {
    state: &'s State,
    last: Ids,
    visitors: Vec<(SiteId, String, VisitorId)>,
    convs: Vec<(ConversationId, SiteId, VisitorId, Epoch, i64)>,
}

impl Opener for Pending<'_> {
    fn add_visitor(&mut self, site: SiteId, token: &str, _now: i64) -> StoreResult<VisitorId> {
        self.state.site_exists(site)?;
        self.last.visitor += 1;
        let id = VisitorId(self.last.visitor);
        self.visitors.push((site, token.to_string(), id));
        Ok(id)
    }

    fn add_conversation(
        &mut self,
        site: SiteId,
        visitor: VisitorId,
        epoch: Epoch,
        now: i64,
    ) -> StoreResult<ConversationId> {
        self.last.conv += 1;
        let id = ConversationId(self.last.conv);
        self.convs.push((id, site, visitor, epoch, now));
        Ok(id)
    }
}

impl Log for MemoryStore {
    fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    fn append_fenced(
        &self,
        batch: &[NewEntry],
        fence: Option<&Fence<'_>>,
    ) -> StoreResult<Vec<Appended>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut st = self.state();
        let loaded = st.load(batch, &Wanted::of(batch));
        if let Some(fence) = fence {
            let sites = batch::sites_of(batch, &loaded);
            let lost = batch::fenced(sites, fence, |site| {
                st.leases.get(&site).map(|l| (l.node.as_str(), l.epoch))
            });
            if !lost.is_empty() {
                return Err(StoreError::Fenced(lost));
            }
        }
        let mut pending = Pending {
            state: &st,
            last: st.last,
            visitors: Vec::new(),
            convs: Vec::new(),
        };
        // Nothing is changed until the whole batch is planned: all or nothing.
        let planned = batch::plan(batch, loaded, &mut pending)?;
        let Pending {
            last,
            visitors,
            convs,
            ..
        } = pending;
        st.last = last;
        for (site, token, id) in visitors {
            st.visitors.insert((site, token.clone()), id);
            st.tokens_of.insert(id, token);
        }
        for (id, site, visitor, epoch, now) in convs {
            let rec = ConvRec {
                site,
                visitor,
                epoch,
                open: true,
                created_at: now,
                owner: None,
                log: Vec::new(),
            };
            st.convs.insert(id, rec);
            st.convs_of.entry(visitor).or_default().push(id);
        }
        for e in planned.new_entries() {
            st.cids.entry(e.cid.clone()).or_default().push(Stored {
                sender: e.sender,
                conv: e.conv,
                off: e.off,
                ts: e.ts,
            });
            let conv = st
                .convs
                .get_mut(&e.conv)
                .expect("planned in a known conversation");
            debug_assert_eq!(conv.head().next(), e.off, "offsets are contiguous");
            conv.log.push(e.clone());
        }
        for (id, change) in &planned.changes {
            let conv = st.convs.get_mut(id).expect("changed conversations exist");
            match *change {
                Change::Closed => {
                    conv.open = false;
                    conv.owner = None;
                }
                Change::Owner(agent, off) => conv.owner = Some((agent, off)),
            }
        }
        st.record_deliveries(&planned.done);
        Ok(planned.done)
    }

    fn read_after(
        &self,
        conv: ConversationId,
        after: Offset,
        limit: usize,
    ) -> StoreResult<Vec<Entry>> {
        let st = self.state();
        let Some(c) = st.convs.get(&conv) else {
            return Ok(Vec::new());
        };
        let from = usize::try_from(after.0).unwrap_or(usize::MAX);
        Ok(c.log.iter().skip(from).take(limit).cloned().collect())
    }

    fn conversation(&self, id: ConversationId) -> StoreResult<Option<ConvInfo>> {
        Ok(self.state().info(id))
    }

    fn list_conversations(
        &self,
        site: SiteId,
        f: &ConvFilter,
        limit: usize,
    ) -> StoreResult<Vec<ConvSummary>> {
        let st = self.state();
        Ok(st
            .convs
            .iter()
            .rev()
            .filter(|(&id, c)| {
                c.site == site
                    && f.open.is_none_or(|o| c.open == o)
                    && f.since.is_none_or(|t| c.created_at >= t)
                    && f.until.is_none_or(|t| c.created_at < t)
                    && f.before.is_none_or(|b| id < b)
                    && f.visitor.is_none_or(|v| c.visitor == v)
                    && f.agent
                        .is_none_or(|a| c.log.iter().any(|e| e.sender == Sender::Agent(a)))
            })
            .take(limit)
            .filter_map(|(&id, c)| {
                Some(ConvSummary {
                    info: st.info(id)?,
                    open: c.open,
                    created_at: c.created_at,
                })
            })
            .collect())
    }

    fn delete_visitor(
        &self,
        site: SiteId,
        visitor: VisitorId,
    ) -> StoreResult<Option<DeletedVisitor>> {
        let mut st = self.state();
        let Some(token) = st.tokens_of.get(&visitor).cloned() else {
            return Ok(None);
        };
        if st.visitors.get(&(site, token.clone())) != Some(&visitor) {
            return Ok(None);
        }
        let convs = st.convs_of.remove(&visitor).unwrap_or_default();
        for conv in &convs {
            st.convs.remove(conv);
        }
        st.deliveries.retain(|_, d| !convs.contains(&d.conv));
        for stored in st.cids.values_mut() {
            stored.retain(|s| !convs.contains(&s.conv));
        }
        st.cids.retain(|_, v| !v.is_empty());
        st.visitors.remove(&(site, token.clone()));
        st.tokens_of.remove(&visitor);
        Ok(Some(DeletedVisitor {
            token,
            conversations: convs,
        }))
    }

    fn open_conversation_of(&self, site: SiteId, token: &str) -> StoreResult<Option<ConvInfo>> {
        let st = self.state();
        let Some(&v) = st.visitors.get(&(site, token.to_string())) else {
            return Ok(None);
        };
        Ok(st.open_of(v).and_then(|id| st.info(id)))
    }

    fn desk_conversations(&self, site: Option<SiteId>) -> StoreResult<Vec<DeskConv>> {
        let st = self.state();
        Ok(st
            .convs
            .iter()
            .filter(|(_, c)| c.open && site.is_none_or(|s| s == c.site))
            .map(|(&id, c)| {
                // Answered: the owner wrote a message after it was given the conversation.
                let answered = c.owner.is_some_and(|(a, since)| {
                    let me = Sender::Agent(a);
                    c.log.iter().any(|e| {
                        e.kind == EntryKind::Msg
                            && e.role == Role::Agent
                            && e.sender == me
                            && e.off > since
                    })
                });
                st.desk(id, c, answered)
            })
            .collect())
    }

    fn idle_conversations(
        &self,
        before: i64,
        sites: Option<&[SiteId]>,
        after: ConversationId,
        limit: usize,
    ) -> StoreResult<Vec<DeskConv>> {
        let st = self.state();
        Ok(st
            .convs
            .range(ConversationId(after.0 + 1)..)
            .filter(|(_, c)| sites.is_none_or(|s| s.contains(&c.site)))
            .filter(|(_, c)| c.open && c.log.last().map_or(c.created_at, |e| e.ts) < before)
            .take(limit)
            .map(|(&id, c)| st.desk(id, c, false))
            .collect())
    }

    fn reopen_fenced(&self, id: ConversationId, fence: Option<&Fence<'_>>) -> StoreResult<Reopen> {
        let mut st = self.state();
        let Some(c) = st.convs.get(&id) else {
            return Ok(Reopen::NotFound);
        };
        if let Some(fence) = fence {
            let lost = batch::fenced(vec![c.site], fence, |site| {
                st.leases.get(&site).map(|l| (l.node.as_str(), l.epoch))
            });
            if !lost.is_empty() {
                return Err(StoreError::Fenced(lost));
            }
        }
        if c.open {
            return Ok(Reopen::AlreadyOpen);
        }
        let visitor = c.visitor;
        if st.open_of(visitor).is_some() {
            return Ok(Reopen::VisitorBusy);
        }
        st.convs.get_mut(&id).expect("found above").open = true;
        Ok(Reopen::Reopened {
            info: st.info(id).expect("found above"),
            token: st.tokens_of[&visitor].clone(),
        })
    }
}

impl Search for MemoryStore {
    /// As SQLite's LIKE does it: ASCII letters match either case, nothing else is folded.
    fn search(&self, site: SiteId, needle: &str, limit: usize) -> StoreResult<Vec<Entry>> {
        let st = self.state();
        let needle = needle.to_ascii_lowercase();
        let mut hits: Vec<&Entry> = st
            .convs
            .values()
            .filter(|c| c.site == site)
            .flat_map(|c| &c.log)
            .filter(|e| e.kind == EntryKind::Msg && e.body.to_ascii_lowercase().contains(&needle))
            .collect();
        hits.sort_by_key(|e| std::cmp::Reverse((e.ts, e.off)));
        Ok(hits.into_iter().take(limit).cloned().collect())
    }
}

#[cfg(test)]
mod conformance {
    use crate::store::conformance::{suite, Fixture};

    fn make() -> Fixture {
        Fixture::new(Box::new(super::MemoryStore::new()), ())
    }

    suite!(make);
}
