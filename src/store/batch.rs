//! The rule of one group commit, the same for every backend.
//!
//! Owns: where each entry of a batch goes (the conversation it names, or its visitor's
//! open one, opened here when there is none), the dedupe rule (`Cid::Keyed` once per
//! sender; `Cid::Made` named `<prefix>:<conv>:<off>`), contiguous offsets, and what the
//! batch changes in the conversation rows (closed, owner). Knows nothing of how state is
//! read or written: a backend loads what `Wanted` names into a `Loaded`, lets `plan`
//! create visitors and conversations through an `Opener` inside its transaction, then
//! writes the new entries and the `Change`s, all or nothing.

use std::collections::HashMap;

use super::{
    Appended, Author, Cid, ConvInfo, ConvRef, Entry, Fence, NewEntry, StoreError, StoreResult,
};
use crate::ids::{AgentId, ConversationId, Epoch, Offset, SiteId, VisitorId};
use crate::vocab::{EntryKind, Sender, WebhookEvent};

/// What a batch needs loaded before it is planned.
pub(crate) struct Wanted<'a> {
    /// Conversations named by id (`ConvRef::Id`, or named by a visitor), sorted, unique.
    pub(crate) convs: Vec<ConversationId>,
    /// Visitor tokens the batch writes for, sorted, unique. Their visitors and those
    /// visitors' open conversations are wanted too.
    pub(crate) tokens: Vec<&'a str>,
    /// Keyed cids, sorted, unique: every stored entry with one of them is wanted.
    pub(crate) cids: Vec<&'a str>,
}

impl Wanted<'_> {
    pub(crate) fn of(batch: &[NewEntry]) -> Wanted<'_> {
        let mut convs = Vec::new();
        let mut tokens = Vec::new();
        for e in batch {
            match &e.conv {
                ConvRef::Id(id) => convs.push(*id),
                ConvRef::Visitor { token, named, .. } => {
                    tokens.push(token.as_str());
                    convs.extend(*named);
                }
            }
        }
        let mut cids: Vec<&str> = batch
            .iter()
            .filter_map(|e| match &e.cid {
                Cid::Keyed(k) => Some(k.as_str()),
                Cid::Made(_) => None,
            })
            .collect();
        for v in [&mut tokens, &mut cids] {
            v.sort_unstable();
            v.dedup();
        }
        convs.sort_unstable();
        convs.dedup();
        Wanted {
            convs,
            tokens,
            cids,
        }
    }
}

/// The sites `batch` writes to, sorted, unique (an entry naming a conversation that is
/// not loaded has none: the plan refuses it).
pub(crate) fn sites_of(batch: &[NewEntry], loaded: &Loaded) -> Vec<SiteId> {
    let mut sites: Vec<SiteId> = batch
        .iter()
        .filter_map(|e| match &e.conv {
            ConvRef::Id(id) => loaded.convs.get(id).map(|c| c.site),
            ConvRef::Visitor { site, .. } => Some(*site),
        })
        .collect();
    sites.sort_unstable();
    sites.dedup();
    sites
}

/// Of `sites`, those `fence` may not write to: its node does not hold the lease the store
/// has (`held`: holder and epoch), at the epoch the fence names, or names none.
pub(crate) fn fenced<'a>(
    sites: Vec<SiteId>,
    fence: &Fence<'_>,
    held: impl Fn(SiteId) -> Option<(&'a str, i64)>,
) -> Vec<SiteId> {
    sites
        .into_iter()
        .filter(|&site| match ((fence.epoch_of)(site), held(site)) {
            (Some(want), Some((node, epoch))) => node != fence.node || epoch != want,
            _ => true,
        })
        .collect()
}

/// A conversation as the batch sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Conv {
    pub(crate) site: SiteId,
    pub(crate) visitor: VisitorId,
    pub(crate) epoch: Epoch,
    /// Its last offset: 0 when empty, then each new entry's.
    pub(crate) head: Offset,
}

/// Where an entry with a keyed cid is stored.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) sender: Sender,
    pub(crate) conv: ConversationId,
    pub(crate) off: Offset,
    pub(crate) ts: i64,
}

/// The state a batch starts from, as `Wanted` asked.
#[derive(Default)]
pub(crate) struct Loaded {
    /// The wanted conversations, and the open ones of the wanted visitors.
    pub(crate) convs: HashMap<ConversationId, Conv>,
    /// (site, token) → visitor, for every visitor with a wanted token.
    pub(crate) visitors: HashMap<(SiteId, String), VisitorId>,
    /// Visitor → its open conversation (the newest, should there be several).
    pub(crate) open_of: HashMap<VisitorId, ConversationId>,
    /// Cid → every stored entry with it (then also those the batch stores).
    pub(crate) seen: HashMap<String, Vec<Stored>>,
}

/// Creates rows inside the backend's transaction, as the batch needs them.
pub(crate) trait Opener {
    /// A visitor row for `token` on `site`.
    fn add_visitor(&mut self, site: SiteId, token: &str, now: i64) -> StoreResult<VisitorId>;
    /// An open conversation of `visitor` on `site`.
    fn add_conversation(
        &mut self,
        site: SiteId,
        visitor: VisitorId,
        epoch: Epoch,
        now: i64,
    ) -> StoreResult<ConversationId>;
}

/// What the batch changes in a conversation row; the last change in the batch wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Closed, and so owned by nobody.
    Closed,
    /// Owned by this agent since this offset.
    Owner(AgentId, Offset),
}

/// A planned batch: the answer for each entry (the new entries are the `Appended::New`
/// ones, in order), and the conversation rows to update.
pub(crate) struct Planned {
    pub(crate) done: Vec<Appended>,
    pub(crate) changes: HashMap<ConversationId, Change>,
}

impl Planned {
    /// The entries to store, in order.
    pub(crate) fn new_entries(&self) -> impl Iterator<Item = &Entry> {
        self.done.iter().filter_map(|a| match a {
            Appended::New(e, _) => Some(&**e),
            _ => None,
        })
    }
}

/// Decide what becomes of each entry of `batch`, given the state it starts from.
/// Conversations a visitor's first message needs are opened through `open`. An entry
/// naming a conversation that does not exist fails the whole batch.
pub(crate) fn plan(
    batch: &[NewEntry],
    loaded: Loaded,
    open: &mut dyn Opener,
) -> StoreResult<Planned> {
    let Loaded {
        mut convs,
        mut visitors,
        mut open_of,
        mut seen,
    } = loaded;
    let mut done = Vec::with_capacity(batch.len());
    let mut changes: HashMap<ConversationId, Change> = HashMap::new();
    for e in batch {
        // The visitor the entry is about, the conversation it goes to if one is known
        // (`None`: the visitor's conversation is to be opened), and the one it named.
        let (visitor, target, named) = match &e.conv {
            ConvRef::Id(id) => {
                let Some(conv) = convs.get(id) else {
                    return Err(StoreError::Invalid(format!("no conversation {id}")));
                };
                (Some(conv.visitor), Some(*id), Some(*id))
            }
            ConvRef::Visitor { site, token, named } => {
                let visitor = visitors.get(&(*site, token.clone())).copied();
                let open = visitor.and_then(|v| open_of.get(&v).copied());
                (visitor, open, *named)
            }
        };
        // A keyed cid is stored once per sender. A visitor without a row has sent nothing.
        if let (Cid::Keyed(k), Some(v)) = (&e.cid, visitor) {
            let me = e.author.sender(v);
            let stored = seen
                .get(k.as_str())
                .and_then(|list| list.iter().find(|s| s.sender == me));
            if let Some(s) = stored {
                done.push(if named.is_some_and(|n| n != s.conv) {
                    Appended::CidTaken
                } else {
                    Appended::Dup {
                        conv: s.conv,
                        off: s.off,
                        ts: s.ts,
                    }
                });
                continue;
            }
        }
        if named.is_some() && target != named {
            // A visitor named a conversation that is not its open one.
            done.push(Appended::NotOpen);
            continue;
        }
        let conv_id = match (target, &e.conv) {
            (Some(id), _) => id,
            (None, ConvRef::Visitor { site, token, .. }) => {
                let now = super::now_ms();
                let visitor = match visitor {
                    Some(v) => v,
                    None => {
                        let v = open.add_visitor(*site, token, now)?;
                        visitors.insert((*site, token.clone()), v);
                        v
                    }
                };
                let epoch = Epoch::random();
                let id = open.add_conversation(*site, visitor, epoch, now)?;
                convs.insert(
                    id,
                    Conv {
                        site: *site,
                        visitor,
                        epoch,
                        head: Offset::ZERO,
                    },
                );
                open_of.insert(visitor, id);
                id
            }
            (None, ConvRef::Id(_)) => unreachable!("an id always names its conversation"),
        };
        let conv = convs.get_mut(&conv_id).expect("resolved above");
        let sender = e.author.sender(conv.visitor);
        conv.head = conv.head.next();
        let off = conv.head;
        let cid = match &e.cid {
            Cid::Keyed(k) => {
                seen.entry(k.clone()).or_default().push(Stored {
                    sender,
                    conv: conv_id,
                    off,
                    ts: e.ts,
                });
                k.clone()
            }
            Cid::Made(prefix) => format!("{prefix}:{conv_id}:{}", off.0),
        };
        match (e.kind, e.author) {
            (EntryKind::Close, _) => {
                if open_of.get(&conv.visitor) == Some(&conv_id) {
                    open_of.remove(&conv.visitor);
                }
                changes.insert(conv_id, Change::Closed);
            }
            (EntryKind::Join | EntryKind::Transfer | EntryKind::Reopen, Author::Agent(a)) => {
                changes.insert(conv_id, Change::Owner(a, off));
            }
            _ => {}
        }
        let info = ConvInfo {
            id: conv_id,
            site: conv.site,
            visitor: conv.visitor,
            epoch: conv.epoch,
            head: off,
        };
        let entry = Entry {
            conv: conv_id,
            off,
            kind: e.kind,
            role: e.author.role(),
            sender,
            cid,
            body: e.body.clone(),
            ts: e.ts,
            upto: e.upto,
            contact: e.contact.clone(),
        };
        done.push(Appended::New(Box::new(entry), info));
    }
    Ok(Planned { done, changes })
}

/// A webhook as an append sees it: which site's entries it takes, and which events.
#[derive(Debug, Clone)]
pub(crate) struct Hook {
    pub(crate) id: i64,
    pub(crate) site: SiteId,
    pub(crate) events: Vec<WebhookEvent>,
}

/// A delivery an append records, in the same transaction (`Webhooks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewDelivery {
    pub(crate) webhook: i64,
    pub(crate) conv: ConversationId,
    pub(crate) off: Offset,
    pub(crate) event: WebhookEvent,
    /// The entry's commit time: the delivery's `created_at`, and when it is first due.
    pub(crate) ts: i64,
}

/// The sites of the entries `done` stored now that make a webhook event: those whose
/// webhooks an append must load (sorted, unique; empty: load none).
pub(crate) fn event_sites(done: &[Appended]) -> Vec<SiteId> {
    let mut sites: Vec<SiteId> = done
        .iter()
        .filter_map(|a| match a {
            Appended::New(e, info) => WebhookEvent::of_entry(e.kind, e.off.0, e.contact.is_some())
                .next()
                .map(|_| info.site),
            _ => None,
        })
        .collect();
    sites.sort_unstable();
    sites.dedup();
    sites
}

/// The deliveries the entries `done` stored now make for `hooks`: one per event of each
/// new entry (`WebhookEvent::of_entry`) for each hook of its site that takes the event,
/// in the order of the entries.
pub(crate) fn deliveries(done: &[Appended], hooks: &[Hook]) -> Vec<NewDelivery> {
    let mut out = Vec::new();
    if hooks.is_empty() {
        return out;
    }
    for a in done {
        let Appended::New(e, info) = a else { continue };
        for event in WebhookEvent::of_entry(e.kind, e.off.0, e.contact.is_some()) {
            for h in hooks {
                if h.site == info.site && h.events.contains(&event) {
                    out.push(NewDelivery {
                        webhook: h.id,
                        conv: e.conv,
                        off: e.off,
                        event,
                        ts: e.ts,
                    });
                }
            }
        }
    }
    out
}
