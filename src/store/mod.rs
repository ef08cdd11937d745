//! The canonical log and everything else kefu keeps on disk, behind the `Store` trait.
//!
//! Owns: the `Store` trait (synchronous: callers run it on blocking threads), the records
//! it returns, and the diesel backends (`sqlite` by default; PostgreSQL and MySQL slot in
//! as cargo features behind the same trait). Knows nothing of hyper, transports or
//! sessions: it stores what it is given and assigns offsets inside its transactions.

mod models;
pub(crate) mod schema;
pub mod sqlite;

use crate::ids::{AgentId, ConversationId, Epoch, Offset, SiteId, VisitorId};
use crate::protocol::{Contact, EntryFrame, Role};

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
    /// Transports this site allows (`ws`, `lp`, `xdr`, `jsonp`).
    pub transports: Vec<String>,
    /// Visitors must carry an identity signed with `secret`.
    pub require_identity: bool,
}

impl Site {
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

    /// Does this site allow transport `name`?
    pub fn allows_transport(&self, name: &str) -> bool {
        self.transports.iter().any(|t| t == name)
    }
}

/// One agent account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub id: AgentId,
    pub site: SiteId,
    pub email: String,
    pub name: String,
    pub role: String,
}

/// A canned response: text an agent inserts by typing `/shortcut`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Canned {
    pub id: i64,
    pub shortcut: String,
    pub text: String,
}

/// An automatic invitation rule (`docs/protocol.md` §7).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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

/// An entry to append; the store assigns its offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub conv: ConvRef,
    pub kind: String,
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
    pub fn now(conv: ConvRef, kind: &str, author: Author, cid: Cid, body: String) -> NewEntry {
        NewEntry {
            conv,
            kind: kind.to_string(),
            author,
            cid,
            body,
            ts: now_ms(),
            upto: None,
            contact: None,
        }
    }
}

/// What became of one `NewEntry` in `append_batch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored now, at this offset, in the conversation `info` describes (its `head` is
    /// this entry's offset).
    New(Box<EntryFrame>, ConvInfo),
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

/// Store failures. All of them mean "not done": nothing was acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("database connection: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("connection pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("migrations: {0}")]
    Migration(String),
    #[error("unsupported database url {0:?} (expected sqlite://PATH)")]
    BadUrl(String),
    #[error("{0}")]
    Invalid(String),
    /// A uniqueness rule or a limit: the caller asked for something already taken.
    #[error("{0}")]
    Conflict(String),
    /// The database is no longer the one this process opened (its file was deleted or
    /// replaced). Nothing more is written; see the log for what was saved.
    #[error("database lost: {0}")]
    Lost(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The canonical log. Every method is synchronous and may block: call it from a blocking
/// thread, never from async code directly.
pub trait Store: Send + Sync + 'static {
    /// Is the store reachable, and still the database it opened? (An SQLite file deleted
    /// or replaced under a running server is `Lost`.)
    fn ping(&self) -> StoreResult<()>;

    fn site_by_key(&self, key: &str) -> StoreResult<Option<Site>>;
    fn site(&self, id: SiteId) -> StoreResult<Option<Site>>;
    fn sites(&self) -> StoreResult<Vec<Site>>;
    fn add_site(&self, name: &str, origins: &[String]) -> StoreResult<Site>;
    /// Rename a site and/or replace its allowed origins (`None` leaves it as it is).
    fn update_site(
        &self,
        site: SiteId,
        name: Option<&str>,
        origins: Option<&[String]>,
    ) -> StoreResult<()>;

    /// Add an agent; `password_hash` is an argon2 PHC string made by the caller.
    fn add_agent(
        &self,
        site: SiteId,
        email: &str,
        name: &str,
        role: &str,
        password_hash: &str,
    ) -> StoreResult<Agent>;
    fn agents(&self, site: SiteId) -> StoreResult<Vec<Agent>>;

    /// Replace an agent's password hash; false if there is no such agent on the site.
    fn set_password(&self, site: SiteId, email: &str, password_hash: &str) -> StoreResult<bool>;

    /// The transports a site allows (any of `ws`, `lp`, `xdr`, `jsonp`).
    fn set_transports(&self, site: SiteId, transports: &[String]) -> StoreResult<()>;

    /// Require (or stop requiring) verified visitor identities on a site.
    fn set_require_identity(&self, site: SiteId, required: bool) -> StoreResult<()>;

    /// Agents with this email (one per site at most), with their password hashes.
    fn agents_by_email(&self, email: &str) -> StoreResult<Vec<(Agent, String)>>;

    /// Record a sign-in token (by its hash) valid until `expires_at` (ms).
    fn add_token(&self, agent: AgentId, token_hash: &str, expires_at: i64) -> StoreResult<()>;

    /// The agent a token hash belongs to, if the token is neither expired nor revoked.
    fn agent_by_token(&self, token_hash: &str, now: i64) -> StoreResult<Option<Agent>>;

    /// Revoke a token; false if it did not exist.
    fn revoke_token(&self, token_hash: &str, now: i64) -> StoreResult<bool>;

    /// Messages of a site's conversations whose text contains `needle` (case-insensitive
    /// for ASCII), newest first, at most `limit`.
    fn search(&self, site: SiteId, needle: &str, limit: usize) -> StoreResult<Vec<EntryFrame>>;

    /// Open conversations of a site, newest first, at most `limit`.
    fn open_conversations(&self, site: SiteId, limit: usize) -> StoreResult<Vec<ConvInfo>>;

    /// The open conversation of visitor `token` on `site`, if any.
    fn open_conversation_of(&self, site: SiteId, token: &str) -> StoreResult<Option<ConvInfo>>;

    /// Has visitor `token` of `site` ever written (is there a visitor row)?
    fn visitor_exists(&self, site: SiteId, token: &str) -> StoreResult<bool>;

    fn conversation(&self, id: ConversationId) -> StoreResult<Option<ConvInfo>>;

    /// Every open conversation, oldest first, with its owner as the log says (for the desk
    /// after a start).
    fn desk_conversations(&self) -> StoreResult<Vec<DeskConv>>;

    /// Open conversations whose last entry (or, when empty, whose creation) is older than
    /// `before` (ms since the Unix epoch), oldest first, at most `limit`.
    fn idle_conversations(&self, before: i64, limit: usize) -> StoreResult<Vec<DeskConv>>;

    /// Reopen a closed conversation, unless its visitor has another open one.
    fn reopen_conversation(&self, id: ConversationId) -> StoreResult<Reopen>;

    /// The canned responses of a site, by shortcut.
    fn canned(&self, site: SiteId) -> StoreResult<Vec<Canned>>;
    /// Add a canned response; `Conflict` if the shortcut is taken or the site has `max`.
    fn add_canned(
        &self,
        site: SiteId,
        shortcut: &str,
        text: &str,
        max: usize,
    ) -> StoreResult<Canned>;
    /// Delete a canned response of the site; false if there is none with that id.
    fn delete_canned(&self, site: SiteId, id: i64) -> StoreResult<bool>;

    /// The automatic invitation rules of a site, oldest first.
    fn rules(&self, site: SiteId) -> StoreResult<Vec<InviteRule>>;
    /// Add a rule (its `id` and `site` are ignored); `Conflict` if the site has `max`.
    fn add_rule(&self, site: SiteId, rule: &InviteRule, max: usize) -> StoreResult<InviteRule>;
    /// Delete a rule of the site; false if there is none with that id.
    fn delete_rule(&self, site: SiteId, id: i64) -> StoreResult<bool>;

    /// Append a batch in ONE transaction (group commit), in order. Offsets are assigned
    /// here, contiguous per conversation. A `Cid::Keyed` whose `(sender, cid)` is already
    /// stored (or repeated within the batch) is not stored again (`Dup`, or `CidTaken` when
    /// it was stored in another conversation than the one this entry names). A visitor's
    /// entry (`ConvRef::Visitor`) opens the visitor's conversation in the same transaction
    /// when it has none. The conversation rows follow the log in the same transaction: a
    /// `close` entry closes its conversation, and a `join`, `transfer` or `reopen` entry
    /// makes its author the owner. All or nothing.
    fn append_batch(&self, batch: &[NewEntry]) -> StoreResult<Vec<Appended>>;

    /// Up to `limit` entries of `conv` with offset > `after`, in offset order.
    fn read_after(
        &self,
        conv: ConversationId,
        after: Offset,
        limit: usize,
    ) -> StoreResult<Vec<EntryFrame>>;
}

/// Open the store named by `url`, run its migrations, and return it.
pub fn open(url: &str, read_pool_size: u32, synchronous_full: bool) -> StoreResult<Box<dyn Store>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        return Ok(Box::new(sqlite::SqliteStore::open(
            path,
            read_pool_size,
            synchronous_full,
        )?));
    }
    Err(StoreError::BadUrl(url.to_string()))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
