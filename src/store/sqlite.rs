//! The embedded default backend: SQLite through diesel, WAL mode, one writer connection
//! plus a small pool of readers.
//!
//! Owns: connection set-up (pragmas), migrations, and the SQL of every `Store` method.
//! Knows nothing of the async runtime: it blocks, and its callers run it on blocking
//! threads.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::models::*;
use super::schema::{
    agent_tokens, agents, canned_responses, conversations, entries, invite_rules, sites, visitors,
};
use super::{
    now_ms, Agent, Appended, Canned, ConvInfo, InviteRule, NewEntry, Reopen, Site, Store,
    StoreError, StoreResult,
};
use crate::ids::{random_token, AgentId, ConversationId, Epoch, Offset, SiteId};
use crate::protocol::EntryFrame;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("diesel-migrations/sqlite");

/// Rows per multi-row INSERT: 8 columns each, under SQLite's 32 766 bound parameters.
const ROWS_PER_INSERT: usize = 2000;
/// Ids per `IN (…)` list, under the same bound.
const IDS_PER_QUERY: usize = 30_000;

/// Pragmas applied to every connection.
#[derive(Debug, Clone, Copy)]
struct Pragmas {
    synchronous_full: bool,
}

impl Pragmas {
    fn sql(self) -> String {
        format!(
            "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; \
             PRAGMA foreign_keys = ON;",
            if self.synchronous_full {
                "FULL"
            } else {
                "NORMAL"
            }
        )
    }
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&self.sql())
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// SQLite store: `writer` is the only connection that writes (SQLite allows one writer at
/// a time; funnelling every write through one connection avoids `SQLITE_BUSY`), `readers`
/// serve resumes and lookups concurrently thanks to WAL.
pub struct SqliteStore {
    writer: Mutex<SqliteConnection>,
    readers: Pool<ConnectionManager<SqliteConnection>>,
}

impl SqliteStore {
    /// Open (creating if needed) the database file at `path` and run pending migrations.
    pub fn open(path: &str, read_pool_size: u32, synchronous_full: bool) -> StoreResult<Self> {
        if path.is_empty() {
            return Err(StoreError::BadUrl("sqlite://".into()));
        }
        if let Some(dir) = Path::new(path).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Invalid(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
        }
        let pragmas = Pragmas { synchronous_full };
        let mut writer = SqliteConnection::establish(path)?;
        writer.batch_execute(&pragmas.sql())?;
        writer
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        let readers = Pool::builder()
            .max_size(read_pool_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .connection_customizer(Box::new(pragmas))
            .build(ConnectionManager::<SqliteConnection>::new(path))?;
        Ok(SqliteStore {
            writer: Mutex::new(writer),
            readers,
        })
    }

    fn write<T>(&self, f: impl FnOnce(&mut SqliteConnection) -> StoreResult<T>) -> StoreResult<T> {
        // A poisoned lock only means another write panicked; the connection is still usable
        // because every write runs in its own transaction.
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn)
    }

    fn read<T>(&self, f: impl FnOnce(&mut SqliteConnection) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.readers.get()?;
        f(&mut conn)
    }
}

fn head_of(conn: &mut SqliteConnection, conv: i64) -> QueryResult<Option<i64>> {
    entries::table
        .filter(entries::conversation_id.eq(conv))
        .select(diesel::dsl::max(entries::off))
        .first(conn)
}

fn find_open_conversation(
    conn: &mut SqliteConnection,
    site: SiteId,
    token: &str,
) -> QueryResult<Option<ConvRow>> {
    conversations::table
        .inner_join(visitors::table)
        .filter(visitors::site_id.eq(site.0))
        .filter(visitors::token.eq(token))
        .filter(conversations::status.eq("open"))
        .order(conversations::id.desc())
        .select(ConvRow::as_select())
        .first(conn)
        .optional()
}

/// A site holding `n` of `what` may add one more only below `max`.
fn room(n: i64, max: usize, what: &str) -> StoreResult<()> {
    if n as usize >= max {
        return Err(StoreError::Conflict(format!(
            "the site has {max} {what} already"
        )));
    }
    Ok(())
}

/// A unique-constraint violation is the caller's conflict, not a store failure.
fn taken(e: diesel::result::Error, what: &str) -> StoreError {
    match e {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => StoreError::Conflict(what.to_string()),
        e => e.into(),
    }
}

impl Store for SqliteStore {
    fn ping(&self) -> StoreResult<()> {
        self.read(|c| Ok(c.batch_execute("SELECT 1")?))
    }

    fn site(&self, id: SiteId) -> StoreResult<Option<Site>> {
        self.read(|c| {
            Ok(sites::table
                .find(id.0)
                .select(SiteRow::as_select())
                .first(c)
                .optional()?
                .map(Site::from))
        })
    }

    fn site_by_key(&self, key: &str) -> StoreResult<Option<Site>> {
        self.read(|c| {
            Ok(sites::table
                .filter(sites::key.eq(key))
                .select(SiteRow::as_select())
                .first(c)
                .optional()?
                .map(Site::from))
        })
    }

    fn sites(&self) -> StoreResult<Vec<Site>> {
        self.read(|c| {
            Ok(sites::table
                .order(sites::id)
                .select(SiteRow::as_select())
                .load(c)?
                .into_iter()
                .map(Site::from)
                .collect())
        })
    }

    fn add_site(&self, name: &str, origins: &[String]) -> StoreResult<Site> {
        let key = format!("s_{}", random_token(10).to_lowercase());
        let secret = random_token(32);
        let origins = origins.join(" ");
        self.write(|c| {
            let row = NewSiteRow {
                key: &key,
                name,
                secret: &secret,
                allowed_origins: &origins,
                transports: "ws lp xdr jsonp",
                created_at: now_ms(),
            };
            Ok(diesel::insert_into(sites::table)
                .values(&row)
                .returning(SiteRow::as_returning())
                .get_result(c)?
                .into())
        })
    }

    fn add_agent(
        &self,
        site: SiteId,
        email: &str,
        name: &str,
        role: &str,
        password_hash: &str,
    ) -> StoreResult<Agent> {
        self.write(|c| {
            let row = NewAgentRow {
                site_id: site.0,
                email,
                name,
                role,
                password_hash,
                created_at: now_ms(),
            };
            Ok(diesel::insert_into(agents::table)
                .values(&row)
                .returning(AgentRow::as_returning())
                .get_result(c)
                .map_err(|e| taken(e, "that email already has an account on the site"))?
                .into())
        })
    }

    fn agents(&self, site: SiteId) -> StoreResult<Vec<Agent>> {
        self.read(|c| {
            Ok(agents::table
                .filter(agents::site_id.eq(site.0))
                .order(agents::id)
                .select(AgentRow::as_select())
                .load(c)?
                .into_iter()
                .map(Agent::from)
                .collect())
        })
    }

    fn set_password(&self, site: SiteId, email: &str, password_hash: &str) -> StoreResult<bool> {
        self.write(|c| {
            let n = diesel::update(
                agents::table
                    .filter(agents::site_id.eq(site.0))
                    .filter(agents::email.eq(email)),
            )
            .set(agents::password_hash.eq(password_hash))
            .execute(c)?;
            Ok(n > 0)
        })
    }

    fn set_transports(&self, site: SiteId, transports: &[String]) -> StoreResult<()> {
        let list = transports.join(" ");
        self.write(|c| {
            diesel::update(sites::table.find(site.0))
                .set(sites::transports.eq(&list))
                .execute(c)?;
            Ok(())
        })
    }

    fn set_require_identity(&self, site: SiteId, required: bool) -> StoreResult<()> {
        self.write(|c| {
            diesel::update(sites::table.find(site.0))
                .set(sites::require_identity.eq(required))
                .execute(c)?;
            Ok(())
        })
    }

    fn agents_by_email(&self, email: &str) -> StoreResult<Vec<(Agent, String)>> {
        self.read(|c| {
            let rows: Vec<(AgentRow, String)> = agents::table
                .filter(agents::email.eq(email))
                .order(agents::id)
                .select((AgentRow::as_select(), agents::password_hash))
                .load(c)?;
            Ok(rows.into_iter().map(|(a, h)| (a.into(), h)).collect())
        })
    }

    fn add_token(&self, agent: AgentId, token_hash: &str, expires_at: i64) -> StoreResult<()> {
        self.write(|c| {
            diesel::insert_into(agent_tokens::table)
                .values((
                    agent_tokens::token_hash.eq(token_hash),
                    agent_tokens::agent_id.eq(agent.0),
                    agent_tokens::created_at.eq(now_ms()),
                    agent_tokens::expires_at.eq(expires_at),
                ))
                .execute(c)?;
            Ok(())
        })
    }

    fn agent_by_token(&self, token_hash: &str, now: i64) -> StoreResult<Option<Agent>> {
        self.read(|c| {
            Ok(agent_tokens::table
                .inner_join(agents::table)
                .filter(agent_tokens::token_hash.eq(token_hash))
                .filter(agent_tokens::revoked_at.is_null())
                .filter(agent_tokens::expires_at.gt(now))
                .select(AgentRow::as_select())
                .first(c)
                .optional()?
                .map(Agent::from))
        })
    }

    fn revoke_token(&self, token_hash: &str, now: i64) -> StoreResult<bool> {
        self.write(|c| {
            let n = diesel::update(agent_tokens::table.find(token_hash))
                .set(agent_tokens::revoked_at.eq(Some(now)))
                .execute(c)?;
            Ok(n > 0)
        })
    }

    fn search(&self, site: SiteId, needle: &str, limit: usize) -> StoreResult<Vec<EntryFrame>> {
        // LIKE with its wildcards escaped: the needle is matched literally.
        let escaped: String = needle
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let pattern = format!("%{escaped}%");
        self.read(|c| {
            Ok(entries::table
                .inner_join(conversations::table)
                .filter(conversations::site_id.eq(site.0))
                .filter(entries::kind.eq("msg"))
                .filter(entries::body.like(&pattern).escape('\\'))
                .order((entries::ts.desc(), entries::off.desc()))
                .limit(limit as i64)
                .select(EntryRow::as_select())
                .load(c)?
                .into_iter()
                .map(EntryRow::frame)
                .collect())
        })
    }

    fn open_conversations(&self, site: SiteId, limit: usize) -> StoreResult<Vec<ConvInfo>> {
        self.read(|c| {
            let rows: Vec<ConvRow> = conversations::table
                .filter(conversations::site_id.eq(site.0))
                .filter(conversations::status.eq("open"))
                .order(conversations::id.desc())
                .limit(limit as i64)
                .select(ConvRow::as_select())
                .load(c)?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let head = head_of(c, r.id)?;
                out.push(r.info(head));
            }
            Ok(out)
        })
    }

    fn open_conversation_of(&self, site: SiteId, token: &str) -> StoreResult<Option<ConvInfo>> {
        self.read(|c| {
            let Some(row) = find_open_conversation(c, site, token)? else {
                return Ok(None);
            };
            let head = head_of(c, row.id)?;
            Ok(Some(row.info(head)))
        })
    }

    fn ensure_conversation(&self, site: SiteId, token: &str) -> StoreResult<ConvInfo> {
        self.write(|c| {
            c.immediate_transaction(|c| {
                if let Some(row) = find_open_conversation(c, site, token)? {
                    let head = head_of(c, row.id)?;
                    return Ok(row.info(head));
                }
                let now = now_ms();
                let visitor_id: i64 = match visitors::table
                    .filter(visitors::site_id.eq(site.0))
                    .filter(visitors::token.eq(token))
                    .select(visitors::id)
                    .first(c)
                    .optional()?
                {
                    Some(id) => id,
                    None => diesel::insert_into(visitors::table)
                        .values(&NewVisitorRow {
                            site_id: site.0,
                            token,
                            created_at: now,
                        })
                        .returning(visitors::id)
                        .get_result(c)?,
                };
                let row = diesel::insert_into(conversations::table)
                    .values(&NewConvRow {
                        site_id: site.0,
                        visitor_id,
                        epoch: i64::from(Epoch::random().0),
                        status: "open",
                        created_at: now,
                    })
                    .returning(ConvRow::as_returning())
                    .get_result(c)?;
                Ok(row.info(None))
            })
        })
    }

    fn conversation(&self, id: ConversationId) -> StoreResult<Option<ConvInfo>> {
        self.read(|c| {
            let Some(row) = conversations::table
                .find(id.0)
                .select(ConvRow::as_select())
                .first(c)
                .optional()?
            else {
                return Ok(None);
            };
            let head = head_of(c, row.id)?;
            Ok(Some(row.info(head)))
        })
    }

    fn close_conversation(&self, id: ConversationId) -> StoreResult<()> {
        self.write(|c| {
            diesel::update(conversations::table.find(id.0))
                .set(conversations::status.eq("closed"))
                .execute(c)?;
            Ok(())
        })
    }

    fn reopen_conversation(&self, id: ConversationId) -> StoreResult<Reopen> {
        self.write(|c| {
            c.immediate_transaction(|c| {
                let Some((row, status)) = conversations::table
                    .find(id.0)
                    .select((ConvRow::as_select(), conversations::status))
                    .first::<(ConvRow, String)>(c)
                    .optional()?
                else {
                    return Ok(Reopen::NotFound);
                };
                if status == "open" {
                    return Ok(Reopen::AlreadyOpen);
                }
                let busy: i64 = conversations::table
                    .filter(conversations::visitor_id.eq(row.visitor_id))
                    .filter(conversations::status.eq("open"))
                    .count()
                    .get_result(c)?;
                if busy > 0 {
                    return Ok(Reopen::VisitorBusy);
                }
                diesel::update(conversations::table.find(id.0))
                    .set(conversations::status.eq("open"))
                    .execute(c)?;
                let token: String = visitors::table
                    .find(row.visitor_id)
                    .select(visitors::token)
                    .first(c)?;
                let head = head_of(c, row.id)?;
                Ok(Reopen::Reopened {
                    info: row.info(head),
                    token,
                })
            })
        })
    }

    fn canned(&self, site: SiteId) -> StoreResult<Vec<Canned>> {
        self.read(|c| {
            Ok(canned_responses::table
                .filter(canned_responses::site_id.eq(site.0))
                .order(canned_responses::shortcut)
                .select(CannedRow::as_select())
                .load(c)?
                .into_iter()
                .map(Canned::from)
                .collect())
        })
    }

    fn add_canned(
        &self,
        site: SiteId,
        shortcut: &str,
        text: &str,
        max: usize,
    ) -> StoreResult<Canned> {
        self.write(|c| {
            c.immediate_transaction(|c| {
                let n: i64 = canned_responses::table
                    .filter(canned_responses::site_id.eq(site.0))
                    .count()
                    .get_result(c)?;
                room(n, max, "canned responses")?;
                Ok(diesel::insert_into(canned_responses::table)
                    .values(&NewCannedRow {
                        site_id: site.0,
                        shortcut,
                        body: text,
                        created_at: now_ms(),
                    })
                    .returning(CannedRow::as_returning())
                    .get_result(c)
                    .map_err(|e| taken(e, "that shortcut is taken"))?
                    .into())
            })
        })
    }

    fn delete_canned(&self, site: SiteId, id: i64) -> StoreResult<bool> {
        self.write(|c| {
            let n = diesel::delete(
                canned_responses::table
                    .filter(canned_responses::site_id.eq(site.0))
                    .filter(canned_responses::id.eq(id)),
            )
            .execute(c)?;
            Ok(n > 0)
        })
    }

    fn rules(&self, site: SiteId) -> StoreResult<Vec<InviteRule>> {
        self.read(|c| {
            Ok(invite_rules::table
                .filter(invite_rules::site_id.eq(site.0))
                .order(invite_rules::id)
                .select(RuleRow::as_select())
                .load(c)?
                .into_iter()
                .map(InviteRule::from)
                .collect())
        })
    }

    fn add_rule(&self, site: SiteId, rule: &InviteRule, max: usize) -> StoreResult<InviteRule> {
        self.write(|c| {
            c.immediate_transaction(|c| {
                let n: i64 = invite_rules::table
                    .filter(invite_rules::site_id.eq(site.0))
                    .count()
                    .get_result(c)?;
                room(n, max, "invitation rules")?;
                Ok(diesel::insert_into(invite_rules::table)
                    .values(&NewRuleRow {
                        site_id: site.0,
                        name: &rule.name,
                        url_pattern: &rule.url,
                        min_seconds: i64::from(rule.min_seconds),
                        min_visits: i64::from(rule.min_visits),
                        body: &rule.text,
                        created_at: now_ms(),
                    })
                    .returning(RuleRow::as_returning())
                    .get_result(c)?
                    .into())
            })
        })
    }

    fn delete_rule(&self, site: SiteId, id: i64) -> StoreResult<bool> {
        self.write(|c| {
            let n = diesel::delete(
                invite_rules::table
                    .filter(invite_rules::site_id.eq(site.0))
                    .filter(invite_rules::id.eq(id)),
            )
            .execute(c)?;
            Ok(n > 0)
        })
    }

    fn append_batch(&self, batch: &[NewEntry]) -> StoreResult<Vec<Appended>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|c| c.immediate_transaction(|c| append_in_tx(c, batch)))
    }

    fn read_after(
        &self,
        conv: ConversationId,
        after: Offset,
        limit: usize,
    ) -> StoreResult<Vec<EntryFrame>> {
        self.read(|c| {
            Ok(entries::table
                .filter(entries::conversation_id.eq(conv.0))
                .filter(entries::off.gt(after.0 as i64))
                .order(entries::off)
                .limit(limit as i64)
                .select(EntryRow::as_select())
                .load(c)?
                .into_iter()
                .map(EntryRow::frame)
                .collect())
        })
    }
}

/// The JSON `meta` column of an entry, if it has extra data.
fn entry_meta(e: &NewEntry) -> Option<String> {
    let mut m = serde_json::Map::new();
    if let Some(u) = e.upto {
        m.insert("upto".into(), serde_json::json!(u.0));
    }
    if let Some(c) = &e.contact {
        m.insert("contact".into(), serde_json::json!(c));
    }
    (!m.is_empty()).then(|| serde_json::Value::Object(m).to_string())
}

/// The body of one group commit. Three kinds of statement whatever the batch size: the
/// heads of the conversations involved, the already-stored `(cid, sender)` pairs, and
/// multi-row INSERTs of the new entries.
fn append_in_tx(c: &mut SqliteConnection, batch: &[NewEntry]) -> StoreResult<Vec<Appended>> {
    let mut convs: Vec<i64> = batch.iter().map(|e| e.conv.0).collect();
    convs.sort_unstable();
    convs.dedup();
    let mut heads: HashMap<i64, i64> = HashMap::with_capacity(convs.len());
    for ids in convs.chunks(IDS_PER_QUERY) {
        let known: Vec<i64> = conversations::table
            .filter(conversations::id.eq_any(ids))
            .select(conversations::id)
            .load(c)?;
        for id in known {
            heads.insert(id, 0);
        }
        let rows: Vec<(i64, Option<i64>)> = entries::table
            .filter(entries::conversation_id.eq_any(ids))
            .group_by(entries::conversation_id)
            .select((entries::conversation_id, diesel::dsl::max(entries::off)))
            .load(c)?;
        for (id, head) in rows {
            heads.insert(id, head.unwrap_or(0));
        }
    }
    if let Some(missing) = convs.iter().find(|id| !heads.contains_key(id)) {
        return Err(StoreError::Invalid(format!("no conversation {missing}")));
    }

    let mut cids: Vec<&str> = batch.iter().map(|e| e.cid.as_str()).collect();
    cids.sort_unstable();
    cids.dedup();
    let mut stored: Vec<(String, String, i64, i64, i64)> = Vec::new();
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
        stored.extend(rows);
    }
    // (cid, sender) -> (conv, off, ts) of what is already stored or stored by this batch.
    // Keys borrow from `stored` and `batch`: no copies per message.
    let mut seen: HashMap<(&str, &str), (i64, i64, i64)> = stored
        .iter()
        .map(|(cid, sender, conv, off, ts)| ((cid.as_str(), sender.as_str()), (*conv, *off, *ts)))
        .collect();

    let mut out = Vec::with_capacity(batch.len());
    let mut rows = Vec::with_capacity(batch.len());
    for e in batch {
        let key = (e.cid.as_str(), e.sender.as_str());
        if let Some(&(conv, off, ts)) = seen.get(&key) {
            out.push(Appended::Dup {
                conv: ConversationId(conv),
                off: Offset(off as u64),
                ts,
            });
            continue;
        }
        let head = heads.get_mut(&e.conv.0).expect("checked above");
        *head += 1;
        seen.insert(key, (e.conv.0, *head, e.ts));
        rows.push(NewEntryRow {
            conversation_id: e.conv.0,
            off: *head,
            kind: &e.kind,
            role: e.role.as_str(),
            sender: &e.sender,
            cid: &e.cid,
            body: &e.body,
            ts: e.ts,
            meta: entry_meta(e),
        });
        out.push(Appended::New(EntryFrame {
            conv: e.conv,
            off: Offset(*head as u64),
            kind: e.kind.clone(),
            role: e.role,
            sender: e.sender.clone(),
            cid: e.cid.clone(),
            body: e.body.clone(),
            ts: e.ts,
            upto: e.upto,
            contact: e.contact.clone(),
        }));
    }
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        diesel::insert_into(entries::table)
            .values(chunk)
            .execute(c)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Role;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let s = SqliteStore::open(path.to_str().unwrap(), 2, false).unwrap();
        (dir, s)
    }

    fn entry(conv: ConversationId, sender: &str, cid: &str) -> NewEntry {
        NewEntry {
            conv,
            kind: "msg".into(),
            role: Role::Visitor,
            sender: sender.into(),
            cid: cid.into(),
            body: format!("body of {cid}"),
            ts: 1,
            upto: None,
            contact: None,
        }
    }

    #[test]
    fn offsets_are_contiguous_and_resends_dedupe() {
        let (_d, s) = store();
        let site = s.add_site("t", &[]).unwrap();
        let a = s
            .ensure_conversation(site.id, "tokenAAAAAAAAAAAAAA")
            .unwrap();
        let b = s
            .ensure_conversation(site.id, "tokenBBBBBBBBBBBBBBB")
            .unwrap();
        assert_eq!(
            s.ensure_conversation(site.id, "tokenAAAAAAAAAAAAAA")
                .unwrap()
                .id,
            a.id
        );
        assert_ne!(a.id, b.id);
        let got = s
            .append_batch(&[
                entry(a.id, "v1", "m1"),
                entry(b.id, "v2", "m1"),
                entry(a.id, "v1", "m2"),
                entry(a.id, "v1", "m1"),
            ])
            .unwrap();
        let offs: Vec<String> = got
            .iter()
            .map(|g| match g {
                Appended::New(e) => format!("new {} {}", e.conv, e.off.0),
                Appended::Dup { conv, off, .. } => format!("dup {} {}", conv, off.0),
            })
            .collect();
        assert_eq!(
            offs,
            vec![
                format!("new {} 1", a.id),
                format!("new {} 1", b.id),
                format!("new {} 2", a.id),
                format!("dup {} 1", a.id)
            ]
        );
        // A later batch sees what is stored.
        let again = s
            .append_batch(&[entry(a.id, "v1", "m2"), entry(a.id, "v1", "m3")])
            .unwrap();
        assert!(matches!(again[0], Appended::Dup { off: Offset(2), .. }));
        assert!(matches!(&again[1], Appended::New(e) if e.off == Offset(3)));
        let all = s.read_after(a.id, Offset(0), 100).unwrap();
        assert_eq!(
            all.iter().map(|e| e.off.0).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(s.read_after(a.id, Offset(2), 100).unwrap().len(), 1);
        assert_eq!(s.conversation(a.id).unwrap().unwrap().head, Offset(3));
        assert_eq!(
            s.open_conversation_of(site.id, "tokenAAAAAAAAAAAAAA")
                .unwrap()
                .unwrap()
                .head,
            Offset(3)
        );
    }

    #[test]
    fn a_batch_naming_an_unknown_conversation_stores_nothing() {
        let (_d, s) = store();
        let site = s.add_site("t", &[]).unwrap();
        let a = s
            .ensure_conversation(site.id, "tokenAAAAAAAAAAAAAA")
            .unwrap();
        let err = s.append_batch(&[
            entry(a.id, "v1", "m1"),
            entry(ConversationId(999), "v1", "m2"),
        ]);
        assert!(err.is_err());
        assert!(s.read_after(a.id, Offset(0), 10).unwrap().is_empty());
    }

    #[test]
    fn large_batches_split_into_several_inserts() {
        let (_d, s) = store();
        let site = s.add_site("t", &[]).unwrap();
        let a = s
            .ensure_conversation(site.id, "tokenAAAAAAAAAAAAAA")
            .unwrap();
        let batch: Vec<NewEntry> = (0..5000)
            .map(|i| entry(a.id, "v1", &format!("c{i}")))
            .collect();
        let got = s.append_batch(&batch).unwrap();
        assert_eq!(got.len(), 5000);
        assert_eq!(s.conversation(a.id).unwrap().unwrap().head, Offset(5000));
    }
}

#[cfg(test)]
mod freshness_tests {
    use super::*;
    use crate::protocol::Role;

    #[test]
    fn readers_see_every_commit_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path().join("f.db").to_str().unwrap(), 2, false).unwrap();
        let site = s.add_site("t", &[]).unwrap();
        let a = s
            .ensure_conversation(site.id, "tokenAAAAAAAAAAAAAA")
            .unwrap();
        for i in 1..=50u64 {
            s.append_batch(&[NewEntry {
                conv: a.id,
                kind: "msg".into(),
                role: Role::Visitor,
                sender: "v1".into(),
                cid: format!("c{i}"),
                body: "b".into(),
                ts: 1,
                upto: None,
                contact: None,
            }])
            .unwrap();
            assert_eq!(s.conversation(a.id).unwrap().unwrap().head, Offset(i));
            assert_eq!(
                s.open_conversation_of(site.id, "tokenAAAAAAAAAAAAAA")
                    .unwrap()
                    .unwrap()
                    .head,
                Offset(i)
            );
        }
    }
}
