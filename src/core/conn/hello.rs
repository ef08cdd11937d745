//! The first frame: checking the site, origin, transport and identity of a `hello`, and
//! starting the visitor's or agent's session.

use std::sync::Arc;

use super::{Authed, Conn, End, Flow, Principal, Transport};
use crate::core::auth::{verify_identity, IdentityClaims};
use crate::core::presence::AgentLink;
use crate::core::session::Identity;
use crate::ids::{Offset, SessionId, SiteId};
use crate::protocol::{close, Hello, Position, Role, ServerFrame, User, VERSION};

impl<T: Transport> Conn<T> {
    pub(super) async fn on_hello(&mut self, hello: Hello) -> Flow {
        let Hello {
            v,
            site: site_key,
            role,
            visitor,
            token: agent_token,
            resume,
            user,
        } = hello;
        let site_key = site_key.as_str();
        if v != VERSION {
            return Err(End::Close(
                close::BAD_VERSION,
                "unsupported protocol version",
            ));
        }
        let site = match self.hub.site(site_key).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                tracing::info!(peer = ?self.info.peer, site = site_key, "unknown site");
                return Err(End::Close(close::UNKNOWN_SITE, "unknown site"));
            }
            Err(e) => {
                tracing::error!(error = %e, "site lookup failed");
                return Err(End::Close(close::INTERNAL, "store unavailable"));
            }
        };
        tracing::Span::current().record("site", site_key);
        if let Some(origin) = &self.info.origin {
            if !self.hub.origin_allowed(&site, origin, Some(role)) {
                tracing::info!(origin = %origin, site = site_key, "origin not allowed");
                return Err(End::Close(close::ORIGIN_NOT_ALLOWED, "origin not allowed"));
            }
        }
        let kind = self.t.kind();
        if !site.allows_transport(kind) {
            return Err(End::Close(
                close::TRANSPORT_DISABLED,
                "transport disabled for this site",
            ));
        }
        if let Err(url) = self.hub.serve_site(&site).await {
            tracing::debug!(site = site_key, to = %url, "site served by another node");
            return Err(End::Moved(url));
        }
        if role == Role::Agent {
            return self.agent_hello(site.id, agent_token).await;
        }
        // `Some` when the hello carries `user`: it replaces what agents are shown.
        let user = user.map(|u| identity(&site.secret, u, site_key));
        if site.require_identity && !matches!(user, Some(Some(Identity { verified: true, .. }))) {
            tracing::info!(peer = ?self.info.peer, site = site_key, "visitor without a verified identity");
            return Err(End::Close(
                close::UNAUTHORIZED,
                "this site requires a verified identity",
            ));
        }
        let token = match visitor_token(&self.hub, &site, visitor).await {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "visitor lookup failed");
                return Err(End::Close(close::INTERNAL, "store unavailable"));
            }
        };
        let session = match self.hub.visitor_session(site.id, &token).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "session load failed");
                return Err(End::Close(close::INTERNAL, "store unavailable"));
            }
        };
        if session.connection_count() >= self.hub.config().max_session_connections {
            tracing::info!(peer = ?self.info.peer, "too many connections for one visitor");
            return Err(End::Close(
                close::OVERLOADED,
                "too many connections for this visitor",
            ));
        }
        session.attach(&self.sig, kind);
        {
            let mut i = session.info();
            if i.ua.is_empty() {
                i.ua = self.info.user_agent.take().unwrap_or_default();
            }
            if let Some(u) = user {
                i.user = u;
            }
        }
        let conv = session.conv();
        let head = match conv {
            Some(c) => match self.hub.head(c.id).await {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::error!(error = %e, "head lookup failed");
                    return Err(End::Close(close::INTERNAL, "store unavailable"));
                }
            },
            None => None,
        };
        self.authed = Some(Authed {
            principal: Principal::Visitor(session.clone()),
            site: site.id,
            role,
        });
        tracing::Span::current()
            .record("session", session.id.0.as_str())
            .record("role", "visitor");
        self.hello_counted("visitor");
        self.send_frame(ServerFrame::Welcome {
            v: VERSION,
            session: &session.id.0,
            visitor: Some(&token),
            conv: conv.map(|c| c.id),
            epoch: conv.map(|c| c.epoch),
            head,
            hb: self.hb.as_millis() as u64,
        })
        .await?;
        if let Some(c) = conv {
            let pos = match resume {
                Some(p) if p.conv == c.id => p,
                _ => Position {
                    conv: c.id,
                    epoch: Some(c.epoch),
                    after: Offset::ZERO,
                },
            };
            self.on_follow(pos, true).await?;
            // A conversation still waiting for an agent: where it is in the queue.
            if let Some(position) = self.hub.queue_position(site.id, c.id) {
                self.send_frame(ServerFrame::Queue {
                    conv: c.id,
                    position,
                })
                .await?;
            }
        }
        self.hub.presence().visitor_changed(&session);
        let online = self.hub.presence().agents_available(site.id);
        self.send_frame(ServerFrame::Agents { online }).await
    }

    /// An agent's hello: the token must belong to an agent of this site.
    pub(super) async fn agent_hello(&mut self, site: SiteId, token: Option<String>) -> Flow {
        let agent = match token {
            Some(t) => match self.hub.agent_by_token(&t).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!(error = %e, "token lookup failed");
                    return Err(End::Close(close::INTERNAL, "store unavailable"));
                }
            },
            None => None,
        };
        let Some(agent) = agent.filter(|a| a.site == site) else {
            tracing::info!(peer = ?self.info.peer, "agent hello with a bad token");
            return Err(End::Close(
                close::UNAUTHORIZED,
                "unknown, expired or revoked token",
            ));
        };
        let session = SessionId::random();
        self.sig.set_agent();
        let link = Arc::new(AgentLink::new(
            agent.id,
            agent.name.clone(),
            self.sig.clone(),
        ));
        tracing::Span::current()
            .record("session", session.0.as_str())
            .record("role", "agent");
        self.hello_counted("agent");
        self.authed = Some(Authed {
            principal: Principal::Agent(agent, link.clone()),
            site,
            role: Role::Agent,
        });
        self.send_frame(ServerFrame::Welcome {
            v: VERSION,
            session: &session.0,
            visitor: None,
            conv: None,
            epoch: None,
            head: None,
            hb: self.hb.as_millis() as u64,
        })
        .await?;
        // Register before the snapshot: a change racing it arrives after it.
        self.hub.presence().agent_joined(site, &link);
        self.send_visitor_snapshot(site).await?;
        self.hub.desk_changed(site);
        Ok(())
    }
}

/// The token this visitor goes on with: the one it sent when this server issued it for
/// this site, or when the store knows it (a token from before tokens were issued);
/// otherwise a new one (`welcome` carries it).
async fn visitor_token(
    hub: &crate::core::hub::Hub,
    site: &crate::store::Site,
    sent: Option<String>,
) -> crate::store::StoreResult<String> {
    let Some(t) = sent else {
        return Ok(crate::core::tokens::issue(site));
    };
    if crate::core::tokens::issued(site, &t) {
        return Ok(t);
    }
    let (id, known) = (site.id, t.clone());
    if hub.blocking(move |s| s.visitor_exists(id, &known)).await? {
        return Ok(t);
    }
    Ok(crate::core::tokens::issue(site))
}

/// What agents are shown of a hello's `user` (`docs/identity.md`): the claims of a good
/// identity token, verified, and nothing else of it; without one, the plain fields,
/// unverified; nothing when a refused token came without them.
fn identity(secret: &str, user: User, site_key: &str) -> Option<Identity> {
    if let Some(token) = &user.token {
        match verify_identity(secret, token, crate::store::now_ms() / 1000) {
            Ok(IdentityClaims {
                sub,
                name,
                attrs,
                exp,
                ..
            }) => {
                return Some(Identity {
                    id: sub,
                    name,
                    attrs: attrs.into_iter().map(|(k, v)| (k, v.into())).collect(),
                    verified: true,
                    exp: Some(exp),
                })
            }
            Err(e) => tracing::info!(site = site_key, reason = %e, "identity token refused"),
        }
    }
    (!user.id.is_empty()).then_some(Identity {
        id: user.id,
        name: user.name,
        attrs: user.attrs,
        verified: false,
        exp: None,
    })
}
