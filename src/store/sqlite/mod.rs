//! The embedded default backend: SQLite through diesel, WAL mode, one writer connection
//! plus a small pool of readers.
//!
//! Owns: connection set-up (pragmas), migrations, and the SQL of every `Store` method.
//! Knows nothing of the async runtime: it blocks, and its callers run it on blocking
//! threads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
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
    now_ms, Agent, Appended, Canned, ConvInfo, DeskConv, InviteRule, NewEntry, Reopen, Site, Store,
    StoreError, StoreResult,
};
use crate::ids::{random_token, AgentId, ConversationId, Offset, SiteId};
use crate::protocol::EntryFrame;

mod append;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("diesel-migrations/sqlite");

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
    /// The database file, and its identity (device, inode) when it was opened: a file
    /// deleted or replaced under the running server would otherwise go on taking commits
    /// that no restart will ever see.
    path: PathBuf,
    identity: Option<(u64, u64)>,
    /// Set once the file was found deleted or replaced: why, and where a copy of
    /// everything committed was saved. Every write is refused from then on.
    lost: Mutex<Option<String>>,
}

/// (device, inode) of the file at `path`, if it exists.
#[cfg(unix)]
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|_| (0, 0))
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
        let path = PathBuf::from(path);
        Ok(SqliteStore {
            writer: Mutex::new(writer),
            readers,
            identity: file_identity(&path),
            path,
            lost: Mutex::new(None),
        })
    }

    /// Run `f` on the writer connection, unless the database was lost. A poisoned lock
    /// only means another write panicked; the connection is still usable because every
    /// write runs in its own transaction.
    fn write<T>(&self, f: impl FnOnce(&mut SqliteConnection) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        self.check_file(&mut conn)?;
        f(&mut conn)
    }

    /// Is the file at our path still the one we opened? The first time it is not, save a
    /// copy of everything committed (the open connection still reads the old file) next
    /// to it, and refuse every write from then on.
    fn check_file(&self, conn: &mut SqliteConnection) -> StoreResult<()> {
        let mut lost = self.lost.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(why) = &*lost {
            return Err(StoreError::Lost(why.clone()));
        }
        let now = file_identity(&self.path);
        if now == self.identity {
            return Ok(());
        }
        let what = if now.is_none() {
            "was deleted"
        } else {
            "was replaced by another file"
        };
        let copy = PathBuf::from(format!("{}.recovered-{}", self.path.display(), now_ms()));
        let saved = diesel::sql_query("VACUUM INTO ?")
            .bind::<diesel::sql_types::Text, _>(copy.to_string_lossy().to_string())
            .execute(conn);
        let why = match saved {
            Ok(_) => format!(
                "the database file {} {what} while kefu was running; every commit up to now \
                 was saved to {}: stop kefu and put that file in place",
                self.path.display(),
                copy.display()
            ),
            Err(e) => format!(
                "the database file {} {what} while kefu was running, and saving a copy to {} \
                 failed ({e}): stop kefu and recover the file from its open descriptor",
                self.path.display(),
                copy.display()
            ),
        };
        tracing::error!(reason = %why, "database lost: refusing every write");
        *lost = Some(why.clone());
        Err(StoreError::Lost(why))
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
        self.read(|c| Ok(c.batch_execute("SELECT 1")?))?;
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        self.check_file(&mut conn)
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

    fn update_site(
        &self,
        site: SiteId,
        name: Option<&str>,
        origins: Option<&[String]>,
    ) -> StoreResult<()> {
        self.write(|c| {
            c.immediate_transaction(|c| {
                if let Some(name) = name {
                    diesel::update(sites::table.find(site.0))
                        .set(sites::name.eq(name))
                        .execute(c)?;
                }
                if let Some(origins) = origins {
                    diesel::update(sites::table.find(site.0))
                        .set(sites::allowed_origins.eq(origins.join(" ")))
                        .execute(c)?;
                }
                Ok(())
            })
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

    fn visitor_exists(&self, site: SiteId, token: &str) -> StoreResult<bool> {
        self.read(|c| {
            let n: i64 = visitors::table
                .filter(visitors::site_id.eq(site.0))
                .filter(visitors::token.eq(token))
                .count()
                .get_result(c)?;
            Ok(n > 0)
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

    fn desk_conversations(&self) -> StoreResult<Vec<DeskConv>> {
        self.read(|c| {
            // (id, site, visitor token, owner, owner's offset)
            type Row = (i64, i64, String, Option<i64>, Option<i64>);
            let rows: Vec<Row> = conversations::table
                .inner_join(visitors::table)
                .filter(conversations::status.eq("open"))
                .order(conversations::id)
                .select((
                    conversations::id,
                    conversations::site_id,
                    visitors::token,
                    conversations::owner_agent_id,
                    conversations::owner_off,
                ))
                .load(c)?;
            // The last message of each agent in each owned conversation: answered when
            // the owner wrote after it was given the conversation.
            let owned: Vec<i64> = rows.iter().filter(|r| r.3.is_some()).map(|r| r.0).collect();
            let mut last: HashMap<(i64, String), i64> = HashMap::new();
            for chunk in owned.chunks(append::IDS_PER_QUERY) {
                let found: Vec<(i64, String, Option<i64>)> = entries::table
                    .filter(entries::conversation_id.eq_any(chunk))
                    .filter(entries::kind.eq("msg"))
                    .filter(entries::role.eq("agent"))
                    .group_by((entries::conversation_id, entries::sender))
                    .select((
                        entries::conversation_id,
                        entries::sender,
                        diesel::dsl::max(entries::off),
                    ))
                    .load(c)?;
                for (conv, sender, off) in found {
                    last.insert((conv, sender), off.unwrap_or(0));
                }
            }
            Ok(rows
                .into_iter()
                .map(|(id, site, token, owner, owner_off)| {
                    let answered = owner.is_some_and(|a| {
                        last.get(&(id, format!("a{a}")))
                            .is_some_and(|&off| off > owner_off.unwrap_or(0))
                    });
                    DeskConv {
                        id: ConversationId(id),
                        site: SiteId(site),
                        token,
                        owner: owner.map(AgentId),
                        answered,
                    }
                })
                .collect())
        })
    }

    fn idle_conversations(&self, before: i64, limit: usize) -> StoreResult<Vec<DeskConv>> {
        self.read(|c| {
            let rows: Vec<IdleRow> = diesel::sql_query(
                "SELECT c.id, c.site_id, v.token, c.owner_agent_id FROM conversations c \
                 JOIN visitors v ON v.id = c.visitor_id \
                 WHERE c.status = 'open' AND COALESCE((SELECT e.ts FROM entries e \
                   WHERE e.conversation_id = c.id ORDER BY e.off DESC LIMIT 1), c.created_at) < ? \
                 ORDER BY c.id LIMIT ?",
            )
            .bind::<diesel::sql_types::BigInt, _>(before)
            .bind::<diesel::sql_types::BigInt, _>(limit as i64)
            .load(c)?;
            Ok(rows
                .into_iter()
                .map(|r| DeskConv {
                    id: ConversationId(r.id),
                    site: SiteId(r.site_id),
                    token: r.token,
                    owner: r.owner_agent_id.map(AgentId),
                    answered: false,
                })
                .collect())
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
        self.write(|c| {
            let done = c.immediate_transaction(|c| append::append_in_tx(c, batch))?;
            // Committed into a file that is gone: not acknowledged (the copy keeps it).
            self.check_file(c)?;
            Ok(done)
        })
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

#[cfg(test)]
mod tests;
