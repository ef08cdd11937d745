//! Who is who, as agents see it over the API: signing in and out, the agent's own site,
//! its agents with who is on line, and adding an agent; also the site the demo page
//! embeds.
//!
//! Owns: the rules of these requests — how long a sign-in's email and password may be
//! (checked before any hashing), what a new agent's email, name, password and role must
//! be, hashing its password — and reaching the store for them on blocking threads. Who
//! may do what is `access`; sign-in limits are `login`. Knows nothing of HTTP.

use std::net::IpAddr;

use super::access::{chars, Admin, ServiceError};
use super::auth;
use super::hub::Hub;
use crate::ids::{AgentId, VisitorId};
use crate::store::{Agent, Author, ConvFilter, DeletedVisitor, Site, StoreError, StoreResult};
use crate::vocab::{AgentRole, UnknownWord};

/// Longest email and password a sign-in reads, in bytes: longer ones are refused before
/// any hashing.
const SIGN_IN_EMAIL_MAX: usize = 320;
const SIGN_IN_PASSWORD_MAX: usize = 1024;

/// The directory service: `Hub::directory`.
pub(crate) struct Directory<'a> {
    hub: &'a Hub,
}

/// A signed-in agent: its new token, and the key of its site.
pub(crate) struct SignedIn {
    pub token: String,
    pub agent: Agent,
    /// `None` only if the site went away meanwhile.
    pub site_key: Option<String>,
}

/// One agent of a site, with what the desk knows of it now.
pub(crate) struct Listed {
    pub agent: Agent,
    /// `online`, `away` (every connection of the agent said so) or `offline`.
    pub status: &'static str,
    /// Conversations the desk gave the agent.
    pub load: usize,
}

/// A new agent account, as an admin asks for it.
pub(crate) struct NewAgent {
    pub email: String,
    pub name: String,
    pub password: String,
    /// `agent` when not given.
    pub role: Option<String>,
}

/// A change of an agent, as an admin asks for it: what is `None` stays as it is.
#[derive(Default)]
pub(crate) struct AgentChange {
    pub name: Option<String>,
    pub role: Option<String>,
    pub password: Option<String>,
}

impl Hub {
    pub(crate) fn directory(&self) -> Directory<'_> {
        Directory { hub: self }
    }
}

impl Directory<'_> {
    /// Sign an agent in from `peer` (rate-limited per email and address; `site` names the
    /// site when the email has accounts on several).
    pub(crate) async fn sign_in(
        &self,
        email: &str,
        password: &str,
        site: Option<&str>,
        peer: IpAddr,
    ) -> Result<SignedIn, ServiceError> {
        if email.len() > SIGN_IN_EMAIL_MAX || password.len() > SIGN_IN_PASSWORD_MAX {
            return Err(ServiceError::Invalid("email or password too long".into()));
        }
        let (token, agent) = self.hub.login(email, password, site, peer).await??;
        let id = agent.site;
        let site_key = self.hub.blocking(move |s| s.site(id)).await?.map(|s| s.key);
        Ok(SignedIn {
            token,
            agent,
            site_key,
        })
    }

    /// Revoke `token`, which must be valid.
    pub(crate) async fn sign_out(&self, token: Option<&str>) -> Result<(), ServiceError> {
        self.hub.signed_in(token).await?;
        let token = token.ok_or(ServiceError::Unauthorized)?;
        self.hub.logout(token).await?;
        Ok(())
    }

    /// The agent's own site.
    pub(crate) async fn site(&self, agent: &Agent) -> Result<Site, ServiceError> {
        let id = agent.site;
        self.hub
            .blocking(move |s| s.site(id))
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// The agents of the agent's site, oldest first, with who is on line.
    pub(crate) async fn agents(&self, agent: &Agent) -> Result<Vec<Listed>, ServiceError> {
        let site = agent.site;
        let list = self.hub.blocking(move |s| s.agents(site)).await?;
        let team = self.hub.team(site);
        Ok(list
            .into_iter()
            .map(|agent| {
                let on = team.iter().find(|m| m.id == agent.id);
                Listed {
                    status: on.map_or("offline", |m| m.status),
                    load: on.map_or(0, |m| m.load),
                    agent,
                }
            })
            .collect())
    }

    /// Delete visitor `visitor` of the admin's site and everything stored of it (its
    /// conversations and their entries): its open conversation is closed first, as an
    /// agent's close (its visitor's tabs and the agents see it end), then the data goes in
    /// the writer's turn, and this node forgets the conversations' streams. `NotFound`
    /// when the site has no such visitor.
    pub(crate) async fn delete_visitor(
        &self,
        by: &Admin,
        visitor: VisitorId,
    ) -> Result<DeletedVisitor, ServiceError> {
        let agent = by.agent();
        let site = agent.site;
        let open = ConvFilter {
            open: Some(true),
            visitor: Some(visitor),
            ..ConvFilter::default()
        };
        let still_open = self
            .hub
            .blocking(move |s| s.list_conversations(site, &open, 10))
            .await?;
        for c in still_open {
            self.hub.close_conversation(
                site,
                c.info.id,
                Author::Agent(agent.id),
                agent.name.clone(),
            );
        }
        let gone = self
            .hub
            .writer()
            .delete_visitor(site, visitor)
            .await
            .map_err(|e| ServiceError::Store(StoreError::Unavailable(e.to_string())))?
            .ok_or(ServiceError::NotFound)?;
        for conv in &gone.conversations {
            self.hub.forget_stream(*conv);
        }
        tracing::info!(
            site = site.0,
            visitor = visitor.0,
            conversations = gone.conversations.len(),
            "a visitor's data was deleted"
        );
        Ok(gone)
    }

    /// Change agent `id` of the admin's site: its name (1–100 characters, trimmed), its
    /// role (`agent` or `admin`; never leaving the site without an admin: `Conflict`),
    /// its password (as `auth` says). Everything is checked before anything is written.
    /// A role takes effect at the agent's next request (its open sockets keep the old one
    /// until they reconnect). `NotFound` when the site has no such agent.
    pub(crate) async fn update_agent(
        &self,
        by: &Admin,
        id: AgentId,
        change: AgentChange,
    ) -> Result<Agent, ServiceError> {
        let name = change.name.map(|n| n.trim().to_string());
        if let Some(n) = &name {
            chars("name", n, 1, 100)?;
        }
        let role = change
            .role
            .as_deref()
            .map(str::parse::<AgentRole>)
            .transpose()
            .map_err(|e: UnknownWord| ServiceError::Invalid(e.to_string()))?;
        if let Some(p) = &change.password {
            auth::check_password(p).map_err(ServiceError::Invalid)?;
        }
        let (site, password) = (by.agent().site, change.password);
        self.hub
            .blocking(move |s| {
                let Some(agent) = s.update_agent(site, id, name.as_deref(), role)? else {
                    return Ok(None);
                };
                if let Some(p) = password {
                    s.set_password(site, &agent.email, &auth::hash_password(&p)?)?;
                }
                Ok(Some(agent))
            })
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// Remove agent `id` of the admin's site: it can no longer sign in, every token it
    /// holds is revoked, its open connections end (`UNAUTHORIZED`) and the conversations
    /// it owned go to another available agent or wait first in the queue (`desk`). Its
    /// account stays, marked removed, so the history keeps its name. `Conflict` when it
    /// is the site's last active admin; `NotFound` when the site has no such agent, or it
    /// was removed already. The caller makes sure this node serves the site (its desk and
    /// connections are here).
    pub(crate) async fn remove_agent(
        &self,
        by: &Admin,
        id: AgentId,
    ) -> Result<Agent, ServiceError> {
        let site = by.agent().site;
        let now = crate::store::now_ms();
        let removed = self
            .hub
            .blocking(move |s| s.remove_agent(site, id, now))
            .await?
            .ok_or(ServiceError::NotFound)?;
        self.hub.agent_removed(site, id);
        Ok(removed)
    }

    /// Add an agent to the admin's site. The email (3–320 characters, with an `@`) and the
    /// name (1–100) are trimmed; the password and the role follow `auth`'s one rule.
    /// `Conflict` when the email already has an account on the site.
    pub(crate) async fn add_agent(&self, by: &Admin, new: NewAgent) -> Result<Agent, ServiceError> {
        let email = new.email.trim().to_string();
        chars("email", &email, 3, 320)?;
        if !email.contains('@') {
            return Err(ServiceError::Invalid("email must contain @".into()));
        }
        let name = new.name.trim().to_string();
        chars("name", &name, 1, 100)?;
        auth::check_password(&new.password).map_err(ServiceError::Invalid)?;
        let role = new.role.as_deref().map_or(Ok(AgentRole::Agent), str::parse);
        let role = role.map_err(|e: UnknownWord| ServiceError::Invalid(e.to_string()))?;
        let (site, password) = (by.agent().site, new.password);
        Ok(self
            .hub
            .blocking(move |s| {
                let hash = auth::hash_password(&password)?;
                s.add_agent(site, &email, &name, role, &hash)
            })
            .await?)
    }

    /// The site the demo page embeds: the first one.
    pub(crate) async fn first_site(&self) -> StoreResult<Option<Site>> {
        Ok(self.hub.blocking(|s| s.sites()).await?.into_iter().next())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::Config;
    use crate::store::{self, Options, StoreError};

    /// A hub on the memory store, with a first site and its admin.
    pub(crate) fn hub() -> (Hub, Admin) {
        let store = store::open("memory://", &Options::default()).unwrap();
        let boot = auth::bootstrap(&*store, &[], "admin-password")
            .unwrap()
            .unwrap();
        let admin = store.agents(boot.site.id).unwrap().remove(0);
        let hub = Hub::start(
            Arc::new(Config::default()),
            Arc::from(store),
            Vec::new(),
            None,
        );
        (hub, Admin::of(admin).unwrap())
    }

    fn new_agent(email: &str, name: &str, password: &str, role: Option<&str>) -> NewAgent {
        NewAgent {
            email: email.into(),
            name: name.into(),
            password: password.into(),
            role: role.map(Into::into),
        }
    }

    #[tokio::test]
    async fn new_agents_follow_the_rules_and_are_listed() {
        let (hub, admin) = hub();
        let d = hub.directory();
        for (bad, why) in [
            (
                new_agent("nope", "C", "pw-c-12345", None),
                "email must contain @",
            ),
            (
                new_agent("a@", "C", "pw-c-12345", None),
                "email must be 3 to 320 characters",
            ),
            (
                new_agent("c@x", "  ", "pw-c-12345", None),
                "name must be 1 to 100 characters",
            ),
            (
                new_agent("c@x", "C", "short", None),
                "a password must have 8 to 1024 characters",
            ),
            (
                new_agent("c@x", "C", "pw-c-12345", Some("root")),
                "role must be \"agent\" or \"admin\"",
            ),
        ] {
            match d.add_agent(&admin, bad).await {
                Err(ServiceError::Invalid(reason)) => assert_eq!(reason, why),
                other => panic!("{why}: {other:?}"),
            }
        }
        let bea = d
            .add_agent(&admin, new_agent(" bea@x ", " Bea ", "pw-bea-123", None))
            .await
            .unwrap();
        assert_eq!(
            (bea.email.as_str(), bea.name.as_str(), bea.role.as_str()),
            ("bea@x", "Bea", "agent")
        );
        let again = d
            .add_agent(&admin, new_agent("bea@x", "Bea", "pw-bea-123", None))
            .await;
        assert!(matches!(
            again,
            Err(ServiceError::Store(StoreError::Conflict(_)))
        ));
        let listed = d.agents(&bea).await.unwrap();
        let seen: Vec<(&str, &str)> = listed
            .iter()
            .map(|l| (l.agent.email.as_str(), l.status))
            .collect();
        assert_eq!(seen, [("admin@localhost", "offline"), ("bea@x", "offline")]);
        assert_eq!(d.site(&bea).await.unwrap().id, admin.agent().site);
    }

    #[tokio::test]
    async fn over_long_sign_ins_are_refused_before_any_check() {
        let (hub, _) = hub();
        let peer = std::net::Ipv4Addr::LOCALHOST.into();
        let long = "x".repeat(SIGN_IN_PASSWORD_MAX + 1);
        let r = hub
            .directory()
            .sign_in("admin@localhost", &long, None, peer)
            .await;
        assert!(matches!(r, Err(ServiceError::Invalid(_))));
        assert!(matches!(
            hub.signed_in(None).await,
            Err(ServiceError::Unauthorized)
        ));
        assert!(matches!(
            hub.signed_in(Some("forged")).await,
            Err(ServiceError::Unauthorized)
        ));
    }
}
