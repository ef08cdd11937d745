//! One group commit on a SQL backend: load what the batch needs, apply the rule of
//! `store::batch`, write the result — inside the transaction `Dialect::write` opened.
//!
//! Compiled inside each backend's module, against that backend's `Db` (see `sql`).
//! Owns: the statements of a commit, a fixed number whatever the batch size (apart from
//! the visitor and conversation rows a batch creates): the visitors, their open
//! conversations, the conversations with their heads, the stored cids, one multi-row
//! INSERT of the new entries per `rows_per_insert`, one UPDATE per conversation row the
//! batch changes; and, when a new entry makes a webhook event (`batch::event_sites`),
//! the webhooks of those entries' sites (read locked, `Dialect::lock_hooks`), then one
//! multi-row INSERT of the deliveries they take (`batch::deliveries`) per
//! `rows_per_insert`, none when they take none. Knows nothing of the rule itself
//! (`batch`), nor of the wire.

use std::collections::HashMap;

use diesel::prelude::*;

use super::Db;
use crate::ids::{ConversationId, Epoch, Offset, SiteId, VisitorId};
use crate::store::batch::{self, Change, Conv, Hook, Loaded, Opener, Stored, Wanted};
use crate::store::sql::models::{
    sender_of, ConvStatus, NewConvRow, NewDeliveryRow, NewEntryRow, NewVisitorRow,
};
use crate::store::sql::schema::{conversations, entries, visitors, webhook_deliveries};
use crate::store::sql::{
    ids_per_query, rows_per_insert, Dialect, NewRow, DELIVERY_COLUMNS, ENTRY_COLUMNS,
};
use crate::store::{Appended, Fence, NewEntry, StoreError, StoreResult};

type Conn = <Db as Dialect>::Conn;

const IDS_PER_QUERY: usize = ids_per_query(Db::MAX_BINDS);
const ROWS_PER_INSERT: usize = rows_per_insert(Db::MAX_BINDS, ENTRY_COLUMNS);
const DELIVERIES_PER_INSERT: usize = rows_per_insert(Db::MAX_BINDS, DELIVERY_COLUMNS);

/// The state the batch starts from: the conversations it names, the visitors it writes
/// for and their open conversations, the heads, and the keyed cids already stored.
fn load(c: &mut Conn, want: &Wanted<'_>) -> StoreResult<Loaded> {
    let mut ids: Vec<i64> = want.convs.iter().map(|id| id.0).collect();
    let mut loaded = Loaded::default();
    for chunk in want.tokens.chunks(IDS_PER_QUERY) {
        let rows: Vec<(i64, i64, String)> = visitors::table
            .filter(visitors::token.eq_any(chunk))
            .select((visitors::id, visitors::site_id, visitors::token))
            .load(c)?;
        let vids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        for (id, site, token) in rows {
            loaded.visitors.insert((SiteId(site), token), VisitorId(id));
        }
        let open: Vec<(i64, i64)> = conversations::table
            .filter(conversations::visitor_id.eq_any(&vids))
            .filter(conversations::status.eq(ConvStatus::Open.as_str()))
            .order(conversations::id)
            .select((conversations::visitor_id, conversations::id))
            .load(c)?;
        for (visitor, conv) in open {
            // Ordered by id: the newest open conversation wins.
            loaded
                .open_of
                .insert(VisitorId(visitor), ConversationId(conv));
            ids.push(conv);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        // Each head by its own index seek (a correlated MAX uses the primary key's order;
        // `MAX … GROUP BY` over the batch's conversations would read every entry of each).
        let rows: Vec<(i64, i64, i64, i64, Option<i64>)> = conversations::table
            .filter(conversations::id.eq_any(chunk))
            .select((
                conversations::id,
                conversations::site_id,
                conversations::visitor_id,
                conversations::epoch,
                diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>>(
                    "(SELECT MAX(e.off) FROM entries e WHERE e.conversation_id = conversations.id)",
                ),
            ))
            .load(c)?;
        for (id, site, visitor, epoch, head) in rows {
            let conv = Conv {
                site: SiteId(site),
                visitor: VisitorId(visitor),
                epoch: Epoch(epoch as u32),
                head: Offset(head.unwrap_or(0) as u64),
            };
            loaded.convs.insert(ConversationId(id), conv);
        }
    }
    for chunk in want.cids.chunks(IDS_PER_QUERY) {
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
            let sender = sender_of(&sender)?;
            loaded.seen.entry(cid).or_default().push(Stored {
                sender,
                conv: ConversationId(conv),
                off: Offset(off as u64),
                ts,
            });
        }
    }
    Ok(loaded)
}

/// The webhooks of `sites` (sorted, unique), as an append sees them, by id, read (and
/// locked, where the backend locks rows) in the caller's write transaction, so that none
/// is deleted before the deliveries recorded for it commit. An event name this version
/// does not spell is one it never makes: it takes nothing, and fails no append.
fn hooks_of(c: &mut Conn, sites: &[SiteId]) -> StoreResult<Vec<Hook>> {
    let ids: Vec<i64> = sites.iter().map(|s| s.0).collect();
    let mut hooks = Vec::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let rows = Db::lock_hooks(c, chunk)?;
        hooks.extend(rows.into_iter().map(|(id, site, events)| {
            Hook {
                id,
                site: SiteId(site),
                events: events
                    .split_whitespace()
                    .filter_map(|e| e.parse().ok())
                    .collect(),
            }
        }));
    }
    Ok(hooks)
}

/// Visitor and conversation rows, inserted as the batch needs them.
struct Rows<'c>(&'c mut Conn);

impl Opener for Rows<'_> {
    fn add_visitor(&mut self, site: SiteId, token: &str, now: i64) -> StoreResult<VisitorId> {
        let row = NewVisitorRow {
            site_id: site.0,
            token,
            created_at: now,
        };
        Ok(VisitorId(Db::insert(self.0, NewRow::Visitor(&row))?))
    }

    fn add_conversation(
        &mut self,
        site: SiteId,
        visitor: VisitorId,
        epoch: Epoch,
        now: i64,
    ) -> StoreResult<ConversationId> {
        let row = NewConvRow {
            site_id: site.0,
            visitor_id: visitor.0,
            epoch: i64::from(epoch.0),
            status: ConvStatus::Open.as_str(),
            created_at: now,
        };
        Ok(ConversationId(Db::insert(
            self.0,
            NewRow::Conversation(&row),
        )?))
    }
}

/// `Fenced` naming those of `sites` whose lease `fence` does not hold, the leases read
/// (and locked, where the backend locks rows) in the caller's write transaction.
pub(super) fn check_fence(c: &mut Conn, sites: Vec<SiteId>, fence: &Fence<'_>) -> StoreResult<()> {
    let ids: Vec<i64> = sites.iter().map(|s| s.0).collect();
    let mut held = HashMap::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        for (site, node, epoch) in Db::lock_leases(c, chunk)? {
            held.insert(SiteId(site), (node, epoch));
        }
    }
    let lost = batch::fenced(sites, fence, |site| {
        held.get(&site).map(|(node, epoch)| (node.as_str(), *epoch))
    });
    if lost.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Fenced(lost))
    }
}

/// The body of one group commit; the caller holds the write transaction. With a
/// `fence`, nothing is written unless its node holds every site's lease (`Fenced`).
pub(super) fn append_in_tx(
    c: &mut Conn,
    batch: &[NewEntry],
    fence: Option<&Fence<'_>>,
) -> StoreResult<Vec<Appended>> {
    let loaded = load(c, &Wanted::of(batch))?;
    if let Some(fence) = fence {
        check_fence(c, batch::sites_of(batch, &loaded), fence)?;
    }
    let planned = batch::plan(batch, loaded, &mut Rows(c))?;
    // The rows borrow from the entries just made: a group commit copies nothing more.
    let rows: Vec<NewEntryRow<'_>> = planned.new_entries().map(NewEntryRow::of).collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        diesel::insert_into(entries::table)
            .values(chunk)
            .execute(c)?;
    }
    for (conv, change) in &planned.changes {
        let q = diesel::update(conversations::table.find(conv.0));
        match *change {
            Change::Closed => q
                .set((
                    conversations::status.eq(ConvStatus::Closed.as_str()),
                    conversations::owner_agent_id.eq(None::<i64>),
                    conversations::owner_off.eq(None::<i64>),
                ))
                .execute(c)?,
            Change::Owner(agent, off) => q
                .set((
                    conversations::owner_agent_id.eq(Some(agent.0)),
                    conversations::owner_off.eq(Some(off.0 as i64)),
                ))
                .execute(c)?,
        };
    }
    drop(rows);
    let sites = batch::event_sites(&planned.done);
    if !sites.is_empty() {
        let hooks = hooks_of(c, &sites)?;
        let rows: Vec<NewDeliveryRow> = batch::deliveries(&planned.done, &hooks)
            .iter()
            .map(NewDeliveryRow::of)
            .collect();
        for chunk in rows.chunks(DELIVERIES_PER_INSERT) {
            diesel::insert_into(webhook_deliveries::table)
                .values(chunk)
                .execute(c)?;
        }
    }
    Ok(planned.done)
}
