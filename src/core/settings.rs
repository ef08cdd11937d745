//! A site's settings as the API changes them: the site itself (name, origins, transports,
//! identity), canned responses and automatic invitation rules.
//!
//! Owns: what they must be (shortcuts 1–32 of `a-z 0-9 - _`, texts, names, URL patterns
//! and thresholds within their bounds), the per-site limits (`max_canned`, `max_rules`),
//! that only an `Admin` changes them while every agent of the site reads them, and that
//! a change of rules reaches the invitation check at once (the site's cached rules are
//! dropped, `invite`). Another site's id is answered like a missing one. Knows nothing of
//! HTTP.

use std::sync::Arc;

use super::access::{chars, Admin, ServiceError};
use super::hub::Hub;
use crate::store::{Agent, Canned, InviteRule, Site};
#[cfg(test)]
use crate::vocab::AgentRole;
use crate::vocab::TransportKind;

/// The settings service: `Hub::settings`.
pub(crate) struct Settings<'a> {
    hub: &'a Hub,
}

/// A new automatic invitation rule, as an admin asks for it.
pub(crate) struct NewRule {
    pub name: String,
    /// Page URL pattern (`*` matches anything); empty for every page.
    pub url: String,
    pub min_seconds: u32,
    pub min_visits: u32,
    pub text: String,
}

/// A change of the site, as an admin asks for it: what is `None` stays as it is.
#[derive(Default)]
pub(crate) struct SiteChange {
    pub name: Option<String>,
    /// Replaces the list: each `*` or `http(s)://host[:port]`.
    pub origins: Option<Vec<String>>,
    /// At least one, each `ws`, `lp`, `xdr` or `jsonp`.
    pub transports: Option<Vec<String>>,
    pub require_identity: Option<bool>,
}

impl Hub {
    pub(crate) fn settings(&self) -> Settings<'_> {
        Settings { hub: self }
    }
}

impl Settings<'_> {
    /// Change the admin's site (name 1–100 characters, trimmed; at most 100 origins; at
    /// least one transport) and answer it as it is now. Every field is checked before
    /// any is written. This node sees the change at once; other nodes of a cluster within
    /// the few seconds they cache a site.
    pub(crate) async fn update_site(
        &self,
        by: &Admin,
        change: SiteChange,
    ) -> Result<Site, ServiceError> {
        let name = change.name.map(|n| n.trim().to_string());
        if let Some(n) = &name {
            chars("name", n, 1, 100)?;
        }
        if let Some(origins) = &change.origins {
            if origins.len() > 100 {
                return Err(ServiceError::Invalid("at most 100 origins".into()));
            }
            for o in origins {
                Site::check_origin(o).map_err(ServiceError::Invalid)?;
            }
        }
        let transports = match change.transports {
            None => None,
            Some(t) if t.is_empty() => {
                return Err(ServiceError::Invalid("at least one transport".into()))
            }
            Some(t) => Some(
                t.iter()
                    .map(|w| w.parse::<TransportKind>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ServiceError::Invalid(e.to_string()))?,
            ),
        };
        let site = by.agent().site;
        let (origins, identity) = (change.origins, change.require_identity);
        let now = self
            .hub
            .blocking(move |s| {
                if name.is_some() || origins.is_some() {
                    s.update_site(site, name.as_deref(), origins.as_deref())?;
                }
                if let Some(t) = &transports {
                    s.set_transports(site, t)?;
                }
                if let Some(required) = identity {
                    s.set_require_identity(site, required)?;
                }
                s.site(site)
            })
            .await?
            .ok_or(ServiceError::NotFound)?;
        self.hub.forget_cached_site(&now.key);
        Ok(now)
    }

    /// A new site made by an admin (name 1–100 characters, trimmed; at most 100 origins,
    /// each `*` or `http(s)://host[:port]`), whose first admin is a copy of the admin's
    /// own account (its email, name and password), so the same person signs in to it by
    /// naming it. At most `max_sites_per_admin` sites per email (`Conflict`); none when
    /// that is 0 (`Forbidden`).
    pub(crate) async fn add_site(
        &self,
        by: &Admin,
        name: String,
        origins: Vec<String>,
    ) -> Result<(Site, Agent), ServiceError> {
        let max = self.hub.config().max_sites_per_admin;
        if max == 0 {
            return Err(ServiceError::Forbidden(
                "creating sites through the API is off (max_sites_per_admin = 0)",
            ));
        }
        let name = name.trim().to_string();
        chars("name", &name, 1, 100)?;
        if origins.len() > 100 {
            return Err(ServiceError::Invalid("at most 100 origins".into()));
        }
        for o in &origins {
            Site::check_origin(o).map_err(ServiceError::Invalid)?;
        }
        let me = by.agent().clone();
        Ok(self
            .hub
            .blocking(move |s| {
                let hash = s
                    .agents_by_email(&me.email)?
                    .into_iter()
                    .find(|(a, _)| a.id == me.id)
                    .map(|(_, hash)| hash)
                    .ok_or_else(|| crate::store::StoreError::Invalid("the admin is gone".into()))?;
                s.add_site_with_admin(&name, &origins, &me.email, &me.name, &hash, max)
            })
            .await?)
    }

    /// The canned responses of the agent's site, by shortcut.
    pub(crate) async fn canned(&self, agent: &Agent) -> Result<Vec<Canned>, ServiceError> {
        let site = agent.site;
        Ok(self.hub.blocking(move |s| s.canned(site)).await?)
    }

    /// Add a canned response; `Conflict` when the shortcut is taken or the site has
    /// `max_canned`.
    pub(crate) async fn add_canned(
        &self,
        by: &Admin,
        shortcut: String,
        text: String,
    ) -> Result<Canned, ServiceError> {
        chars("shortcut", &shortcut, 1, 32)?;
        if !shortcut
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
        {
            return Err(ServiceError::Invalid(
                "shortcut may only use a-z, 0-9, - and _".into(),
            ));
        }
        chars("text", text.trim(), 1, 2000)?;
        let (site, max) = (by.agent().site, self.hub.config().max_canned);
        Ok(self
            .hub
            .blocking(move |s| s.add_canned(site, &shortcut, &text, max))
            .await?)
    }

    /// Delete a canned response of the admin's site.
    pub(crate) async fn delete_canned(&self, by: &Admin, id: i64) -> Result<(), ServiceError> {
        let site = by.agent().site;
        let gone = self
            .hub
            .blocking(move |s| s.delete_canned(site, id))
            .await?;
        gone.then_some(()).ok_or(ServiceError::NotFound)
    }

    /// The automatic invitation rules of the agent's site, oldest first (as the
    /// invitation check sees them).
    pub(crate) async fn rules(&self, agent: &Agent) -> Result<Arc<Vec<InviteRule>>, ServiceError> {
        Ok(self.hub.site_rules(agent.site).await?)
    }

    /// Add a rule; `Conflict` when the site has `max_rules`. The invitation check uses it
    /// from its next round.
    pub(crate) async fn add_rule(
        &self,
        by: &Admin,
        new: NewRule,
    ) -> Result<InviteRule, ServiceError> {
        let name = new.name.trim().to_string();
        chars("name", &name, 1, 100)?;
        let url = new.url.trim().to_string();
        chars("url", &url, 0, 500)?;
        if new.min_seconds > 86_400 {
            return Err(ServiceError::Invalid(
                "min_seconds must be 0 to 86400".into(),
            ));
        }
        if new.min_visits > 100_000 {
            return Err(ServiceError::Invalid(
                "min_visits must be 0 to 100000".into(),
            ));
        }
        chars("text", new.text.trim(), 1, 1000)?;
        let site = by.agent().site;
        let rule = InviteRule {
            id: 0,
            site,
            name,
            url,
            min_seconds: new.min_seconds,
            min_visits: new.min_visits,
            text: new.text,
        };
        let max = self.hub.config().max_rules;
        let added = self
            .hub
            .blocking(move |s| s.add_rule(site, &rule, max))
            .await?;
        self.hub.rules_changed(site);
        Ok(added)
    }

    /// Delete a rule of the admin's site; the invitation check stops using it at once.
    pub(crate) async fn delete_rule(&self, by: &Admin, id: i64) -> Result<(), ServiceError> {
        let site = by.agent().site;
        let gone = self.hub.blocking(move |s| s.delete_rule(site, id)).await?;
        self.hub.rules_changed(site);
        gone.then_some(()).ok_or(ServiceError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::Config;
    use crate::core::auth;
    use crate::store::{self, Options, StoreError};

    /// A hub on the memory store (`max_canned` and `max_rules` of 2) with a first site,
    /// its admin, and a plain agent of the site.
    fn hub() -> (Hub, Admin, Agent) {
        let store = store::open("memory://", &Options::default()).unwrap();
        let boot = auth::bootstrap(&*store, &[], "admin-password")
            .unwrap()
            .unwrap();
        let admin = store.agents(boot.site.id).unwrap().remove(0);
        let agent = store
            .add_agent(boot.site.id, "bea@x", "Bea", AgentRole::Agent, "not-a-hash")
            .unwrap();
        let config = Config {
            max_canned: 2,
            max_rules: 2,
            ..Config::default()
        };
        let hub = Hub::start(Arc::new(config), Arc::from(store), Vec::new(), None);
        (hub, Admin::of(admin).unwrap(), agent)
    }

    fn rule(name: &str) -> NewRule {
        NewRule {
            name: name.into(),
            url: "*/pricing*".into(),
            min_seconds: 30,
            min_visits: 2,
            text: "Questions?".into(),
        }
    }

    fn invalid<T: std::fmt::Debug>(r: Result<T, ServiceError>) -> String {
        match r {
            Err(ServiceError::Invalid(why)) => why,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn agents_read_settings_and_only_admins_change_them() {
        let (hub, admin, bea) = hub();
        let s = hub.settings();
        assert!(
            matches!(Admin::of(bea.clone()), Err(ServiceError::Forbidden(_))),
            "changes take an Admin, and an agent is none"
        );
        s.add_canned(&admin, "hours".into(), "9 to 5".into())
            .await
            .unwrap();
        let listed = s.canned(&bea).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].shortcut, "hours");
        s.delete_canned(&admin, listed[0].id).await.unwrap();
        assert!(matches!(
            s.delete_canned(&admin, listed[0].id).await,
            Err(ServiceError::NotFound)
        ));
    }

    #[tokio::test]
    async fn canned_responses_and_rules_out_of_bounds_are_refused() {
        let (hub, admin, _) = hub();
        let s = hub.settings();
        for (shortcut, text, why) in [
            ("", "x", "shortcut must be 1 to 32 characters"),
            (&*"x".repeat(33), "x", "shortcut must be 1 to 32 characters"),
            ("Has Space", "x", "shortcut may only use a-z, 0-9, - and _"),
            ("ok", "   ", "text must be 1 to 2000 characters"),
            (
                "ok",
                &*"客".repeat(2001),
                "text must be 1 to 2000 characters",
            ),
        ] {
            let r = s.add_canned(&admin, shortcut.into(), text.into()).await;
            assert_eq!(invalid(r), why, "{shortcut:?}");
        }
        // 2000 characters of three bytes each are within the bound: characters count.
        s.add_canned(&admin, "long".into(), "客".repeat(2000))
            .await
            .unwrap();
        for (mut r, why) in [
            (rule(" "), "name must be 1 to 100 characters"),
            (rule("u"), "url must be 0 to 500 characters"),
            (rule("s"), "min_seconds must be 0 to 86400"),
            (rule("v"), "min_visits must be 0 to 100000"),
            (rule("t"), "text must be 1 to 1000 characters"),
        ] {
            match r.name.as_str() {
                "u" => r.url = "x".repeat(501),
                "s" => r.min_seconds = 86_401,
                "v" => r.min_visits = 100_001,
                "t" => r.text = " ".into(),
                _ => {}
            }
            assert_eq!(invalid(s.add_rule(&admin, r).await), why);
        }
        // The per-site limit is a conflict.
        s.add_rule(&admin, rule("a")).await.unwrap();
        s.add_rule(&admin, rule("b")).await.unwrap();
        assert!(matches!(
            s.add_rule(&admin, rule("c")).await,
            Err(ServiceError::Store(StoreError::Conflict(_)))
        ));
    }

    #[tokio::test]
    async fn a_change_of_rules_reaches_the_invitation_check_at_once() {
        let (hub, admin, bea) = hub();
        let s = hub.settings();
        let site = admin.agent().site;
        // The invitation check has read (and cached) the site's rules: none.
        assert!(hub.site_rules(site).await.unwrap().is_empty());
        let added = s.add_rule(&admin, rule("Pricing")).await.unwrap();
        let cached = hub.site_rules(site).await.unwrap();
        assert_eq!(
            cached.iter().map(|r| r.id).collect::<Vec<_>>(),
            [added.id],
            "the new rule is seen without waiting"
        );
        assert_eq!(s.rules(&bea).await.unwrap().len(), 1);
        s.delete_rule(&admin, added.id).await.unwrap();
        assert!(hub.site_rules(site).await.unwrap().is_empty());
        assert!(matches!(
            s.delete_rule(&admin, added.id).await,
            Err(ServiceError::NotFound)
        ));
    }
}
