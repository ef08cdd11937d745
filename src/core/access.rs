//! Who a request of the API speaks for, and how the services it calls refuse.
//!
//! Owns: the signed-in agent behind a token, the one admin check (an `Admin` is had only
//! from an agent whose role is admin, and every change to a site's settings takes one),
//! the rule for text lengths (`chars`, in characters, not bytes), and `ServiceError`, the
//! core's words for a refusal, which the edge turns into statuses. Knows nothing of HTTP:
//! the edge finds the token in the request and hands it over.

use super::hub::Hub;
use super::login::LoginError;
use crate::store::{Agent, StoreError};
use crate::vocab::AgentRole;

/// Why a service of the API did not do what an agent asked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServiceError {
    /// No token, or one that is unknown, expired or revoked.
    #[error("missing, unknown, expired or revoked token")]
    Unauthorized,
    /// Signed in, but not allowed to do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// What was sent breaks a rule (a length, a role, a password): the reason.
    #[error("{0}")]
    Invalid(String),
    /// Nothing of that id on the agent's site (another site's is answered the same).
    #[error("not found")]
    NotFound,
    /// The sign-in was refused.
    #[error(transparent)]
    SignIn(#[from] LoginError),
    /// The store failed, or refused (a taken name or a limit is `StoreError::Conflict`).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An admin of a site: what changing the site's settings takes. Made only by `Admin::of`.
#[derive(Debug, Clone)]
pub(crate) struct Admin(Agent);

impl Admin {
    /// `agent`, if it is an admin of its site.
    pub(crate) fn of(agent: Agent) -> Result<Admin, ServiceError> {
        if agent.role != AgentRole::Admin {
            return Err(ServiceError::Forbidden("only admins change site settings"));
        }
        Ok(Admin(agent))
    }

    pub(crate) fn agent(&self) -> &Agent {
        &self.0
    }
}

/// `field` must have `min..=max` characters.
pub(crate) fn chars(field: &str, v: &str, min: usize, max: usize) -> Result<(), ServiceError> {
    let n = v.chars().count();
    if n < min || n > max {
        return Err(ServiceError::Invalid(format!(
            "{field} must be {min} to {max} characters"
        )));
    }
    Ok(())
}

impl Hub {
    /// The agent signed in with `token` (`Unauthorized` without a valid one).
    pub(crate) async fn signed_in(&self, token: Option<&str>) -> Result<Agent, ServiceError> {
        let token = token.ok_or(ServiceError::Unauthorized)?;
        self.agent_by_token(token)
            .await?
            .ok_or(ServiceError::Unauthorized)
    }

    /// The admin signed in with `token` (`Forbidden` for an agent who is not one).
    pub(crate) async fn signed_in_admin(&self, token: Option<&str>) -> Result<Admin, ServiceError> {
        Admin::of(self.signed_in(token).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AgentId, SiteId};

    pub(crate) fn agent(role: AgentRole) -> Agent {
        Agent {
            id: AgentId(1),
            site: SiteId(1),
            email: "a@x".into(),
            name: "A".into(),
            role,
            removed_at: None,
        }
    }

    #[test]
    fn only_an_admin_is_an_admin() {
        assert!(Admin::of(agent(AgentRole::Admin)).is_ok());
        assert!(matches!(
            Admin::of(agent(AgentRole::Agent)),
            Err(ServiceError::Forbidden(_))
        ));
    }

    #[test]
    fn lengths_are_counted_in_characters() {
        assert!(chars("name", "客服", 1, 2).is_ok());
        assert!(chars("name", "客服客", 1, 2).is_err());
        match chars("name", "", 1, 100) {
            Err(ServiceError::Invalid(why)) => assert_eq!(why, "name must be 1 to 100 characters"),
            other => panic!("{other:?}"),
        }
    }
}
