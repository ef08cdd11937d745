//! The REST API of a site's settings (`docs/api.md`): the site, its agents, canned
//! responses and automatic invitation rules.
//!
//! Owns: their paths, parsing their bodies and ids, and the JSON of each answer. Who may
//! do what (every agent reads its own site's settings, only admins change them, nobody
//! reaches another site's) and what a valid setting is are the core's (`core::access`,
//! `directory`, `settings`). Each admin-only handler asks for the admin before reading
//! the body, so a plain agent is refused (403) whatever it sent.

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;

use super::api::{agent, json_body, token, JSON};
use super::error::HttpError;
use super::{text, Body, HttpCtx};
use crate::core::access::Admin;
use crate::core::directory::{AgentChange, NewAgent};
use crate::core::settings::{NewRule, SiteChange};

/// Largest body any settings endpoint reads.
const MAX_BODY: usize = 8 * 1024;

pub(super) fn ok(status: StatusCode, v: serde_json::Value) -> Result<Response<Body>, HttpError> {
    Ok(text(status, JSON, v.to_string()))
}

/// The signed-in agent, who must be an admin of its site.
pub(super) async fn admin(req: &Request<Incoming>, ctx: &HttpCtx) -> Result<Admin, HttpError> {
    Ok(ctx.hub.signed_in_admin(token(req).as_deref()).await?)
}

/// The id at the end of `/v1/canned/{id}` or `/v1/rules/{id}`; anything else is not found.
fn id_of(path: &str, prefix: &str) -> Result<i64, HttpError> {
    path.strip_prefix(prefix)
        .and_then(super::path_id)
        .ok_or(HttpError::NotFound)
}

/// Is `path` one of the settings endpoints?
pub(super) fn owns(path: &str) -> bool {
    matches!(
        path,
        "/v1/site" | "/v1/sites" | "/v1/agents" | "/v1/canned" | "/v1/rules"
    ) || path.starts_with("/v1/agents/")
        || path.starts_with("/v1/visitors/")
        || path.starts_with("/v1/canned/")
        || path.starts_with("/v1/rules/")
}

/// Route a path that `owns` accepted.
pub(super) async fn route(
    req: Request<Incoming>,
    ctx: &HttpCtx,
    path: &str,
) -> Result<Response<Body>, HttpError> {
    let m = req.method().clone();
    match (&m, path) {
        (&Method::GET, "/v1/site") => site(req, ctx).await,
        (&Method::PATCH, "/v1/site") => update_site(req, ctx).await,
        (&Method::POST, "/v1/sites") => add_site(req, ctx).await,
        (&Method::GET, "/v1/agents") => agents(req, ctx).await,
        (&Method::POST, "/v1/agents") => add_agent(req, ctx).await,
        (&Method::PATCH, p) if p.starts_with("/v1/agents/") => {
            update_agent(req, ctx, id_of(p, "/v1/agents/")).await
        }
        (&Method::DELETE, p) if p.starts_with("/v1/agents/") => {
            remove_agent(req, ctx, id_of(p, "/v1/agents/")).await
        }
        (&Method::GET, "/v1/canned") => canned(req, ctx).await,
        (&Method::POST, "/v1/canned") => add_canned(req, ctx).await,
        (&Method::DELETE, p) if p.starts_with("/v1/canned/") => {
            delete(req, ctx, Setting::Canned, id_of(p, "/v1/canned/")).await
        }
        (&Method::DELETE, p) if p.starts_with("/v1/visitors/") => {
            delete_visitor(req, ctx, p.trim_start_matches("/v1/visitors/")).await
        }
        (&Method::GET, "/v1/rules") => rules(req, ctx).await,
        (&Method::POST, "/v1/rules") => add_rule(req, ctx).await,
        (&Method::DELETE, p) if p.starts_with("/v1/rules/") => {
            delete(req, ctx, Setting::Rule, id_of(p, "/v1/rules/")).await
        }
        _ => Err(HttpError::MethodNotAllowed),
    }
}

/// `GET /v1/site`: the agent's own site, without its secret.
async fn site(req: Request<Incoming>, ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    let a = agent(&req, ctx).await?;
    let site = ctx.hub.directory().site(&a).await?;
    ok(StatusCode::OK, site_json(&site))
}

/// The site as `GET /v1/site` and `PATCH /v1/site` answer it (never its secret).
fn site_json(site: &crate::store::Site) -> serde_json::Value {
    serde_json::json!({"site": {
        "key": site.key, "name": site.name, "origins": site.allowed_origins,
        "transports": site.transports, "require_identity": site.require_identity,
    }})
}

#[derive(Deserialize)]
struct SiteBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    origins: Option<Vec<String>>,
    #[serde(default)]
    transports: Option<Vec<String>>,
    #[serde(default)]
    require_identity: Option<bool>,
}

/// `PATCH /v1/site` (admins): change the site; the fields left out stay as they are.
async fn update_site(req: Request<Incoming>, ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    let a = admin(&req, ctx).await?;
    let b: SiteBody = json_body(req, MAX_BODY, ctx).await?;
    let change = SiteChange {
        name: b.name,
        origins: b.origins,
        transports: b.transports,
        require_identity: b.require_identity,
    };
    let site = ctx.hub.settings().update_site(&a, change).await?;
    ok(StatusCode::OK, site_json(&site))
}

#[derive(Deserialize)]
struct NewSiteBody {
    name: String,
    #[serde(default)]
    origins: Vec<String>,
}

/// `POST /v1/sites` (admins): a new site, administered by the same person. The answer
/// carries the site's secret (what signs visitor identities, `docs/identity.md`): the
/// only answer of the API that ever does.
async fn add_site(req: Request<Incoming>, ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    let a = admin(&req, ctx).await?;
    let b: NewSiteBody = json_body(req, MAX_BODY, ctx).await?;
    let (site, agent) = ctx.hub.settings().add_site(&a, b.name, b.origins).await?;
    let mut v = site_json(&site);
    v["site"]["secret"] = serde_json::json!(site.secret);
    v["agent"] = serde_json::json!({
        "id": agent.id, "name": agent.name, "email": agent.email, "role": agent.role,
    });
    ok(StatusCode::CREATED, v)
}

/// `DELETE /v1/visitors/{visitor}` (admins): delete a visitor's data on request — its
/// conversations, their entries, the visitor itself. On a node of a cluster that does not
/// serve the site, 421 with the one that does.
async fn delete_visitor(
    req: Request<Incoming>,
    ctx: &HttpCtx,
    visitor: &str,
) -> Result<Response<Body>, HttpError> {
    let a = admin(&req, ctx).await?;
    let visitor = super::api::visitor_id(visitor).map_err(|_| HttpError::NotFound)?;
    ctx.hub
        .serve_site_id(a.agent().site)
        .await
        .map_err(HttpError::Moved)?;
    let gone = ctx.hub.directory().delete_visitor(&a, visitor).await?;
    ok(
        StatusCode::OK,
        serde_json::json!({"deleted": {
            "visitor": crate::vocab::Sender::Visitor(visitor),
            "conversations": gone.conversations,
        }}),
    )
}

/// `GET /v1/agents`: the site's agents, with who is on line now.
async fn agents(req: Request<Incoming>, ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    let a = agent(&req, ctx).await?;
    let list = ctx.hub.directory().agents(&a).await?;
    let items: Vec<_> = list
        .iter()
        .map(|l| {
            let a = &l.agent;
            serde_json::json!({
                "id": a.id, "name": a.name, "email": a.email, "role": a.role,
                "status": l.status,
                "load": l.load,
                "removed_at": a.removed_at,
            })
        })
        .collect();
    ok(StatusCode::OK, serde_json::json!({ "agents": items }))
}

#[derive(Deserialize)]
struct NewAgentBody {
    email: String,
    name: String,
    password: String,
    #[serde(default)]
    role: Option<String>,
}

/// `POST /v1/agents` (admins): a new agent account on the site.
async fn add_agent(req: Request<Incoming>, ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    let a = admin(&req, ctx).await?;
    let b: NewAgentBody = json_body(req, MAX_BODY, ctx).await?;
    let new = NewAgent {
        email: b.email,
        name: b.name,
        password: b.password,
        role: b.role,
    };
    let created = ctx.hub.directory().add_agent(&a, new).await?;
    ok(
        StatusCode::CREATED,
        serde_json::json!({"agent": {
            "id": created.id, "name": created.name, "email": created.email, "role": created.role,
        }}),
    )
}

#[derive(Deserialize)]
struct AgentBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// `PATCH /v1/agents/{id}` (admins): rename an agent, change its role or its password.
async fn update_agent(
    req: Request<Incoming>,
    ctx: &HttpCtx,
    id: Result<i64, HttpError>,
) -> Result<Response<Body>, HttpError> {
    let a = admin(&req, ctx).await?;
    let id = id?;
    let b: AgentBody = json_body(req, MAX_BODY, ctx).await?;
    let change = AgentChange {
        name: b.name,
        role: b.role,
        password: b.password,
    };
    let changed = ctx
        .hub
        .directory()
        .update_agent(&a, crate::ids::AgentId(id), change)
        .await?;
    ok(
        StatusCode::OK,
        serde_json::json!({"agent": {
            "id": changed.id, "name": changed.name, "email": changed.email, "role": changed.role,
        }}),
    )
}

/// `DELETE /v1/agents/{id}` (admins): remove an agent (`Directory::remove_agent`). On a
/// node of a cluster that does not serve the site, 421 with the one that does (the
/// agent's connections and the desk are there).
async fn remove_agent(
    req: Request<Incoming>,
    ctx: &HttpCtx,
    id: Result<i64, HttpError>,
) -> Result<Response<Body>, HttpError> {
    let a = admin(&req, ctx).await?;
    let id = id?;
    ctx.hub
        .serve_site_id(a.agent().site)
        .await
        .map_err(HttpError::Moved)?;
    let gone = ctx
        .hub
        .directory()
        .remove_agent(&a, crate::ids::AgentId(id))
        .await?;
    ok(
        StatusCode::OK,
        serde_json::json!({"agent": {
            "id": gone.id, "name": gone.name, "email": gone.email, "role": gone.role,
            "removed_at": gone.removed_at,
        }}),
    )
}

/// `GET /v1/canned`: the site's canned responses.
async fn canned(req: Request<Incoming>, ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    let a = agent(&req, ctx).await?;
    let list = ctx.hub.settings().canned(&a).await?;
    ok(StatusCode::OK, serde_json::json!({ "canned": list }))
}

#[derive(Deserialize)]
struct CannedBody {
    shortcut: String,
    text: String,
}

/// `POST /v1/canned` (admins).
async fn add_canned(req: Request<Incoming>, ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    let a = admin(&req, ctx).await?;
    let b: CannedBody = json_body(req, MAX_BODY, ctx).await?;
    let c = ctx
        .hub
        .settings()
        .add_canned(&a, b.shortcut, b.text)
        .await?;
    ok(StatusCode::CREATED, serde_json::json!({ "canned": c }))
}

/// What a `DELETE` removes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Setting {
    Canned,
    Rule,
}

/// `DELETE /v1/canned/{id}` and `DELETE /v1/rules/{id}` (admins). The admin is asked
/// for first: a plain agent is refused whatever the id.
async fn delete(
    req: Request<Incoming>,
    ctx: &HttpCtx,
    what: Setting,
    id: Result<i64, HttpError>,
) -> Result<Response<Body>, HttpError> {
    let a = admin(&req, ctx).await?;
    let (id, settings) = (id?, ctx.hub.settings());
    match what {
        Setting::Canned => settings.delete_canned(&a, id).await?,
        Setting::Rule => settings.delete_rule(&a, id).await?,
    }
    ok(StatusCode::OK, serde_json::json!({ "ok": true }))
}

/// `GET /v1/rules`: the site's automatic invitation rules.
async fn rules(req: Request<Incoming>, ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    let a = agent(&req, ctx).await?;
    let list = ctx.hub.settings().rules(&a).await?;
    ok(StatusCode::OK, serde_json::json!({ "rules": *list }))
}

#[derive(Deserialize)]
struct RuleBody {
    name: String,
    #[serde(default)]
    url: String,
    #[serde(default, deserialize_with = "super::api::whole")]
    min_seconds: u32,
    #[serde(default, deserialize_with = "super::api::whole")]
    min_visits: u32,
    text: String,
}

/// `POST /v1/rules` (admins).
async fn add_rule(req: Request<Incoming>, ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    let a = admin(&req, ctx).await?;
    let b: RuleBody = json_body(req, MAX_BODY, ctx).await?;
    let new = NewRule {
        name: b.name,
        url: b.url,
        min_seconds: b.min_seconds,
        min_visits: b.min_visits,
        text: b.text,
    };
    let r = ctx.hub.settings().add_rule(&a, new).await?;
    ok(StatusCode::CREATED, serde_json::json!({ "rule": r }))
}
