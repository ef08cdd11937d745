//! The memory store's sites, agents, tokens and settings (`Directory`, `Settings`).
//!
//! Owns: their rules as the SQL schema has them — ids never reused, one account per
//! email and site (a removed one included), one canned response per shortcut and site,
//! limits checked before anything is added — and what a removed agent may no longer do.
//! Knows nothing of the log.

use super::{conflict, words, MemoryStore, State, Token};
use crate::ids::{AgentId, SiteId};
use crate::store::{Agent, Canned, Directory, InviteRule, Settings, Site, StoreError, StoreResult};
use crate::vocab::{AgentRole, TransportKind};

impl Directory for MemoryStore {
    fn site_by_key(&self, key: &str) -> StoreResult<Option<Site>> {
        Ok(self.state().sites.values().find(|s| s.key == key).cloned())
    }

    fn site(&self, id: SiteId) -> StoreResult<Option<Site>> {
        Ok(self.state().sites.get(&id).cloned())
    }

    fn sites(&self) -> StoreResult<Vec<Site>> {
        Ok(self.state().sites.values().cloned().collect())
    }

    fn add_site(&self, name: &str, origins: &[String]) -> StoreResult<Site> {
        self.state().add_site(name, origins)
    }

    fn update_site(
        &self,
        site: SiteId,
        name: Option<&str>,
        origins: Option<&[String]>,
    ) -> StoreResult<()> {
        if let Some(s) = self.state().sites.get_mut(&site) {
            if let Some(name) = name {
                s.name = name.to_string();
            }
            if let Some(origins) = origins {
                s.allowed_origins = words(origins);
            }
        }
        Ok(())
    }

    fn add_agent(
        &self,
        site: SiteId,
        email: &str,
        name: &str,
        role: AgentRole,
        password_hash: &str,
    ) -> StoreResult<Agent> {
        self.state()
            .add_agent(site, email, name, role, password_hash)
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
        let mut st = self.state();
        let administered = st
            .agents
            .values()
            .filter(|(a, _)| a.email == email && a.role == AgentRole::Admin)
            .filter(|(a, _)| a.removed_at.is_none())
            .count();
        Agent::room_to_administer(administered, max)?;
        let site = st.add_site(name, origins)?;
        // A site just added has no account yet: this cannot fail, so nothing is left
        // half done.
        let agent = st.add_agent(site.id, email, agent_name, AgentRole::Admin, password_hash)?;
        Ok((site, agent))
    }

    fn agents(&self, site: SiteId) -> StoreResult<Vec<Agent>> {
        let st = self.state();
        Ok(st
            .agents
            .values()
            .filter(|(a, _)| a.site == site)
            .map(|(a, _)| a.clone())
            .collect())
    }

    fn update_agent(
        &self,
        site: SiteId,
        id: AgentId,
        name: Option<&str>,
        role: Option<AgentRole>,
    ) -> StoreResult<Option<Agent>> {
        let mut st = self.state();
        let admins = st.active_admins(site);
        let Some((a, _)) = st.active_agent(site, id) else {
            return Ok(None);
        };
        if role == Some(AgentRole::Agent) && a.role == AgentRole::Admin && admins == 1 {
            return Err(StoreError::Conflict(
                "the site's last admin cannot become an agent".into(),
            ));
        }
        if let Some(name) = name {
            a.name = name.to_string();
        }
        if let Some(role) = role {
            a.role = role;
        }
        Ok(Some(a.clone()))
    }

    fn remove_agent(&self, site: SiteId, id: AgentId, now: i64) -> StoreResult<Option<Agent>> {
        let mut st = self.state();
        let admins = st.active_admins(site);
        let Some((a, _)) = st.active_agent(site, id) else {
            return Ok(None);
        };
        if a.role == AgentRole::Admin && admins == 1 {
            return Err(StoreError::Conflict(
                "the site's last admin cannot be removed".into(),
            ));
        }
        a.removed_at = Some(now);
        let agent = a.clone();
        for t in st.tokens.values_mut().filter(|t| t.agent == id) {
            t.revoked = true;
        }
        Ok(Some(agent))
    }

    fn agents_by_email(&self, email: &str) -> StoreResult<Vec<(Agent, String)>> {
        let st = self.state();
        Ok(st
            .agents
            .values()
            .filter(|(a, _)| a.email == email && a.removed_at.is_none())
            .cloned()
            .collect())
    }

    fn set_password(&self, site: SiteId, email: &str, password_hash: &str) -> StoreResult<bool> {
        let mut st = self.state();
        let found = st
            .agents
            .values_mut()
            .find(|(a, _)| a.site == site && a.email == email && a.removed_at.is_none());
        let Some((agent, hash)) = found else {
            return Ok(false);
        };
        *hash = password_hash.to_string();
        let id = agent.id;
        for t in st.tokens.values_mut().filter(|t| t.agent == id) {
            t.revoked = true;
        }
        Ok(true)
    }

    fn add_token(&self, agent: AgentId, token_hash: &str, expires_at: i64) -> StoreResult<()> {
        let mut st = self.state();
        if !st.agents.contains_key(&agent) {
            return Err(StoreError::Invalid(format!("no agent {agent}")));
        }
        if st.tokens.contains_key(token_hash) {
            return Err(conflict("that token is taken"));
        }
        let token = Token {
            agent,
            expires_at,
            revoked: false,
        };
        st.tokens.insert(token_hash.to_string(), token);
        Ok(())
    }

    fn agent_by_token(&self, token_hash: &str, now: i64) -> StoreResult<Option<Agent>> {
        let st = self.state();
        Ok(st
            .tokens
            .get(token_hash)
            .filter(|t| !t.revoked && t.expires_at > now)
            .and_then(|t| st.agents.get(&t.agent))
            .filter(|(a, _)| a.removed_at.is_none())
            .map(|(a, _)| a.clone()))
    }

    fn revoke_token(&self, token_hash: &str, _now: i64) -> StoreResult<bool> {
        let mut st = self.state();
        Ok(st
            .tokens
            .get_mut(token_hash)
            .map(|t| t.revoked = true)
            .is_some())
    }

    fn visitor_exists(&self, site: SiteId, token: &str) -> StoreResult<bool> {
        Ok(self
            .state()
            .visitors
            .contains_key(&(site, token.to_string())))
    }
}

impl State {
    /// A new site with a fresh key and secret, allowing `origins` and every transport.
    fn add_site(&mut self, name: &str, origins: &[String]) -> StoreResult<Site> {
        let (key, secret) = Site::fresh_key_and_secret();
        if self.sites.values().any(|s| s.key == key) {
            return Err(conflict("that site key is taken"));
        }
        self.last.site += 1;
        let site = Site {
            id: SiteId(self.last.site),
            key,
            name: name.to_string(),
            secret,
            allowed_origins: words(origins),
            transports: TransportKind::ALL.to_vec(),
            require_identity: false,
        };
        self.sites.insert(site.id, site.clone());
        Ok(site)
    }

    /// A new agent of `site`; `Conflict` if the email already has an account on it (a
    /// removed one included, said so).
    fn add_agent(
        &mut self,
        site: SiteId,
        email: &str,
        name: &str,
        role: AgentRole,
        password_hash: &str,
    ) -> StoreResult<Agent> {
        self.site_exists(site)?;
        let taken = self
            .agents
            .values()
            .find(|(a, _)| a.site == site && a.email == email);
        if let Some((a, _)) = taken {
            return Err(conflict(match a.removed_at {
                Some(_) => "that email belongs to a removed account of the site",
                None => "that email already has an account on the site",
            }));
        }
        self.last.agent += 1;
        let agent = Agent {
            id: AgentId(self.last.agent),
            site,
            email: email.to_string(),
            name: name.to_string(),
            role,
            removed_at: None,
        };
        self.agents
            .insert(agent.id, (agent.clone(), password_hash.to_string()));
        Ok(agent)
    }

    /// Agent `id` of `site`, unless it was removed.
    fn active_agent(&mut self, site: SiteId, id: AgentId) -> Option<&mut (Agent, String)> {
        self.agents
            .get_mut(&id)
            .filter(|(a, _)| a.site == site && a.removed_at.is_none())
    }

    /// How many admins of `site` are not removed.
    fn active_admins(&self, site: SiteId) -> usize {
        self.agents
            .values()
            .filter(|(a, _)| a.site == site && a.role == AgentRole::Admin && a.removed_at.is_none())
            .count()
    }
}

impl Settings for MemoryStore {
    fn set_transports(&self, site: SiteId, transports: &[TransportKind]) -> StoreResult<()> {
        if let Some(s) = self.state().sites.get_mut(&site) {
            s.transports = transports.to_vec();
        }
        Ok(())
    }

    fn set_require_identity(&self, site: SiteId, required: bool) -> StoreResult<()> {
        if let Some(s) = self.state().sites.get_mut(&site) {
            s.require_identity = required;
        }
        Ok(())
    }

    fn canned(&self, site: SiteId) -> StoreResult<Vec<Canned>> {
        let st = self.state();
        let mut v: Vec<Canned> = st
            .canned
            .values()
            .filter(|(s, _)| *s == site)
            .map(|(_, c)| c.clone())
            .collect();
        v.sort_by(|a, b| a.shortcut.cmp(&b.shortcut));
        Ok(v)
    }

    fn add_canned(
        &self,
        site: SiteId,
        shortcut: &str,
        text: &str,
        max: usize,
    ) -> StoreResult<Canned> {
        let mut st = self.state();
        let of_site = st.canned.values().filter(|(s, _)| *s == site);
        if of_site.clone().count() >= max {
            return Err(conflict(&format!(
                "the site has {max} canned responses already"
            )));
        }
        if of_site.clone().any(|(_, c)| c.shortcut == shortcut) {
            return Err(conflict("that shortcut is taken"));
        }
        st.site_exists(site)?;
        st.last.canned += 1;
        let canned = Canned {
            id: st.last.canned,
            shortcut: shortcut.to_string(),
            text: text.to_string(),
        };
        st.canned.insert(canned.id, (site, canned.clone()));
        Ok(canned)
    }

    fn delete_canned(&self, site: SiteId, id: i64) -> StoreResult<bool> {
        let mut st = self.state();
        if st.canned.get(&id).is_some_and(|(s, _)| *s == site) {
            st.canned.remove(&id);
            return Ok(true);
        }
        Ok(false)
    }

    fn rules(&self, site: SiteId) -> StoreResult<Vec<InviteRule>> {
        let st = self.state();
        Ok(st
            .rules
            .values()
            .filter(|r| r.site == site)
            .cloned()
            .collect())
    }

    fn add_rule(&self, site: SiteId, rule: &InviteRule, max: usize) -> StoreResult<InviteRule> {
        let mut st = self.state();
        if st.rules.values().filter(|r| r.site == site).count() >= max {
            return Err(conflict(&format!(
                "the site has {max} invitation rules already"
            )));
        }
        st.site_exists(site)?;
        st.last.rule += 1;
        let rule = InviteRule {
            id: st.last.rule,
            site,
            ..rule.clone()
        };
        st.rules.insert(rule.id, rule.clone());
        Ok(rule)
    }

    fn delete_rule(&self, site: SiteId, id: i64) -> StoreResult<bool> {
        let mut st = self.state();
        if st.rules.get(&id).is_some_and(|r| r.site == site) {
            st.rules.remove(&id);
            return Ok(true);
        }
        Ok(false)
    }
}
