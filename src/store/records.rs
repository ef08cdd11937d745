//! The records the store takes and returns: sites, agents, settings, conversations, the
//! entries of their logs, and what an append did.
//!
//! Owns: these types and their small rules (which origins and transports a site allows,
//! the sender and role an author gives an entry). Knows nothing of how records are kept,
//! nor of the wire: `core` turns an `Entry` into the frame clients see.

use serde::{Deserialize, Serialize};

use super::{StoreError, StoreResult};
use crate::ids::{
    random_token, AgentId, ClientMsgId, ConversationId, Epoch, Offset, SiteId, VisitorId,
};
use crate::vocab::{
    AgentRole, DeliveryState, EntryKind, Role, Sender, TransportKind, WebhookEvent,
};

/// One site (tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub id: SiteId,
    /// Public key used in the embed code.
    pub key: String,
    pub name: String,
    /// HMAC secret for verified visitor identities.
    pub secret: String,
    /// Origins allowed to open the widget; `*` allows any.
    pub allowed_origins: Vec<String>,
    /// Transports this site allows.
    pub transports: Vec<TransportKind>,
    /// Visitors must carry an identity signed with `secret`.
    pub require_identity: bool,
}

impl Site {
    /// A fresh key (`s_` and ten lowercase letters and digits) and a fresh secret (32
    /// letters and digits), for a new site: made here alone, for every backend.
    pub(crate) fn fresh_key_and_secret() -> (String, String) {
        let key = format!("s_{}", random_token(10).to_lowercase());
        (key, random_token(32))
    }

    /// May a browser page served from `origin` talk to this site?
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }

    /// Is `o` something `allowed_origins` can hold: `*`, or `http(s)://host[:port]` with
    /// no path, as browsers send it in `Origin`?
    pub fn check_origin(o: &str) -> Result<(), String> {
        if o == "*" {
            return Ok(());
        }
        let rest = o
            .strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"))
            .ok_or_else(|| format!("origin {o:?} must start with http:// or https://"))?;
        let host_ok = !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
        if !host_ok {
            return Err(format!(
                "origin {o:?} must be scheme://host[:port], without a path (e.g. https://www.example.com)"
            ));
        }
        Ok(())
    }

    /// Does this site allow transport `kind`?
    pub fn allows_transport(&self, kind: TransportKind) -> bool {
        self.transports.contains(&kind)
    }
}

/// One agent account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub id: AgentId,
    pub site: SiteId,
    pub email: String,
    pub name: String,
    pub role: AgentRole,
    /// When an admin removed the account (ms since the Unix epoch); `None` while it is
    /// active. A removed agent can no longer sign in nor use a token, and is no admin;
    /// it stays listed, so the history keeps its name.
    pub removed_at: Option<i64>,
}

impl Agent {
    /// An account (an email) that is an admin, not removed, on `n` sites may become the
    /// admin of one more only below `max`: the `Conflict` saying so, for every backend.
    pub(crate) fn room_to_administer(n: usize, max: usize) -> StoreResult<()> {
        if n < max {
            return Ok(());
        }
        let sites = if n == 1 { "site" } else { "sites" };
        Err(StoreError::Conflict(if n == max {
            format!("this account already administers {n} {sites}, the most it may")
        } else {
            format!("this account already administers {n} {sites}, more than the {max} it may")
        }))
    }
}

/// A canned response: text an agent inserts by typing `/shortcut`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Canned {
    pub id: i64,
    pub shortcut: String,
    pub text: String,
}

/// An automatic invitation rule (`docs/protocol.md` §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InviteRule {
    pub id: i64,
    #[serde(skip)]
    pub site: SiteId,
    pub name: String,
    /// Page URL pattern: `*` matches any run of characters; empty matches every page.
    pub url: String,
    /// Seconds on the current page before inviting.
    pub min_seconds: u32,
    /// Visits the widget counted for this browser.
    pub min_visits: u32,
    /// The invitation's text.
    pub text: String,
}

/// What `reopen_conversation` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reopen {
    /// Open again; `token` is its visitor's.
    Reopened {
        info: ConvInfo,
        token: String,
    },
    NotFound,
    AlreadyOpen,
    /// Its visitor has another open conversation.
    VisitorBusy,
}

/// A conversation and the state of its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvInfo {
    pub id: ConversationId,
    pub site: SiteId,
    pub visitor: VisitorId,
    pub epoch: Epoch,
    /// Last committed offset (0 when empty).
    pub head: Offset,
}

/// Which conversations `Log::list_conversations` lists; every condition set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConvFilter {
    /// Only open ones (`Some(true)`) or only closed ones (`Some(false)`).
    pub open: Option<bool>,
    /// Created at or after this time (ms since the Unix epoch).
    pub since: Option<i64>,
    /// Created before this time (ms since the Unix epoch).
    pub until: Option<i64>,
    /// Only those with an entry by this agent (a message, a join, a transfer, a close).
    pub agent: Option<AgentId>,
    /// Only this visitor's.
    pub visitor: Option<VisitorId>,
    /// Paging: only ids below this one (the last id of the page before).
    pub before: Option<ConversationId>,
}

/// What deleting a visitor's data removed: its token and its conversations (with all
/// their entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedVisitor {
    pub token: String,
    pub conversations: Vec<ConversationId>,
}

/// A conversation as the history list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvSummary {
    pub info: ConvInfo,
    pub open: bool,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// Where an entry goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvRef {
    /// This conversation.
    Id(ConversationId),
    /// The open conversation of visitor `token` on `site`, created (with the visitor row)
    /// when there is none. Opening and appending happen in one transaction, so a resend
    /// that turns out to be a duplicate opens nothing. `named`: the conversation the
    /// client said it writes to; it must be that open conversation (else `NotOpen`).
    Visitor {
        site: SiteId,
        token: String,
        named: Option<ConversationId>,
    },
}

/// Who wrote an entry; the store turns it into the entry's `sender`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    /// The conversation's visitor: `v<visitor id>`.
    Visitor,
    /// An agent: `a<agent id>`.
    Agent(AgentId),
    /// kefu itself (an idle conversation closed): `kefu`.
    System,
}

impl Author {
    /// The `sender` of this author's entries in a conversation of visitor `visitor`.
    pub fn sender(self, visitor: VisitorId) -> Sender {
        match self {
            Author::Visitor => Sender::Visitor(visitor),
            Author::Agent(a) => Sender::Agent(a),
            Author::System => Sender::System,
        }
    }

    /// The role entries of this author carry.
    pub fn role(self) -> Role {
        match self {
            Author::Visitor => Role::Visitor,
            Author::Agent(_) => Role::Agent,
            Author::System => Role::System,
        }
    }
}

/// The `cid` of an entry: the key that decides whether it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cid {
    /// Stored at most once per sender: a client's id (resends), or a server-made key that
    /// already names its conversation (`read:<conv>:<upto>`).
    Keyed(String),
    /// A fresh entry the server makes (desk entries, an accepted invitation's message):
    /// the store names it `<prefix>:<conv>:<off>`, unique by construction, so it can never
    /// collide with another entry, in any conversation, across restarts.
    Made(&'static str),
}

impl From<ClientMsgId> for Cid {
    /// A client's id: stored at most once per sender.
    fn from(id: ClientMsgId) -> Cid {
        Cid::Keyed(id.into())
    }
}

/// An entry to append; the store assigns its offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub conv: ConvRef,
    pub kind: EntryKind,
    pub author: Author,
    pub cid: Cid,
    pub body: String,
    pub ts: i64,
    /// For `read` entries: the offset read up to.
    pub upto: Option<Offset>,
    /// For offline messages: who to answer.
    pub contact: Option<Contact>,
}

impl NewEntry {
    /// An entry stamped now, with no `upto` and no contact.
    pub fn now(conv: ConvRef, kind: EntryKind, author: Author, cid: Cid, body: String) -> NewEntry {
        NewEntry {
            conv,
            kind,
            author,
            cid,
            body,
            ts: now_ms(),
            upto: None,
            contact: None,
        }
    }
}

/// Who to answer, left with an offline message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
}

/// One entry of a conversation's log, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub conv: ConversationId,
    /// Its place in the conversation: 1, 2, 3 … with no holes.
    pub off: Offset,
    pub kind: EntryKind,
    pub role: Role,
    pub sender: Sender,
    pub cid: String,
    pub body: String,
    /// Milliseconds since the Unix epoch.
    pub ts: i64,
    /// For `read` entries: the offset read up to.
    pub upto: Option<Offset>,
    /// For offline messages: who to answer.
    pub contact: Option<Contact>,
}

/// What became of one `NewEntry` in `append_batch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored now, at this offset, in the conversation `info` describes (its `head` is
    /// this entry's offset).
    New(Box<Entry>, ConvInfo),
    /// `(sender, cid)` was already stored: this is where.
    Dup {
        conv: ConversationId,
        off: Offset,
        ts: i64,
    },
    /// The cid is already stored, but in another conversation than the one named: the
    /// client reused an id (`cid_taken`). Nothing was stored.
    CidTaken,
    /// The visitor named a conversation that is not its open one. Nothing was stored.
    NotOpen,
}

/// One open conversation as the desk restores it after a start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskConv {
    pub id: ConversationId,
    pub site: SiteId,
    /// The visitor's token.
    pub token: String,
    /// The agent of the last `join`, `transfer` or `reopen` entry, if any.
    pub owner: Option<AgentId>,
    /// That agent wrote a message after it was given the conversation.
    pub answered: bool,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One node of a cluster, as its row says (`nodes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    /// Its advertised base URL.
    pub url: String,
    /// Random per start of its process.
    pub incarnation: String,
    pub started_at: i64,
    /// Its last heartbeat, ms since the Unix epoch by its own clock.
    pub beat_at: i64,
}

/// Who serves a site (`site_leases`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub site: SiteId,
    /// The holder; empty once released.
    pub node: String,
    /// The fencing epoch: one more at each acquisition.
    pub epoch: i64,
    /// After this (ms since the Unix epoch) another node may take the lease over.
    pub expires_at: i64,
}

/// What an append checks in its own transaction: that `node` still holds the lease of
/// each site the batch writes to at the epoch `epoch_of` gives (`None`: not held).
pub struct Fence<'a> {
    pub node: &'a str,
    pub epoch_of: &'a (dyn Fn(SiteId) -> Option<i64> + Sync),
}

/// An endpoint a site's events are posted to (`webhooks`), with how its deliveries go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: i64,
    pub site: SiteId,
    /// `http://` or `https://`, where each delivery is POSTed.
    pub url: String,
    /// The HMAC-SHA256 key deliveries are signed with.
    pub secret: String,
    /// The events it is sent, in `WebhookEvent` order, none twice.
    pub events: Vec<WebhookEvent>,
    /// Deliveries wait (and keep being recorded) until it is resumed.
    pub paused: bool,
    pub created_at: i64,
    /// The last time it answered 2xx.
    pub last_ok_at: Option<i64>,
    /// The last attempt that failed, and when (kept after later successes: `last_ok_at`
    /// tells which came last).
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    /// Its deliveries still pending, and the earliest time one of them is due.
    pub pending: u64,
    pub next_at: Option<i64>,
}

/// A webhook as an admin registers or changes it: what is `None` stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookChange {
    pub url: Option<String>,
    pub events: Option<Vec<WebhookEvent>>,
    pub paused: Option<bool>,
}

/// One event to deliver to one webhook (`webhook_deliveries`): the entry at `off` of
/// conversation `conv`, as `event`. Recorded in the transaction that appends the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub webhook: i64,
    pub conv: ConversationId,
    pub off: Offset,
    pub event: WebhookEvent,
    /// When the entry was committed (ms since the Unix epoch).
    pub created_at: i64,
    /// Attempts made so far.
    pub attempts: u32,
    pub state: DeliveryState,
    /// When the next attempt is due (pending deliveries only).
    pub next_at: Option<i64>,
    /// The last attempt's HTTP status, if it got one, and what went wrong, if anything.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

impl Delivery {
    /// The event's id, the same at every attempt and to every endpoint: receivers dedupe
    /// by it. Unique by construction (a conversation id is never reused, nor an offset
    /// within it, and one entry makes each event at most once).
    pub fn event_id(&self) -> String {
        format!("{}.{}.{}", self.conv, self.off.0, self.event)
    }
}

/// A delivery due now, with the webhook it goes to (`Webhooks::due_deliveries`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    pub delivery: Delivery,
    pub site: SiteId,
    pub url: String,
    pub secret: String,
}

/// What one attempt at a delivery came to (`Webhooks::record_attempt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The endpoint answered 2xx.
    Delivered { status: u16 },
    /// It failed; try again at `at`.
    Retry {
        at: i64,
        status: Option<u16>,
        error: String,
    },
    /// It failed and will not be tried again (unless an admin asks).
    Failed { status: Option<u16>, error: String },
}
