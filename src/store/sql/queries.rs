//! The service methods every SQL backend runs the same way: every one but the append
//! (`append.rs`), the cluster's (`cluster.rs`) and the webhooks' (`webhooks.rs`), as
//! diesel queries.
//!
//! Compiled inside each backend's module, against that backend's `Db` (see `sql`): this
//! file names no backend and no connection type; what differs between backends it asks
//! of `Dialect` (transactions, inserted ids, case-insensitive search, bind limits).
//! Knows nothing of transports or the wire.

use std::collections::HashMap;

use diesel::prelude::*;

use super::Db;
use crate::ids::{AgentId, ConversationId, Offset, SiteId, VisitorId};
use crate::store::sql::models::*;
use crate::store::sql::schema::{
    agent_tokens, agents, canned_responses, conversations, entries, invite_rules, sites, visitors,
    webhook_deliveries,
};
use crate::store::sql::{ids_per_query, like_pattern, room, taken, Dialect, NewRow};
use crate::store::{
    now_ms, Agent, Appended, Canned, ConvFilter, ConvInfo, ConvSummary, DeletedVisitor, DeskConv,
    Directory, Entry, Fence, InviteRule, Log, NewEntry, Reopen, Search, Settings, Site, StoreError,
    StoreResult,
};
use crate::vocab::{AgentRole, EntryKind, Role, Sender, TransportKind};

type Conn = <Db as Dialect>::Conn;

fn head_of(c: &mut Conn, conv: i64) -> QueryResult<Option<i64>> {
    entries::table
        .filter(entries::conversation_id.eq(conv))
        .select(diesel::dsl::max(entries::off))
        .first(c)
}

fn info_of(c: &mut Conn, row: ConvRow) -> StoreResult<ConvInfo> {
    let head = head_of(c, row.id)?;
    Ok(row.info(head))
}

fn site_by_id(c: &mut Conn, id: SiteId) -> QueryResult<Option<Site>> {
    Ok(sites::table
        .find(id.0)
        .select(SiteRow::as_select())
        .first(c)
        .optional()?
        .map(Site::from))
}

/// Agent `id` of `site`, unless it was removed.
fn active_agent(c: &mut Conn, site: SiteId, id: AgentId) -> QueryResult<Option<Agent>> {
    Ok(agents::table
        .filter(agents::id.eq(id.0))
        .filter(agents::site_id.eq(site.0))
        .filter(agents::removed_at.is_null())
        .select(AgentRow::as_select())
        .first(c)
        .optional()?
        .map(Agent::from))
}

/// How many admins of `site` are not removed.
fn active_admins(c: &mut Conn, site: SiteId) -> QueryResult<i64> {
    agents::table
        .filter(agents::site_id.eq(site.0))
        .filter(agents::role.eq(AgentRole::Admin.as_str()))
        .filter(agents::removed_at.is_null())
        .count()
        .get_result(c)
}

/// Insert a new site, with a fresh key and secret, allowing `origins` and every
/// transport; the caller holds the write transaction.
fn insert_site(c: &mut Conn, name: &str, origins: &[String]) -> StoreResult<Site> {
    let (key, secret) = Site::fresh_key_and_secret();
    let allowed_origins = origins.join(" ");
    let transports = transports_text(&TransportKind::ALL);
    let row = NewSiteRow {
        key: &key,
        name,
        secret: &secret,
        allowed_origins: &allowed_origins,
        transports: &transports,
        created_at: now_ms(),
    };
    let id = Db::insert(c, NewRow::Site(&row))?;
    Ok(Site::from(SiteRow {
        id,
        key,
        name: name.to_string(),
        secret,
        allowed_origins,
        transports,
        require_identity: false,
    }))
}

/// Insert an agent of `site`; the caller holds the write transaction. `Conflict` if the
/// email already has an account on the site, a removed one included (said so).
fn insert_agent(
    c: &mut Conn,
    site: SiteId,
    email: &str,
    name: &str,
    role: AgentRole,
    password_hash: &str,
) -> StoreResult<Agent> {
    // A removed account keeps its email (the unique key): say which it is.
    let removed: Option<Option<i64>> = agents::table
        .filter(agents::site_id.eq(site.0))
        .filter(agents::email.eq(email))
        .select(agents::removed_at)
        .first(c)
        .optional()?;
    if removed.flatten().is_some() {
        return Err(StoreError::Conflict(
            "that email belongs to a removed account of the site".into(),
        ));
    }
    let row = NewAgentRow {
        site_id: site.0,
        email,
        name,
        role: role.as_str(),
        password_hash,
        created_at: now_ms(),
    };
    let id = Db::insert(c, NewRow::Agent(&row))
        .map_err(|e| taken(e, "that email already has an account on the site"))?;
    Ok(Agent {
        id: AgentId(id),
        site,
        email: email.to_string(),
        name: name.to_string(),
        role,
        removed_at: None,
    })
}

/// The body of `add_site_with_admin`; the caller holds the write transaction.
pub(crate) fn site_with_admin_in_tx(
    c: &mut Conn,
    name: &str,
    origins: &[String],
    email: &str,
    agent_name: &str,
    password_hash: &str,
    max: usize,
) -> StoreResult<(Site, Agent)> {
    // Before counting: a second call for this email waits here until the first commits,
    // then counts the site that one added.
    Db::lock_accounts(c, email)?;
    // One account per email and site: its rows are its sites.
    let n: i64 = agents::table
        .filter(agents::email.eq(email))
        .filter(agents::role.eq(AgentRole::Admin.as_str()))
        .filter(agents::removed_at.is_null())
        .count()
        .get_result(c)?;
    Agent::room_to_administer(n as usize, max)?;
    let site = insert_site(c, name, origins)?;
    let agent = insert_agent(
        c,
        site.id,
        email,
        agent_name,
        AgentRole::Admin,
        password_hash,
    )?;
    Ok((site, agent))
}

impl Directory for Db {
    fn site(&self, id: SiteId) -> StoreResult<Option<Site>> {
        self.read(|c| Ok(site_by_id(c, id)?))
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
        self.write(|c| insert_site(c, name, origins))
    }

    fn update_site(
        &self,
        site: SiteId,
        name: Option<&str>,
        origins: Option<&[String]>,
    ) -> StoreResult<()> {
        self.write(|c| {
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
    }

    fn add_agent(
        &self,
        site: SiteId,
        email: &str,
        name: &str,
        role: AgentRole,
        password_hash: &str,
    ) -> StoreResult<Agent> {
        self.write(|c| insert_agent(c, site, email, name, role, password_hash))
    }

    fn add_site_with_admin(
        &self,
        name: &str,
        origins: &[String],
        email: &str,
        agent_name: &str,
        password_hash: &str,
        max: usize,
    ) -> StoreResult<(Site, Agent)> {
        self.write(|c| {
            site_with_admin_in_tx(c, name, origins, email, agent_name, password_hash, max)
        })
    }

    fn update_agent(
        &self,
        site: SiteId,
        id: AgentId,
        name: Option<&str>,
        role: Option<AgentRole>,
    ) -> StoreResult<Option<Agent>> {
        self.write(|c| {
            // Before reading the agent: a role change waiting here sees the one before it.
            if role.is_some() {
                Db::lock_admins(c, site.0)?;
            }
            let Some(was) = active_agent(c, site, id)? else {
                return Ok(None);
            };
            // Still not removed when the row is written (a rename takes no lock before
            // it reads: a removal may commit in between); then it is answered `None`.
            let row = agents::table
                .find(id.0)
                .filter(agents::removed_at.is_null());
            if let Some(name) = name {
                diesel::update(row).set(agents::name.eq(name)).execute(c)?;
            }
            if let Some(role) = role {
                diesel::update(row)
                    .set(agents::role.eq(role.as_str()))
                    .execute(c)?;
                // Counted after the change, in the same transaction: the check holds for
                // what commits.
                if was.role == AgentRole::Admin && active_admins(c, site)? == 0 {
                    return Err(StoreError::Conflict(
                        "the site's last admin cannot become an agent".into(),
                    ));
                }
            }
            Ok(active_agent(c, site, id)?)
        })
    }

    fn remove_agent(&self, site: SiteId, id: AgentId, now: i64) -> StoreResult<Option<Agent>> {
        self.write(|c| {
            // Before reading the agent, as in `update_agent`: a removal waiting here sees
            // the one before it.
            Db::lock_admins(c, site.0)?;
            let Some(was) = active_agent(c, site, id)? else {
                return Ok(None);
            };
            diesel::update(agents::table.find(id.0))
                .set(agents::removed_at.eq(Some(now)))
                .execute(c)?;
            // Counted after the change, in the same transaction, as in `update_agent`.
            if was.role == AgentRole::Admin && active_admins(c, site)? == 0 {
                return Err(StoreError::Conflict(
                    "the site's last admin cannot be removed".into(),
                ));
            }
            diesel::update(
                agent_tokens::table
                    .filter(agent_tokens::agent_id.eq(id.0))
                    .filter(agent_tokens::revoked_at.is_null()),
            )
            .set(agent_tokens::revoked_at.eq(Some(now)))
            .execute(c)?;
            Ok(Some(Agent {
                removed_at: Some(now),
                ..was
            }))
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

    fn agents_by_email(&self, email: &str) -> StoreResult<Vec<(Agent, String)>> {
        self.read(|c| {
            let rows: Vec<(AgentRow, String)> = agents::table
                .filter(agents::email.eq(email))
                .filter(agents::removed_at.is_null())
                .order(agents::id)
                .select((AgentRow::as_select(), agents::password_hash))
                .load(c)?;
            Ok(rows.into_iter().map(|(a, h)| (a.into(), h)).collect())
        })
    }

    fn set_password(&self, site: SiteId, email: &str, password_hash: &str) -> StoreResult<bool> {
        self.write(|c| {
            let id: Option<i64> = agents::table
                .filter(agents::site_id.eq(site.0))
                .filter(agents::email.eq(email))
                .filter(agents::removed_at.is_null())
                .select(agents::id)
                .first(c)
                .optional()?;
            let Some(id) = id else { return Ok(false) };
            // Still not removed when the row is written: a removal may commit in between.
            let n = diesel::update(agents::table.find(id).filter(agents::removed_at.is_null()))
                .set(agents::password_hash.eq(password_hash))
                .execute(c)?;
            if n == 0 {
                return Ok(false);
            }
            diesel::update(
                agent_tokens::table
                    .filter(agent_tokens::agent_id.eq(id))
                    .filter(agent_tokens::revoked_at.is_null()),
            )
            .set(agent_tokens::revoked_at.eq(Some(now_ms())))
            .execute(c)?;
            Ok(true)
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
                .filter(agents::removed_at.is_null())
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
}

impl Settings for Db {
    fn set_transports(&self, site: SiteId, transports: &[TransportKind]) -> StoreResult<()> {
        let list = transports_text(transports);
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
        let row = NewCannedRow {
            site_id: site.0,
            shortcut,
            body: text,
            created_at: now_ms(),
        };
        let id = self.write(|c| {
            let n: i64 = canned_responses::table
                .filter(canned_responses::site_id.eq(site.0))
                .count()
                .get_result(c)?;
            room(n, max, "canned responses")?;
            Db::insert(c, NewRow::Canned(&row)).map_err(|e| taken(e, "that shortcut is taken"))
        })?;
        Ok(Canned {
            id,
            shortcut: shortcut.to_string(),
            text: text.to_string(),
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
        let row = NewRuleRow {
            site_id: site.0,
            name: &rule.name,
            url_pattern: &rule.url,
            min_seconds: i64::from(rule.min_seconds),
            min_visits: i64::from(rule.min_visits),
            body: &rule.text,
            created_at: now_ms(),
        };
        let id = self.write(|c| {
            let n: i64 = invite_rules::table
                .filter(invite_rules::site_id.eq(site.0))
                .count()
                .get_result(c)?;
            room(n, max, "invitation rules")?;
            Db::insert(c, NewRow::Rule(&row))
        })?;
        Ok(InviteRule {
            id,
            site,
            ..rule.clone()
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
}

impl Search for Db {
    fn search(&self, site: SiteId, needle: &str, limit: usize) -> StoreResult<Vec<Entry>> {
        let pattern = like_pattern(needle);
        self.read(|c| {
            let rows = entries::table
                .inner_join(conversations::table)
                .filter(conversations::site_id.eq(site.0))
                .filter(entries::kind.eq(EntryKind::Msg.as_str()))
                .filter(Db::contains(pattern))
                .order((entries::ts.desc(), entries::off.desc()))
                .limit(limit as i64)
                .select(EntryRow::as_select())
                .load(c)?;
            EntryRow::entries(rows)
        })
    }
}

impl Log for Db {
    fn ping(&self) -> StoreResult<()> {
        self.reachable()
    }

    fn append_fenced(
        &self,
        batch: &[NewEntry],
        fence: Option<&Fence<'_>>,
    ) -> StoreResult<Vec<Appended>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|c| super::append::append_in_tx(c, batch, fence))
    }

    fn read_after(
        &self,
        conv: ConversationId,
        after: Offset,
        limit: usize,
    ) -> StoreResult<Vec<Entry>> {
        self.read(|c| {
            let rows = entries::table
                .filter(entries::conversation_id.eq(conv.0))
                .filter(entries::off.gt(after.0 as i64))
                .order(entries::off)
                .limit(limit as i64)
                .select(EntryRow::as_select())
                .load(c)?;
            EntryRow::entries(rows)
        })
    }

    fn conversation(&self, id: ConversationId) -> StoreResult<Option<ConvInfo>> {
        self.read(|c| {
            let row = conversations::table
                .find(id.0)
                .select(ConvRow::as_select())
                .first(c)
                .optional()?;
            row.map(|r| info_of(c, r)).transpose()
        })
    }

    fn list_conversations(
        &self,
        site: SiteId,
        f: &ConvFilter,
        limit: usize,
    ) -> StoreResult<Vec<ConvSummary>> {
        self.read(|c| {
            let mut q = conversations::table
                .filter(conversations::site_id.eq(site.0))
                .into_boxed();
            if let Some(open) = f.open {
                let status = if open {
                    ConvStatus::Open
                } else {
                    ConvStatus::Closed
                };
                q = q.filter(conversations::status.eq(status.as_str()));
            }
            if let Some(t) = f.since {
                q = q.filter(conversations::created_at.ge(t));
            }
            if let Some(t) = f.until {
                q = q.filter(conversations::created_at.lt(t));
            }
            if let Some(before) = f.before {
                q = q.filter(conversations::id.lt(before.0));
            }
            if let Some(v) = f.visitor {
                q = q.filter(conversations::visitor_id.eq(v.0));
            }
            if let Some(agent) = f.agent {
                let by = Sender::Agent(agent).to_string();
                q = q.filter(diesel::dsl::exists(
                    entries::table
                        .filter(entries::conversation_id.eq(conversations::id))
                        .filter(entries::sender.eq(by)),
                ));
            }
            let rows: Vec<(ConvRow, String, i64)> = q
                .order(conversations::id.desc())
                .limit(limit as i64)
                .select((
                    ConvRow::as_select(),
                    conversations::status,
                    conversations::created_at,
                ))
                .load(c)?;
            rows.into_iter()
                .map(|(row, status, created_at)| {
                    Ok(ConvSummary {
                        info: info_of(c, row)?,
                        open: status == ConvStatus::Open.as_str(),
                        created_at,
                    })
                })
                .collect()
        })
    }

    fn delete_visitor(
        &self,
        site: SiteId,
        visitor: VisitorId,
    ) -> StoreResult<Option<DeletedVisitor>> {
        self.write(|c| {
            let token: Option<String> = visitors::table
                .filter(visitors::id.eq(visitor.0))
                .filter(visitors::site_id.eq(site.0))
                .select(visitors::token)
                .first(c)
                .optional()?;
            let Some(token) = token else {
                return Ok(None);
            };
            let convs: Vec<i64> = conversations::table
                .filter(conversations::visitor_id.eq(visitor.0))
                .order(conversations::id)
                .select(conversations::id)
                .load(c)?;
            // Their webhook deliveries and entries first: both refer to the conversations.
            for chunk in convs.chunks(ids_per_query(Db::MAX_BINDS)) {
                diesel::delete(
                    webhook_deliveries::table
                        .filter(webhook_deliveries::conversation_id.eq_any(chunk)),
                )
                .execute(c)?;
                diesel::delete(entries::table.filter(entries::conversation_id.eq_any(chunk)))
                    .execute(c)?;
            }
            diesel::delete(conversations::table.filter(conversations::visitor_id.eq(visitor.0)))
                .execute(c)?;
            diesel::delete(visitors::table.filter(visitors::id.eq(visitor.0))).execute(c)?;
            Ok(Some(DeletedVisitor {
                token,
                conversations: convs.into_iter().map(ConversationId).collect(),
            }))
        })
    }

    fn open_conversation_of(&self, site: SiteId, token: &str) -> StoreResult<Option<ConvInfo>> {
        self.read(|c| {
            let row = conversations::table
                .inner_join(visitors::table)
                .filter(visitors::site_id.eq(site.0))
                .filter(visitors::token.eq(token))
                .filter(conversations::status.eq(ConvStatus::Open.as_str()))
                .order(conversations::id.desc())
                .select(ConvRow::as_select())
                .first(c)
                .optional()?;
            row.map(|r| info_of(c, r)).transpose()
        })
    }

    fn desk_conversations(&self, site: Option<SiteId>) -> StoreResult<Vec<DeskConv>> {
        self.read(|c| {
            // (id, site, visitor token, owner, owner's offset)
            type Row = (i64, i64, String, Option<i64>, Option<i64>);
            let mut q = conversations::table
                .inner_join(visitors::table)
                .filter(conversations::status.eq(ConvStatus::Open.as_str()))
                .into_boxed();
            if let Some(site) = site {
                q = q.filter(conversations::site_id.eq(site.0));
            }
            let rows: Vec<Row> = q
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
            let mut last: HashMap<(i64, Sender), i64> = HashMap::new();
            for chunk in owned.chunks(ids_per_query(Db::MAX_BINDS)) {
                let found: Vec<(i64, String, Option<i64>)> = entries::table
                    .filter(entries::conversation_id.eq_any(chunk))
                    .filter(entries::kind.eq(EntryKind::Msg.as_str()))
                    .filter(entries::role.eq(Role::Agent.as_str()))
                    .group_by((entries::conversation_id, entries::sender))
                    .select((
                        entries::conversation_id,
                        entries::sender,
                        diesel::dsl::max(entries::off),
                    ))
                    .load(c)?;
                for (conv, sender, off) in found {
                    last.insert((conv, sender_of(&sender)?), off.unwrap_or(0));
                }
            }
            Ok(rows
                .into_iter()
                .map(|(id, site, token, owner, owner_off)| {
                    let answered = owner.is_some_and(|a| {
                        last.get(&(id, Sender::Agent(AgentId(a))))
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

    fn idle_conversations(
        &self,
        before: i64,
        sites: Option<&[SiteId]>,
        after: ConversationId,
        limit: usize,
    ) -> StoreResult<Vec<DeskConv>> {
        // When the conversation last saw an entry, or was created when it has none.
        let last_seen = diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "COALESCE((SELECT e.ts FROM entries e WHERE e.conversation_id = conversations.id \
             ORDER BY e.off DESC LIMIT 1), conversations.created_at)",
        );
        self.read(|c| {
            let mut q = conversations::table
                .inner_join(visitors::table)
                .filter(conversations::status.eq(ConvStatus::Open.as_str()))
                .filter(conversations::id.gt(after.0))
                .filter(last_seen.lt(before))
                .into_boxed();
            if let Some(sites) = sites {
                q = q.filter(
                    conversations::site_id.eq_any(sites.iter().map(|s| s.0).collect::<Vec<_>>()),
                );
            }
            let rows: Vec<(i64, i64, String, Option<i64>)> = q
                .order(conversations::id)
                .limit(limit as i64)
                .select((
                    conversations::id,
                    conversations::site_id,
                    visitors::token,
                    conversations::owner_agent_id,
                ))
                .load(c)?;
            Ok(rows
                .into_iter()
                .map(|(id, site, token, owner)| DeskConv {
                    id: ConversationId(id),
                    site: SiteId(site),
                    token,
                    owner: owner.map(AgentId),
                    answered: false,
                })
                .collect())
        })
    }

    fn reopen_fenced(&self, id: ConversationId, fence: Option<&Fence<'_>>) -> StoreResult<Reopen> {
        self.write(|c| {
            let Some((row, status)) = conversations::table
                .find(id.0)
                .select((ConvRow::as_select(), conversations::status))
                .first::<(ConvRow, String)>(c)
                .optional()?
            else {
                return Ok(Reopen::NotFound);
            };
            if let Some(fence) = fence {
                super::append::check_fence(c, vec![SiteId(row.site_id)], fence)?;
            }
            if status == ConvStatus::Open.as_str() {
                return Ok(Reopen::AlreadyOpen);
            }
            let busy: i64 = conversations::table
                .filter(conversations::visitor_id.eq(row.visitor_id))
                .filter(conversations::status.eq(ConvStatus::Open.as_str()))
                .count()
                .get_result(c)?;
            if busy > 0 {
                return Ok(Reopen::VisitorBusy);
            }
            diesel::update(conversations::table.find(id.0))
                .set(conversations::status.eq(ConvStatus::Open.as_str()))
                .execute(c)?;
            let token: String = visitors::table
                .find(row.visitor_id)
                .select(visitors::token)
                .first(c)?;
            Ok(Reopen::Reopened {
                info: info_of(c, row)?,
                token,
            })
        })
    }
}
