//! The REST API of a site's settings (`docs/api.md`): the site, its agents, canned
//! responses and automatic invitation rules.
//!
//! Owns: validating what agents send here, and who may do what — every agent reads its
//! own site's settings, only admins change them, and nobody ever sees or touches another
//! site's (another site's id answers exactly like a missing one: 404).

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::api::{agent, JSON};
use super::error::HttpError;
use super::{read_body, text, Body, HttpCtx};
use crate::core::auth;
use crate::store::{Agent, InviteRule};
use crate::vocab::{AgentRole, UnknownWord};

/// Largest body any settings endpoint reads.
const MAX_BODY: usize = 8 * 1024;

fn ok(status: StatusCode, v: serde_json::Value) -> Result<Response<Body>, HttpError> {
    Ok(text(status, JSON, v.to_string()))
}

async fn json_body<T: DeserializeOwned>(
    req: Request<Incoming>,
    ctx: &HttpCtx,
) -> Result<T, HttpError> {
    let bytes = read_body(
        req.into_body(),
        MAX_BODY,
        ctx.hub.config().request_timeout(),
    )
    .await?;
    serde_json::from_slice(&bytes).map_err(|e| HttpError::BadRequest(format!("body: {e}")))
}

/// The signed-in agent, who must be an admin of its site.
async fn admin(req: &Request<Incoming>, ctx: &HttpCtx) -> Result<Agent, HttpError> {
    let a = agent(req, ctx).await?;
    if a.role != AgentRole::Admin {
        return Err(HttpError::Forbidden(
            "only admins change site settings".into(),
        ));
    }
    Ok(a)
}

/// `field` must have `min..=max` characters.
fn chars(field: &str, v: &str, min: usize, max: usize) -> Result<(), HttpError> {
    let n = v.chars().count();
    if n < min || n > max {
        return Err(HttpError::BadRequest(format!(
            "{field} must be {min} to {max} characters"
        )));
    }
    Ok(())
}

/// The id at the end of `/v1/canned/{id}` or `/v1/rules/{id}`; anything else is not found.
fn id_of(path: &str, prefix: &str) -> Result<i64, HttpError> {
    path.strip_prefix(prefix)
        .and_then(super::path_id)
        .ok_or(HttpError::NotFound)
}

/// Is `path` one of the settings endpoints?
pub(super) fn owns(path: &str) -> bool {
    matches!(path, "/v1/site" | "/v1/agents" | "/v1/canned" | "/v1/rules")
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
        (&Method::GET, "/v1/agents") => agents(req, ctx).await,
        (&Method::POST, "/v1/agents") => add_agent(req, ctx).await,
        (&Method::GET, "/v1/canned") => canned(req, ctx).await,
        (&Method::POST, "/v1/canned") => add_canned(req, ctx).await,
        (&Method::DELETE, p) if p.starts_with("/v1/canned/") => {
            delete(req, ctx, Setting::Canned, id_of(p, "/v1/canned/")).await
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
    let id = a.site;
    let site = ctx
        .hub
        .blocking(move |s| s.site(id))
        .await?
        .ok_or(HttpError::NotFound)?;
    ok(
        StatusCode::OK,
        serde_json::json!({"site": {
            "key": site.key, "name": site.name, "origins": site.allowed_origins,
            "transports": site.transports, "require_identity": site.require_identity,
        }}),
    )
}

/// `GET /v1/agents`: the site's agents, with who is on line now.
async fn agents(req: Request<Incoming>, ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    let a = agent(&req, ctx).await?;
    let site = a.site;
    let list = ctx.hub.blocking(move |s| s.agents(site)).await?;
    let team = ctx.hub.team(site);
    let items: Vec<_> = list
        .iter()
        .map(|a| {
            let on = team.iter().find(|m| m.id == a.id);
            serde_json::json!({
                "id": a.id, "name": a.name, "email": a.email, "role": a.role,
                "status": on.map_or("offline", |m| m.status),
                "load": on.map_or(0, |m| m.load),
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
    let b: NewAgentBody = json_body(req, ctx).await?;
    let email = b.email.trim().to_string();
    chars("email", &email, 3, 320)?;
    if !email.contains('@') {
        return Err(HttpError::BadRequest("email must contain @".into()));
    }
    let name = b.name.trim().to_string();
    chars("name", &name, 1, 100)?;
    auth::check_password(&b.password).map_err(HttpError::BadRequest)?;
    let role = b.role.as_deref().map_or(Ok(AgentRole::Agent), str::parse);
    let role = role.map_err(|e: UnknownWord| HttpError::BadRequest(e.to_string()))?;
    let site = a.site;
    let created = ctx
        .hub
        .blocking(move |s| {
            let hash = auth::hash_password(&b.password)?;
            s.add_agent(site, &email, &name, role, &hash)
        })
        .await?;
    ok(
        StatusCode::CREATED,
        serde_json::json!({"agent": {
            "id": created.id, "name": created.name, "email": created.email, "role": created.role,
        }}),
    )
}

/// `GET /v1/canned`: the site's canned responses.
async fn canned(req: Request<Incoming>, ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    let site = agent(&req, ctx).await?.site;
    let list = ctx.hub.blocking(move |s| s.canned(site)).await?;
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
    let b: CannedBody = json_body(req, ctx).await?;
    chars("shortcut", &b.shortcut, 1, 32)?;
    if !b
        .shortcut
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
    {
        return Err(HttpError::BadRequest(
            "shortcut may only use a-z, 0-9, - and _".into(),
        ));
    }
    chars("text", b.text.trim(), 1, 2000)?;
    let (site, max) = (a.site, ctx.hub.config().max_canned);
    let c = ctx
        .hub
        .blocking(move |s| s.add_canned(site, &b.shortcut, &b.text, max))
        .await?;
    ok(StatusCode::CREATED, serde_json::json!({ "canned": c }))
}

/// What a `DELETE` removes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Setting {
    Canned,
    Rule,
}

/// `DELETE /v1/canned/{id}` and `DELETE /v1/rules/{id}` (admins).
async fn delete(
    req: Request<Incoming>,
    ctx: &HttpCtx,
    what: Setting,
    id: Result<i64, HttpError>,
) -> Result<Response<Body>, HttpError> {
    let a = admin(&req, ctx).await?;
    let (site, id) = (a.site, id?);
    let gone = ctx
        .hub
        .blocking(move |s| match what {
            Setting::Canned => s.delete_canned(site, id),
            Setting::Rule => s.delete_rule(site, id),
        })
        .await?;
    if what == Setting::Rule {
        ctx.hub.rules_changed(site);
    }
    if !gone {
        return Err(HttpError::NotFound);
    }
    ok(StatusCode::OK, serde_json::json!({ "ok": true }))
}

/// `GET /v1/rules`: the site's automatic invitation rules.
async fn rules(req: Request<Incoming>, ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    let site = agent(&req, ctx).await?.site;
    let list = ctx.hub.site_rules(site).await?;
    ok(StatusCode::OK, serde_json::json!({ "rules": *list }))
}

#[derive(Deserialize)]
struct RuleBody {
    name: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    min_seconds: u32,
    #[serde(default)]
    min_visits: u32,
    text: String,
}

/// `POST /v1/rules` (admins).
async fn add_rule(req: Request<Incoming>, ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    let a = admin(&req, ctx).await?;
    let b: RuleBody = json_body(req, ctx).await?;
    let name = b.name.trim().to_string();
    chars("name", &name, 1, 100)?;
    let url = b.url.trim().to_string();
    chars("url", &url, 0, 500)?;
    if b.min_seconds > 86_400 {
        return Err(HttpError::BadRequest(
            "min_seconds must be 0 to 86400".into(),
        ));
    }
    if b.min_visits > 100_000 {
        return Err(HttpError::BadRequest(
            "min_visits must be 0 to 100000".into(),
        ));
    }
    chars("text", b.text.trim(), 1, 1000)?;
    let rule = InviteRule {
        id: 0,
        site: a.site,
        name,
        url,
        min_seconds: b.min_seconds,
        min_visits: b.min_visits,
        text: b.text,
    };
    let (site, max) = (a.site, ctx.hub.config().max_rules);
    let r = ctx
        .hub
        .blocking(move |s| s.add_rule(site, &rule, max))
        .await?;
    ctx.hub.rules_changed(site);
    ok(StatusCode::CREATED, serde_json::json!({ "rule": r }))
}
