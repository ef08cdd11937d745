//! One group commit: a batch of entries appended in one transaction.
//!
//! Owns: resolving where each entry goes (a visitor's open conversation is found or
//! created here, in the same transaction), the dedupe rule (`Cid::Keyed` once per sender;
//! `Cid::Made` named from its conversation and offset), assigning contiguous offsets, and
//! keeping the conversation rows in step with the log (status, owner). A fixed number of
//! statements whatever the batch size, apart from the rows a batch creates.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use super::super::models::{NewConvRow, NewEntryRow, NewVisitorRow};
use super::super::schema::{conversations, entries, visitors};
use super::super::{Appended, Author, Cid, ConvInfo, ConvRef, NewEntry, StoreError, StoreResult};
use crate::ids::{ConversationId, Epoch, Offset, SiteId, VisitorId};
use crate::protocol::EntryFrame;

/// Rows per multi-row INSERT: 9 columns each, under SQLite's 32 766 bound parameters.
const ROWS_PER_INSERT: usize = 2000;
/// Ids per `IN (…)` list, under the same bound.
pub(super) const IDS_PER_QUERY: usize = 30_000;

/// A conversation as this batch sees it.
struct Conv {
    site: i64,
    visitor: i64,
    epoch: i64,
    head: i64,
}

/// What the batch changes in a conversation row; the last change wins.
enum Change {
    Closed,
    Owner(i64, i64),
}

/// The sender string of `author` in a conversation of visitor `visitor`.
fn sender_of(author: Author, visitor: i64) -> String {
    match author {
        Author::Visitor => format!("v{visitor}"),
        Author::Agent(a) => format!("a{a}"),
        Author::System => "kefu".to_string(),
    }
}

/// The JSON `meta` column of an entry, if it has extra data.
fn entry_meta(e: &EntryFrame) -> Option<String> {
    let mut m = serde_json::Map::new();
    if let Some(u) = e.upto {
        m.insert("upto".into(), serde_json::json!(u.0));
    }
    if let Some(c) = &e.contact {
        m.insert("contact".into(), serde_json::json!(c));
    }
    (!m.is_empty()).then(|| serde_json::Value::Object(m).to_string())
}

/// The state the batch starts from: the conversations it names, the visitors it writes
/// for and their open conversations, the heads, and the keyed cids already stored.
struct Loaded {
    convs: HashMap<i64, Conv>,
    /// (site, token) → visitor id
    visitors: HashMap<(i64, String), i64>,
    /// visitor id → its open conversation
    open_of: HashMap<i64, i64>,
    /// cid → (sender, conversation, offset, ts) of what is stored, or stored by this batch.
    seen: HashMap<String, Vec<(String, i64, i64, i64)>>,
}

fn load(c: &mut SqliteConnection, batch: &[NewEntry]) -> QueryResult<Loaded> {
    let mut ids: Vec<i64> = Vec::new();
    let mut tokens: Vec<&str> = Vec::new();
    for e in batch {
        match &e.conv {
            ConvRef::Id(id) => ids.push(id.0),
            ConvRef::Visitor { token, named, .. } => {
                tokens.push(token);
                ids.extend(named.map(|n| n.0));
            }
        }
    }
    tokens.sort_unstable();
    tokens.dedup();
    let mut visitors_map = HashMap::new();
    let mut open_of = HashMap::new();
    for chunk in tokens.chunks(IDS_PER_QUERY) {
        let rows: Vec<(i64, i64, String)> = visitors::table
            .filter(visitors::token.eq_any(chunk))
            .select((visitors::id, visitors::site_id, visitors::token))
            .load(c)?;
        let vids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        for (id, site, token) in rows {
            visitors_map.insert((site, token), id);
        }
        let open: Vec<(i64, i64)> = conversations::table
            .filter(conversations::visitor_id.eq_any(&vids))
            .filter(conversations::status.eq("open"))
            .order(conversations::id)
            .select((conversations::visitor_id, conversations::id))
            .load(c)?;
        for (visitor, conv) in open {
            // Ordered by id: the newest open conversation wins.
            open_of.insert(visitor, conv);
            ids.push(conv);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    let mut convs = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let rows: Vec<(i64, i64, i64, i64)> = conversations::table
            .filter(conversations::id.eq_any(chunk))
            .select((
                conversations::id,
                conversations::site_id,
                conversations::visitor_id,
                conversations::epoch,
            ))
            .load(c)?;
        for (id, site, visitor, epoch) in rows {
            convs.insert(
                id,
                Conv {
                    site,
                    visitor,
                    epoch,
                    head: 0,
                },
            );
        }
        let heads: Vec<(i64, Option<i64>)> = entries::table
            .filter(entries::conversation_id.eq_any(chunk))
            .group_by(entries::conversation_id)
            .select((entries::conversation_id, diesel::dsl::max(entries::off)))
            .load(c)?;
        for (id, head) in heads {
            if let Some(conv) = convs.get_mut(&id) {
                conv.head = head.unwrap_or(0);
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
    cids.sort_unstable();
    cids.dedup();
    let mut seen: HashMap<String, Vec<(String, i64, i64, i64)>> = HashMap::new();
    for chunk in cids.chunks(IDS_PER_QUERY) {
        let rows: Vec<(String, String, i64, i64, i64)> = entries::table
            .filter(entries::cid.eq_any(chunk))
            .select((
                entries::cid,
                entries::sender,
                entries::conversation_id,
                entries::off,
                entries::ts,
            ))
            .load(c)?;
        for (cid, sender, conv, off, ts) in rows {
            seen.entry(cid).or_default().push((sender, conv, off, ts));
        }
    }
    Ok(Loaded {
        convs,
        visitors: visitors_map,
        open_of,
        seen,
    })
}

/// The body of one group commit.
pub(super) fn append_in_tx(
    c: &mut SqliteConnection,
    batch: &[NewEntry],
) -> StoreResult<Vec<Appended>> {
    let Loaded {
        mut convs,
        mut visitors,
        mut open_of,
        mut seen,
    } = load(c, batch)?;
    let mut out = Vec::with_capacity(batch.len());
    let mut changes: HashMap<i64, Change> = HashMap::new();
    for e in batch {
        // The visitor the entry is about, the conversation it goes to if one is known
        // (`None`: the visitor's conversation is to be opened), and the one it named.
        let (visitor, target, named) = match &e.conv {
            ConvRef::Id(id) => {
                let Some(conv) = convs.get(&id.0) else {
                    return Err(StoreError::Invalid(format!("no conversation {id}")));
                };
                (Some(conv.visitor), Some(id.0), Some(id.0))
            }
            ConvRef::Visitor { site, token, named } => {
                let visitor = visitors.get(&(site.0, token.clone())).copied();
                let open = visitor.and_then(|v| open_of.get(&v).copied());
                (visitor, open, named.map(|n| n.0))
            }
        };
        // A keyed cid is stored once per sender. A visitor without a row has sent nothing.
        if let (Cid::Keyed(k), Some(v)) = (&e.cid, visitor) {
            let me = sender_of(e.author, v);
            let stored = seen
                .get(k.as_str())
                .and_then(|list| list.iter().find(|(s, ..)| *s == me));
            if let Some(&(_, stored, off, ts)) = stored {
                out.push(if named.is_some_and(|n| n != stored) {
                    Appended::CidTaken
                } else {
                    Appended::Dup {
                        conv: ConversationId(stored),
                        off: Offset(off as u64),
                        ts,
                    }
                });
                continue;
            }
        }
        if named.is_some() && target != named {
            // A visitor named a conversation that is not its open one.
            out.push(Appended::NotOpen);
            continue;
        }
        let conv_id = match (target, &e.conv) {
            (Some(id), _) => id,
            (None, ConvRef::Visitor { site, token, .. }) => {
                let now = crate::store::now_ms();
                let visitor = match visitor {
                    Some(v) => v,
                    None => {
                        let v: i64 = diesel::insert_into(visitors::table)
                            .values(&NewVisitorRow {
                                site_id: site.0,
                                token,
                                created_at: now,
                            })
                            .returning(visitors::id)
                            .get_result(c)?;
                        visitors.insert((site.0, token.clone()), v);
                        v
                    }
                };
                let epoch = i64::from(Epoch::random().0);
                let id: i64 = diesel::insert_into(conversations::table)
                    .values(&NewConvRow {
                        site_id: site.0,
                        visitor_id: visitor,
                        epoch,
                        status: "open",
                        created_at: now,
                    })
                    .returning(conversations::id)
                    .get_result(c)?;
                convs.insert(
                    id,
                    Conv {
                        site: site.0,
                        visitor,
                        epoch,
                        head: 0,
                    },
                );
                open_of.insert(visitor, id);
                id
            }
            (None, ConvRef::Id(_)) => unreachable!("an id always names its conversation"),
        };
        let conv = convs.get_mut(&conv_id).expect("resolved above");
        let sender = sender_of(e.author, conv.visitor);
        conv.head += 1;
        let off = conv.head;
        let cid = match &e.cid {
            Cid::Keyed(k) => {
                seen.entry(k.clone())
                    .or_default()
                    .push((sender.clone(), conv_id, off, e.ts));
                k.clone()
            }
            Cid::Made(prefix) => format!("{prefix}:{conv_id}:{off}"),
        };
        match (e.kind.as_str(), e.author) {
            ("close", _) => {
                if open_of.get(&conv.visitor) == Some(&conv_id) {
                    open_of.remove(&conv.visitor);
                }
                changes.insert(conv_id, Change::Closed);
            }
            ("join" | "transfer" | "reopen", Author::Agent(a)) => {
                changes.insert(conv_id, Change::Owner(a.0, off));
            }
            _ => {}
        }
        let info = ConvInfo {
            id: ConversationId(conv_id),
            site: SiteId(conv.site),
            visitor: VisitorId(conv.visitor),
            epoch: Epoch(conv.epoch as u32),
            head: Offset(off as u64),
        };
        let frame = EntryFrame {
            conv: info.id,
            off: info.head,
            kind: e.kind.clone(),
            role: e.author.role(),
            sender,
            cid,
            body: e.body.clone(),
            ts: e.ts,
            upto: e.upto,
            contact: e.contact.clone(),
        };
        out.push(Appended::New(Box::new(frame), info));
    }
    // The rows borrow from the frames just made: a group commit copies nothing more.
    let rows: Vec<NewEntryRow<'_>> = out
        .iter()
        .filter_map(|a| match a {
            Appended::New(f, _) => Some(NewEntryRow {
                conversation_id: f.conv.0,
                off: f.off.0 as i64,
                kind: &f.kind,
                role: f.role.as_str(),
                sender: &f.sender,
                cid: &f.cid,
                body: &f.body,
                ts: f.ts,
                meta: entry_meta(f),
            }),
            _ => None,
        })
        .collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        diesel::insert_into(entries::table)
            .values(chunk)
            .execute(c)?;
    }
    for (conv, change) in changes {
        let q = diesel::update(conversations::table.find(conv));
        match change {
            Change::Closed => q
                .set((
                    conversations::status.eq("closed"),
                    conversations::owner_agent_id.eq(None::<i64>),
                    conversations::owner_off.eq(None::<i64>),
                ))
                .execute(c)?,
            Change::Owner(agent, off) => q
                .set((
                    conversations::owner_agent_id.eq(Some(agent)),
                    conversations::owner_off.eq(Some(off)),
                ))
                .execute(c)?,
        };
    }
    Ok(out)
}
