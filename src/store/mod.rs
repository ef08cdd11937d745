//! The canonical log and everything else kefu keeps, behind six service traits.
//!
//! Owns: the service traits (`Log`, `Directory`, `Settings`, `Search`, `Webhooks`,
//! `Cluster`) and `Store`, which is all of them; the records they take and return
//! (`records`), their error type (`error`), the rule of a group commit every backend
//! applies (`batch`, which also names the webhook deliveries a commit records), and
//! choosing a backend from the database URL. The backends: `sqlite` (the embedded default),
//! `postgres` and `mysql` (database servers, behind the cargo features of those names),
//! all three running the SQL backends' shared queries in `sql`; and `memory` (nothing
//! kept on disk, for tests and trials). Every backend passes the same suite
//! (`conformance`); `testdb` makes the fresh server databases its runs need.
//! Knows nothing of hyper, transports, sessions or the wire: it stores what it is given
//! and assigns offsets inside its transactions. Every method is synchronous and may
//! block: callers run them on blocking threads.

pub(crate) mod batch;
#[cfg(test)]
pub(crate) mod conformance;
mod error;
pub(crate) mod memory;
#[cfg(feature = "mysql")]
pub(crate) mod mysql;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
mod records;
pub(crate) mod sql;
pub(crate) mod sqlite;
#[cfg(any(feature = "postgres", feature = "mysql"))]
#[doc(hidden)]
pub mod testdb;

pub use error::{StoreError, StoreResult};
pub use records::{
    now_ms, Agent, Appended, Attempt, Author, Canned, Cid, Contact, ConvFilter, ConvInfo, ConvRef,
    ConvSummary, DeletedVisitor, Delivery, DeskConv, DueDelivery, Entry, Fence, InviteRule, Lease,
    NewEntry, Node, Reopen, Site, Webhook, WebhookChange,
};

use crate::config::{Config, Synchronous};
use crate::ids::{AgentId, ConversationId, Offset, SiteId, VisitorId};
use crate::vocab::{AgentRole, DeliveryState, TransportKind};

/// The conversations and their logs.
pub trait Log {
    /// Is the store reachable, and still the database it opened? (An SQLite file deleted
    /// or replaced under a running server is `Lost`.)
    fn ping(&self) -> StoreResult<()>;

    /// Append a batch in ONE transaction (group commit), in order. Offsets are assigned
    /// here, contiguous per conversation. A `Cid::Keyed` whose `(sender, cid)` is already
    /// stored (or repeated within the batch) is not stored again (`Dup`, or `CidTaken` when
    /// it was stored in another conversation than the one this entry names). A visitor's
    /// entry (`ConvRef::Visitor`) opens the visitor's conversation in the same transaction
    /// when it has none. The conversation rows follow the log in the same transaction: a
    /// `close` entry closes its conversation, and a `join`, `transfer` or `reopen` entry
    /// makes its author the owner. All or nothing. (`batch` is the rule, for every backend.)
    fn append_batch(&self, batch: &[NewEntry]) -> StoreResult<Vec<Appended>> {
        self.append_fenced(batch, None)
    }

    /// `append_batch`, checking in the same transaction, when `fence` is given, that its
    /// node holds the lease of every site the batch writes to at the epoch the fence
    /// names (the lease rows are read with a lock where the backend has row locks, so a
    /// takeover waits for this commit). Otherwise nothing is written: `Fenced`, naming
    /// every such site.
    fn append_fenced(
        &self,
        batch: &[NewEntry],
        fence: Option<&Fence<'_>>,
    ) -> StoreResult<Vec<Appended>>;

    /// Up to `limit` entries of `conv` with offset > `after`, in offset order.
    fn read_after(
        &self,
        conv: ConversationId,
        after: Offset,
        limit: usize,
    ) -> StoreResult<Vec<Entry>>;

    fn conversation(&self, id: ConversationId) -> StoreResult<Option<ConvInfo>>;

    /// Conversations of a site that `filter` lets through, newest first (by id), at most
    /// `limit`: the history list, paged with `filter.before`.
    fn list_conversations(
        &self,
        site: SiteId,
        filter: &ConvFilter,
        limit: usize,
    ) -> StoreResult<Vec<ConvSummary>>;

    /// Delete visitor `visitor` of `site` and everything stored of it — its conversations
    /// and their entries — in one transaction; `None` when the site has no such visitor.
    fn delete_visitor(
        &self,
        site: SiteId,
        visitor: VisitorId,
    ) -> StoreResult<Option<DeletedVisitor>>;

    /// The open conversation of visitor `token` on `site`, if any.
    fn open_conversation_of(&self, site: SiteId, token: &str) -> StoreResult<Option<ConvInfo>>;

    /// Every open conversation (of `site`, or of every site), oldest first, with its owner
    /// as the log says (for the desk after a start, or when a node takes a site over).
    fn desk_conversations(&self, site: Option<SiteId>) -> StoreResult<Vec<DeskConv>>;

    /// Open conversations whose last entry (or, when empty, whose creation) is older than
    /// `before` (ms since the Unix epoch), of `sites` (or of every site), with an id above
    /// `after`, by id, at most `limit`.
    fn idle_conversations(
        &self,
        before: i64,
        sites: Option<&[SiteId]>,
        after: ConversationId,
        limit: usize,
    ) -> StoreResult<Vec<DeskConv>>;

    /// Reopen a closed conversation, unless its visitor has another open one.
    fn reopen_conversation(&self, id: ConversationId) -> StoreResult<Reopen> {
        self.reopen_fenced(id, None)
    }

    /// `reopen_conversation`, fenced as `append_fenced` is: with `fence`, nothing changes
    /// unless its node holds the conversation's site's lease at the fence's epoch
    /// (`Fenced`), checked in the same transaction.
    fn reopen_fenced(&self, id: ConversationId, fence: Option<&Fence<'_>>) -> StoreResult<Reopen>;
}

/// Who exists: sites, agents, their sign-in tokens, and visitors.
pub trait Directory {
    fn site_by_key(&self, key: &str) -> StoreResult<Option<Site>>;
    fn site(&self, id: SiteId) -> StoreResult<Option<Site>>;
    /// Every site, oldest first.
    fn sites(&self) -> StoreResult<Vec<Site>>;
    /// A new site with a fresh key and secret, allowing `origins` and every transport.
    fn add_site(&self, name: &str, origins: &[String]) -> StoreResult<Site>;
    /// Rename a site and/or replace its allowed origins (`None` leaves it as it is).
    fn update_site(
        &self,
        site: SiteId,
        name: Option<&str>,
        origins: Option<&[String]>,
    ) -> StoreResult<()>;

    /// Add an agent; `password_hash` is an argon2 PHC string made by the caller.
    /// `Conflict` if the email already has an account on the site, a removed one included
    /// (the reason then says the account was removed).
    fn add_agent(
        &self,
        site: SiteId,
        email: &str,
        name: &str,
        role: AgentRole,
        password_hash: &str,
    ) -> StoreResult<Agent>;
    /// A new site (fresh key and secret, allowing `origins` and every transport, as
    /// `add_site`) whose first agent is an admin with this email, name and password hash,
    /// in one transaction. `Conflict` when active admin accounts with this email already
    /// exist on `max` sites or more (an account removed from a site does not count).
    /// Two calls at once for one email cannot both pass: the second waits for the first
    /// (where the backend locks rows, on the email's accounts, which must then be at least
    /// one, as the calling admin's own is) and counts the site it added.
    fn add_site_with_admin(
        &self,
        name: &str,
        origins: &[String],
        email: &str,
        agent_name: &str,
        password_hash: &str,
        max: usize,
    ) -> StoreResult<(Site, Agent)>;
    /// The agents of a site, oldest first: every one, the removed ones included (with
    /// their `removed_at`), so the history keeps their names.
    fn agents(&self, site: SiteId) -> StoreResult<Vec<Agent>>;
    /// Rename agent `id` of `site` and/or change its role (`None` leaves it), in one
    /// transaction; `None` when the site has no such agent, or it was removed. `Conflict`
    /// when it would leave the site without an admin that is not removed.
    fn update_agent(
        &self,
        site: SiteId,
        id: AgentId,
        name: Option<&str>,
        role: Option<AgentRole>,
    ) -> StoreResult<Option<Agent>>;
    /// Remove agent `id` of `site`, in one transaction: its `removed_at` becomes `now`,
    /// and so does the `revoked_at` of every sign-in token of it not yet revoked. Its row
    /// stays (the history keeps naming it), but it can no longer sign in nor use a token,
    /// and it is no admin. The agent as it is now; `None` when the site has no such agent
    /// or it was removed already. `Conflict` when it is the site's last admin that is not
    /// removed (the admins are read as `update_agent` reads them, so two removals at once
    /// cannot both pass).
    fn remove_agent(&self, site: SiteId, id: AgentId, now: i64) -> StoreResult<Option<Agent>>;
    /// Agents with this email (one per site at most) that are not removed (a removed
    /// account cannot sign in), with their password hashes.
    fn agents_by_email(&self, email: &str) -> StoreResult<Vec<(Agent, String)>>;
    /// Replace an agent's password hash and revoke every sign-in token it holds (a new
    /// password ends every session of the old one); false if there is no such agent on
    /// the site, or it was removed.
    fn set_password(&self, site: SiteId, email: &str, password_hash: &str) -> StoreResult<bool>;

    /// Record a sign-in token (by its hash) valid until `expires_at` (ms).
    fn add_token(&self, agent: AgentId, token_hash: &str, expires_at: i64) -> StoreResult<()>;
    /// The agent a token hash belongs to, if the token is neither expired nor revoked
    /// and the agent was not removed.
    fn agent_by_token(&self, token_hash: &str, now: i64) -> StoreResult<Option<Agent>>;
    /// Revoke a token; false if it did not exist.
    fn revoke_token(&self, token_hash: &str, now: i64) -> StoreResult<bool>;

    /// Has visitor `token` of `site` ever written (is there a visitor row)?
    fn visitor_exists(&self, site: SiteId, token: &str) -> StoreResult<bool>;
}

/// What a site's admins set: transports, identity, canned responses, invitation rules.
pub trait Settings {
    /// The transports a site allows.
    fn set_transports(&self, site: SiteId, transports: &[TransportKind]) -> StoreResult<()>;
    /// Require (or stop requiring) verified visitor identities on a site.
    fn set_require_identity(&self, site: SiteId, required: bool) -> StoreResult<()>;

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
}

/// Finding messages by their text.
pub trait Search {
    /// Messages (`msg` entries) of a site's conversations whose body contains `needle`
    /// literally (no wildcards), ignoring the case of ASCII letters; newest first (by
    /// `ts`, then offset), at most `limit`.
    fn search(&self, site: SiteId, needle: &str, limit: usize) -> StoreResult<Vec<Entry>>;
}

/// Webhooks: a site's endpoints, and the durable outbox of their deliveries
/// (`webhook_deliveries`). A delivery is recorded by the append that commits its entry
/// (`Log::append_fenced`: one per event of each new entry, `WebhookEvent::of_entry`, for
/// every webhook of the entry's site that takes that event, paused or not), so no event
/// is lost between the log and the outbox; `delete_visitor` deletes the deliveries of the
/// conversations it deletes.
pub trait Webhooks {
    /// The webhooks of a site, oldest first, each with its pending count.
    fn webhooks(&self, site: SiteId) -> StoreResult<Vec<Webhook>>;
    /// Register a webhook (`change.url` and `change.events` must be given; `paused`
    /// defaults to false); `Conflict` if the site has `max`.
    fn add_webhook(
        &self,
        site: SiteId,
        change: &WebhookChange,
        secret: &str,
        max: usize,
    ) -> StoreResult<Webhook>;
    /// Change webhook `id` of `site`; `None` when the site has no such webhook.
    fn update_webhook(
        &self,
        site: SiteId,
        id: i64,
        change: &WebhookChange,
    ) -> StoreResult<Option<Webhook>>;
    /// Delete webhook `id` of `site` and all its deliveries; false if there is none.
    fn delete_webhook(&self, site: SiteId, id: i64) -> StoreResult<bool>;
    /// Deliveries of webhook `id` of `site` (in `state`, when given), newest first (by
    /// id), with an id below `before` when given, at most `limit`; `None` when the site
    /// has no such webhook.
    fn deliveries(
        &self,
        site: SiteId,
        id: i64,
        state: Option<DeliveryState>,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Option<Vec<Delivery>>>;
    /// Pending deliveries due at `now` (`next_at <= now`) of webhooks that are not
    /// paused and not in `skip`, of `sites` (or of every site), earliest due first (then
    /// by id), at most `limit`. (`skip`: webhooks the caller has no room for now, so one
    /// endpoint's backlog never hides the others' deliveries.)
    fn due_deliveries(
        &self,
        now: i64,
        sites: Option<&[SiteId]>,
        skip: &[i64],
        limit: usize,
    ) -> StoreResult<Vec<DueDelivery>>;
    /// Record an attempt at pending delivery `id` made at `now`: one more attempt, its
    /// outcome, and the webhook's `last_ok_at` or `last_error(_at)`. False (nothing
    /// changed) when the delivery is gone or no longer pending.
    fn record_attempt(&self, id: i64, now: i64, attempt: &Attempt) -> StoreResult<bool>;
    /// Make failed delivery `delivery` of webhook `id` of `site` pending again, due at
    /// `now`; false when there is no such failed delivery.
    fn retry_delivery(&self, site: SiteId, id: i64, delivery: i64, now: i64) -> StoreResult<bool>;
    /// Housekeeping: pending deliveries due before `give_up_before` become failed ("not
    /// delivered within the retry period": nothing attempted them for that long — a
    /// paused webhook's; a delivery being retried is always due within its period, and
    /// one an admin sent again is due from then), and delivered or failed ones created
    /// before `forget_before` are deleted. How many rows changed.
    fn prune_deliveries(&self, give_up_before: i64, forget_before: i64) -> StoreResult<u64>;
}

/// The nodes of a cluster sharing one database, and who serves each site: a lease with a
/// fencing epoch (`docs/deploy.md`, "Several nodes"). Only unique keys, conditional
/// updates and ordinary transactions: no advisory lock, no notification channel. Times
/// are ms since the Unix epoch by the calling node's clock.
pub trait Cluster {
    /// The row of node `id`, if there is one.
    fn node(&self, id: &str) -> StoreResult<Option<Node>>;
    /// Every node row, by id.
    fn nodes(&self) -> StoreResult<Vec<Node>>;
    /// Claim the row of `node.id` for this process: insert it when there is none
    /// (`seen_beat: None`), or replace it when its `beat_at` is still `seen_beat` (the
    /// caller saw that beat and saw no newer one while the node would have been dead).
    /// `Conflict` when the row exists and is not as the caller saw it.
    fn claim_node(&self, node: &Node, seen_beat: Option<i64>) -> StoreResult<()>;
    /// A heartbeat of node `id`: its `beat_at` becomes `now` and its `url` this one,
    /// if its row still names `incarnation`. False when it does not (another process
    /// claimed the id after this one was found dead).
    fn beat(&self, id: &str, incarnation: &str, url: &str, now: i64) -> StoreResult<bool>;
    /// A clean stop: release every lease node `id` holds and mark it dead at once.
    fn leave(&self, id: &str, incarnation: &str) -> StoreResult<()>;
    /// Every site lease, by site.
    fn leases(&self) -> StoreResult<Vec<Lease>>;
    /// Take the lease of `site` for `node` until `until` when nobody holds it: it has
    /// none yet, was released, or expired before `now`. Its epoch becomes one more than it
    /// was (1 the first time), so whatever held it before is fenced off. `None` when
    /// another node holds it.
    fn acquire(&self, site: SiteId, node: &str, now: i64, until: i64)
        -> StoreResult<Option<Lease>>;
    /// Extend to `until` every lease `node` holds, and return them.
    fn renew(&self, node: &str, until: i64) -> StoreResult<Vec<Lease>>;
    /// Give up the lease of `site` if `node` holds it at `epoch`; false if not.
    fn release(&self, site: SiteId, node: &str, epoch: i64) -> StoreResult<bool>;
}

/// Everything kefu keeps: what the server holds as `Arc<dyn Store>`.
pub trait Store:
    Log + Directory + Settings + Search + Webhooks + Cluster + Send + Sync + 'static
{
}

impl<T: Log + Directory + Settings + Search + Webhooks + Cluster + Send + Sync + 'static> Store
    for T
{
}

/// How to open a backend, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Pooled connections for reads (SQLite: the readers beside its one writer; the
    /// database servers: the read pool beside a write pool of `sql::pools::WRITERS`).
    pub pool_size: u32,
    /// SQLite's `synchronous`: `Full` (every commit fsynced, survives power loss) or
    /// `Normal` (survives a process crash). Other backends ignore it.
    pub synchronous: Synchronous,
    /// The database servers: the longest a write transaction may keep its row locks
    /// while its client says nothing (a process frozen or cut off mid-transaction: the
    /// server then ends it, and its commit fails), and the longest a write waits for a
    /// row lock. A third of the time a node takes to be declared dead, so that a frozen
    /// node's locks are gone before its leases expire. SQLite ignores it.
    pub hold: std::time::Duration,
}

impl Options {
    pub fn from_config(config: &Config) -> Options {
        Options {
            pool_size: config.read_pool_size,
            synchronous: config.sqlite_synchronous,
            hold: config.node_dead_after() / 3,
        }
    }
}

impl Default for Options {
    /// What the default configuration says.
    fn default() -> Options {
        Options::from_config(&Config::default())
    }
}

/// What `url` names: its scheme and the rest, or why it names nothing kefu opens.
fn parse_url(url: &str) -> StoreResult<(&str, &str)> {
    let bad = || {
        StoreError::Invalid(format!(
            "unsupported database url {url:?} (expected sqlite://PATH, postgres://…, \
             mysql://… or memory://)"
        ))
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    match scheme {
        "sqlite" | "postgres" | "postgresql" | "mysql" if !rest.is_empty() => Ok((scheme, rest)),
        "memory" if rest.is_empty() => Ok((scheme, rest)),
        _ => Err(bad()),
    }
}

/// This build has no backend for `scheme` (one of the database servers): which cargo
/// feature it needs.
fn not_built(scheme: &str) -> StoreError {
    let feature = if scheme == "mysql" {
        "mysql"
    } else {
        "postgres"
    };
    StoreError::Invalid(format!(
        "{scheme}:// is a backend this build of kefu lacks: build it with --features {feature}"
    ))
}

/// Open the store named by `url` and run its migrations. The scheme picks the backend:
/// `sqlite://PATH` (a file, created if needed), `postgres://…` or `postgresql://…` and
/// `mysql://…` (a database on a server, when built with the cargo feature `postgres` or
/// `mysql`: libpq's and diesel's URL forms), or `memory://` (nothing survives the
/// process: for tests and trials).
pub fn open(url: &str, options: &Options) -> StoreResult<Box<dyn Store>> {
    let (scheme, rest) = parse_url(url)?;
    match scheme {
        "sqlite" => Ok(Box::new(sqlite::SqliteStore::open(rest, options)?)),
        "memory" => Ok(Box::new(memory::MemoryStore::new())),
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => Ok(Box::new(postgres::PgStore::open(url, options)?)),
        #[cfg(feature = "mysql")]
        "mysql" => Ok(Box::new(mysql::MysqlStore::open(url, options)?)),
        _ => Err(not_built(scheme)),
    }
}

/// Run the pending migrations of the database `url` names, and nothing else (`kefu
/// migrate`); the versions applied, oldest first (none when it was up to date). Opening
/// a store runs them too.
pub fn migrate(url: &str) -> StoreResult<Vec<String>> {
    let (scheme, rest) = parse_url(url)?;
    match scheme {
        "sqlite" => sqlite::migrate(rest),
        "memory" => Ok(Vec::new()),
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => postgres::migrate(url),
        #[cfg(feature = "mysql")]
        "mysql" => mysql::migrate(url),
        _ => Err(not_built(scheme)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> String {
        match open(url, &Options::default()) {
            Err(StoreError::Invalid(why)) => why,
            Err(e) => panic!("{url}: {e}"),
            Ok(_) => panic!("{url} opened"),
        }
    }

    #[test]
    fn the_url_scheme_picks_the_backend() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("k.db").display());
        open(&url, &Options::default()).unwrap().ping().unwrap();
        let m = open("memory://", &Options::default()).unwrap();
        assert!(m.sites().unwrap().is_empty());
        #[cfg(not(feature = "postgres"))]
        {
            assert!(refused("postgres://db/kefu").contains("--features postgres"));
            assert!(refused("postgresql://db/kefu").contains("--features postgres"));
        }
        #[cfg(not(feature = "mysql"))]
        assert!(refused("mysql://db/kefu").contains("--features mysql"));
        for bad in [
            "sqlite://",
            "memory://x",
            "redis://x",
            "kefu.db",
            "postgres://",
            "mysql://",
        ] {
            assert!(refused(bad).contains("unsupported database url"), "{bad}");
        }
    }
}
