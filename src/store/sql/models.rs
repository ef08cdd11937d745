//! Row structs for diesel: what is read from and written to each table, by every SQL
//! backend.
//!
//! Owns: the mapping between rows and the store's records, including the JSON `meta`
//! column of an entry and the space-separated `events` of a webhook. Knows nothing of
//! any one backend, nor of the wire.

use diesel::prelude::*;

use super::schema::{
    agents, canned_responses, conversations, entries, invite_rules, sites, visitors,
    webhook_deliveries, webhooks,
};
use crate::ids::{AgentId, ConversationId, Epoch, Offset, SiteId, VisitorId};
use crate::store::batch::NewDelivery;
use crate::store::{
    Agent, Canned, ConvInfo, Delivery, Entry, InviteRule, Site, StoreError, StoreResult, Webhook,
};
use crate::vocab::{AgentRole, DeliveryState, Sender, TransportKind, UnknownWord, WebhookEvent};

#[derive(Queryable, Selectable)]
#[diesel(table_name = sites)]
pub(crate) struct SiteRow {
    pub id: i64,
    pub key: String,
    pub name: String,
    pub secret: String,
    pub allowed_origins: String,
    pub transports: String,
    pub require_identity: bool,
}

impl From<SiteRow> for Site {
    fn from(r: SiteRow) -> Site {
        let words = |s: &str| s.split_whitespace().map(str::to_string).collect();
        Site {
            id: SiteId(r.id),
            key: r.key,
            name: r.name,
            secret: r.secret,
            allowed_origins: words(&r.allowed_origins),
            transports: transports_of(&r.transports),
            require_identity: r.require_identity,
        }
    }
}

/// The `transports` column: the names of the allowed transports, separated by spaces.
pub(crate) fn transports_text(list: &[TransportKind]) -> String {
    let names: Vec<&str> = list.iter().map(|t| t.as_str()).collect();
    names.join(" ")
}

/// The transports a `transports` column allows. A name this version does not know allows
/// nothing, and is left out.
fn transports_of(text: &str) -> Vec<TransportKind> {
    text.split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect()
}

#[derive(Insertable)]
#[diesel(table_name = sites)]
pub(crate) struct NewSiteRow<'a> {
    pub key: &'a str,
    pub name: &'a str,
    pub secret: &'a str,
    pub allowed_origins: &'a str,
    pub transports: &'a str,
    pub created_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = agents)]
pub(crate) struct AgentRow {
    pub id: i64,
    pub site_id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
    pub removed_at: Option<i64>,
}

impl From<AgentRow> for Agent {
    /// A role kefu does not spell gives the account no more than an agent's rights.
    fn from(r: AgentRow) -> Agent {
        Agent {
            id: AgentId(r.id),
            site: SiteId(r.site_id),
            email: r.email,
            name: r.name,
            role: r.role.parse().unwrap_or(AgentRole::Agent),
            removed_at: r.removed_at,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = agents)]
pub(crate) struct NewAgentRow<'a> {
    pub site_id: i64,
    pub email: &'a str,
    pub name: &'a str,
    pub role: &'a str,
    pub password_hash: &'a str,
    pub created_at: i64,
}

#[derive(Insertable)]
#[diesel(table_name = visitors)]
pub(crate) struct NewVisitorRow<'a> {
    pub site_id: i64,
    pub token: &'a str,
    pub created_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = conversations)]
pub(crate) struct ConvRow {
    pub id: i64,
    pub site_id: i64,
    pub visitor_id: i64,
    pub epoch: i64,
}

impl ConvRow {
    pub(crate) fn info(self, head: Option<i64>) -> ConvInfo {
        ConvInfo {
            id: ConversationId(self.id),
            site: SiteId(self.site_id),
            visitor: VisitorId(self.visitor_id),
            epoch: Epoch(self.epoch as u32),
            head: Offset(head.unwrap_or(0) as u64),
        }
    }
}

/// A conversation row's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConvStatus {
    Open,
    Closed,
}

impl ConvStatus {
    /// The column's text.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ConvStatus::Open => "open",
            ConvStatus::Closed => "closed",
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = conversations)]
pub(crate) struct NewConvRow<'a> {
    pub site_id: i64,
    pub visitor_id: i64,
    pub epoch: i64,
    pub status: &'a str,
    pub created_at: i64,
}

/// A new entry as inserted: its text borrowed from the batch's entries, so a group commit
/// copies no body (only the few characters of each sender are written out).
#[derive(Insertable)]
#[diesel(table_name = entries)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct NewEntryRow<'a> {
    pub conversation_id: i64,
    pub off: i64,
    pub kind: &'a str,
    pub role: &'a str,
    pub sender: String,
    pub cid: &'a str,
    pub body: &'a str,
    pub ts: i64,
    pub meta: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = entries)]
pub(crate) struct EntryRow {
    pub conversation_id: i64,
    pub off: i64,
    pub kind: String,
    pub role: String,
    pub sender: String,
    pub cid: String,
    pub body: String,
    pub ts: i64,
    /// JSON: `{"upto": N}` for reads, `{"contact": {…}}` for offline messages.
    pub meta: Option<String>,
}

impl EntryRow {
    /// The entry this row holds. Its words are read as kefu writes them; a row spelling
    /// one otherwise is refused, naming the entry.
    pub(crate) fn entry(self) -> StoreResult<Entry> {
        let unreadable = |e: UnknownWord| {
            StoreError::Invalid(format!(
                "entry {} of conversation {}: {e}",
                self.off, self.conversation_id
            ))
        };
        let kind = self.kind.parse().map_err(unreadable)?;
        let role = self.role.parse().map_err(unreadable)?;
        let sender = self.sender.parse().map_err(unreadable)?;
        let meta: Option<serde_json::Value> = self
            .meta
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok());
        let upto = meta
            .as_ref()
            .and_then(|m| m.get("upto"))
            .and_then(|u| u.as_u64())
            .map(Offset);
        let contact = meta
            .as_ref()
            .and_then(|m| m.get("contact"))
            .and_then(|c| serde_json::from_value(c.clone()).ok());
        Ok(Entry {
            conv: ConversationId(self.conversation_id),
            off: Offset(self.off as u64),
            kind,
            role,
            sender,
            cid: self.cid,
            body: self.body,
            ts: self.ts,
            upto,
            contact,
        })
    }

    /// The entries of `rows`, in their order.
    pub(crate) fn entries(rows: Vec<EntryRow>) -> StoreResult<Vec<Entry>> {
        rows.into_iter().map(EntryRow::entry).collect()
    }
}

/// The sender an entry row's `sender` column names.
pub(crate) fn sender_of(text: &str) -> StoreResult<Sender> {
    text.parse()
        .map_err(|e: UnknownWord| StoreError::Invalid(format!("an entry's sender: {e}")))
}

impl<'a> NewEntryRow<'a> {
    /// The row of `e`, borrowing its text.
    pub(crate) fn of(e: &'a Entry) -> NewEntryRow<'a> {
        NewEntryRow {
            conversation_id: e.conv.0,
            off: e.off.0 as i64,
            kind: e.kind.as_str(),
            role: e.role.as_str(),
            sender: e.sender.to_string(),
            cid: &e.cid,
            body: &e.body,
            ts: e.ts,
            meta: entry_meta(e),
        }
    }
}

/// The JSON `meta` column of an entry, if it has extra data.
fn entry_meta(e: &Entry) -> Option<String> {
    let mut m = serde_json::Map::new();
    if let Some(u) = e.upto {
        m.insert("upto".into(), serde_json::json!(u.0));
    }
    if let Some(c) = &e.contact {
        m.insert("contact".into(), serde_json::json!(c));
    }
    (!m.is_empty()).then(|| serde_json::Value::Object(m).to_string())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = canned_responses)]
pub(crate) struct CannedRow {
    pub id: i64,
    pub shortcut: String,
    pub body: String,
}

impl From<CannedRow> for Canned {
    fn from(r: CannedRow) -> Canned {
        Canned {
            id: r.id,
            shortcut: r.shortcut,
            text: r.body,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = canned_responses)]
pub(crate) struct NewCannedRow<'a> {
    pub site_id: i64,
    pub shortcut: &'a str,
    pub body: &'a str,
    pub created_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = invite_rules)]
pub(crate) struct RuleRow {
    pub id: i64,
    pub site_id: i64,
    pub name: String,
    pub url_pattern: String,
    pub min_seconds: i64,
    pub min_visits: i64,
    pub body: String,
}

impl From<RuleRow> for InviteRule {
    fn from(r: RuleRow) -> InviteRule {
        InviteRule {
            id: r.id,
            site: SiteId(r.site_id),
            name: r.name,
            url: r.url_pattern,
            min_seconds: r.min_seconds.clamp(0, u32::MAX as i64) as u32,
            min_visits: r.min_visits.clamp(0, u32::MAX as i64) as u32,
            text: r.body,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = invite_rules)]
pub(crate) struct NewRuleRow<'a> {
    pub site_id: i64,
    pub name: &'a str,
    pub url_pattern: &'a str,
    pub min_seconds: i64,
    pub min_visits: i64,
    pub body: &'a str,
    pub created_at: i64,
}

/// The `events` column: the names of the events, separated by spaces, in `WebhookEvent`
/// order, none twice.
pub(crate) fn events_text(list: &[WebhookEvent]) -> String {
    let names: Vec<&str> = WebhookEvent::ALL
        .iter()
        .filter(|e| list.contains(e))
        .map(|e| e.as_str())
        .collect();
    names.join(" ")
}

/// The events an `events` column names, in its order; a name kefu does not spell is
/// refused (`StoreError::Invalid`), naming the webhook.
pub(crate) fn events_of(webhook: i64, text: &str) -> StoreResult<Vec<WebhookEvent>> {
    text.split_whitespace()
        .map(|w| {
            w.parse()
                .map_err(|e: UnknownWord| StoreError::Invalid(format!("webhook {webhook}: {e}")))
        })
        .collect()
}

/// A webhook as stored (its pending count is not a column: see `WebhookRow::webhook`).
#[derive(Queryable, Selectable)]
#[diesel(table_name = webhooks)]
pub(crate) struct WebhookRow {
    pub id: i64,
    pub site_id: i64,
    pub url: String,
    pub secret: String,
    pub events: String,
    pub paused: bool,
    pub created_at: i64,
    pub last_ok_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
}

impl WebhookRow {
    /// The webhook this row holds, with `pending` deliveries the earliest of which is due
    /// at `next_at`. An event name kefu does not spell is refused, naming the webhook.
    pub(crate) fn webhook(self, pending: u64, next_at: Option<i64>) -> StoreResult<Webhook> {
        Ok(Webhook {
            events: events_of(self.id, &self.events)?,
            id: self.id,
            site: SiteId(self.site_id),
            url: self.url,
            secret: self.secret,
            paused: self.paused,
            created_at: self.created_at,
            last_ok_at: self.last_ok_at,
            last_error: self.last_error,
            last_error_at: self.last_error_at,
            pending,
            next_at,
        })
    }
}

/// A new webhook as inserted: never attempted yet.
#[derive(Insertable)]
#[diesel(table_name = webhooks)]
pub(crate) struct NewWebhookRow<'a> {
    pub site_id: i64,
    pub url: &'a str,
    pub secret: &'a str,
    pub events: &'a str,
    pub paused: bool,
    pub created_at: i64,
}

/// The columns of a webhook an admin changes: `None` is left as it is.
#[derive(AsChangeset)]
#[diesel(table_name = webhooks)]
pub(crate) struct WebhookChangeRow<'a> {
    pub url: Option<&'a str>,
    pub events: Option<String>,
    pub paused: Option<bool>,
}

impl WebhookChangeRow<'_> {
    /// Does it change anything? (An UPDATE setting no column is no statement.)
    pub(crate) fn changes(&self) -> bool {
        self.url.is_some() || self.events.is_some() || self.paused.is_some()
    }
}

/// A delivery as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub(crate) struct DeliveryRow {
    pub id: i64,
    pub webhook_id: i64,
    pub conversation_id: i64,
    pub off: i64,
    pub event: String,
    pub created_at: i64,
    pub attempts: i64,
    pub state: String,
    pub next_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
}

impl DeliveryRow {
    /// The delivery this row holds. Its words are read as kefu writes them; a row
    /// spelling one otherwise is refused, naming the delivery.
    pub(crate) fn delivery(self) -> StoreResult<Delivery> {
        let unreadable =
            |e: UnknownWord| StoreError::Invalid(format!("webhook delivery {}: {e}", self.id));
        let event = self.event.parse().map_err(unreadable)?;
        let state: DeliveryState = self.state.parse().map_err(unreadable)?;
        Ok(Delivery {
            id: self.id,
            webhook: self.webhook_id,
            conv: ConversationId(self.conversation_id),
            off: Offset(self.off as u64),
            event,
            created_at: self.created_at,
            attempts: self.attempts.clamp(0, u32::MAX as i64) as u32,
            state,
            next_at: self.next_at,
            last_status: self.last_status.map(|s| s.clamp(0, u16::MAX as i64) as u16),
            last_error: self.last_error,
        })
    }

    /// The deliveries of `rows`, in their order.
    pub(crate) fn deliveries(rows: Vec<DeliveryRow>) -> StoreResult<Vec<Delivery>> {
        rows.into_iter().map(DeliveryRow::delivery).collect()
    }
}

/// A delivery an append records: pending, no attempt yet, due when its entry was
/// committed. No column is left to its default, so that SQLite takes many in one INSERT.
#[derive(Insertable)]
#[diesel(table_name = webhook_deliveries)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct NewDeliveryRow {
    pub webhook_id: i64,
    pub conversation_id: i64,
    pub off: i64,
    pub event: &'static str,
    pub created_at: i64,
    pub attempts: i64,
    pub state: &'static str,
    pub next_at: Option<i64>,
}

impl NewDeliveryRow {
    /// The row of `d`.
    pub(crate) fn of(d: &NewDelivery) -> NewDeliveryRow {
        NewDeliveryRow {
            webhook_id: d.webhook,
            conversation_id: d.conv.0,
            off: d.off.0 as i64,
            event: d.event.as_str(),
            created_at: d.ts,
            attempts: 0,
            state: DeliveryState::Pending.as_str(),
            next_at: Some(d.ts),
        }
    }
}
