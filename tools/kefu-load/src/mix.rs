//! Many visitors and some agents talking both ways, each over a random transport on
//! every (re)connect — the workload of the chaos test and of `kefu-load soak`.
//!
//! Owns: signing agents in, starting every peer, handing each visitor's conversation to
//! one agent as soon as it exists, and reading the stored logs back through the agent
//! API for [`crate::verify::verify`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kefu::ids::ConversationId;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::drive::{drive, Counters, Work};
use crate::frames::Entry;
use crate::http::Conn;
use crate::net::{Target, Tr};
use crate::session::Peer;
use crate::verify::Log;

/// The shape of a mixed run.
#[derive(Clone)]
pub struct Mix {
    pub visitors: usize,
    pub per_visitor: u64,
    pub agents: usize,
    /// Messages each agent writes to each of its conversations.
    pub per_conv_agent: u64,
    pub window: usize,
    /// Pause between one peer's messages (none: as fast as the window allows).
    pub every: Option<Duration>,
    pub transports: Vec<Tr>,
    pub dead_after: Duration,
    pub deadline: Instant,
    pub seed: u64,
    pub progress: Option<Arc<Counters>>,
}

/// The answer to `POST /v1/login`, as far as the client cares.
#[derive(Deserialize)]
struct SignedIn {
    token: String,
    agent: SignedInAgent,
}

#[derive(Deserialize)]
struct SignedInAgent {
    site: Option<String>,
}

/// The answer to `GET /v1/conversations/{id}/entries`.
#[derive(Deserialize)]
struct Entries {
    entries: Vec<Entry>,
}

/// `POST /v1/login` → (token, the agent's site key).
pub async fn login_site(
    t: &Arc<Target>,
    email: &str,
    password: &str,
) -> Result<(String, String), String> {
    let mut c = Conn::new(t.clone());
    let body = json!({"email": email, "password": password}).to_string();
    let (s, b) = c
        .request(
            "POST",
            "/v1/login",
            &[("content-type", "application/json")],
            &body,
            Duration::from_secs(10),
        )
        .await
        .map_err(|e| format!("login: {e}"))?;
    match (s, serde_json::from_str::<SignedIn>(&b)) {
        (
            200,
            Ok(SignedIn {
                token,
                agent: SignedInAgent { site: Some(site) },
            }),
        ) => Ok((token, site)),
        _ => Err(format!("login refused: {s} {b:.200}")),
    }
}

/// Run the mix; returns every peer (agents last) when all have settled or time is up.
pub async fn run(t: &Arc<Target>, site: &str, tokens: &[String], mix: &Mix) -> Vec<Peer> {
    let (_stop_tx, stop) = watch::channel(false);
    let expect = mix.per_visitor + mix.per_conv_agent;
    let work = |seed: u64, messages: u64| Work {
        messages,
        window: mix.window,
        every: mix.every,
        transports: mix.transports.clone(),
        dead_after: mix.dead_after,
        deadline: mix.deadline,
        seed,
        linger: false,
        counters: mix.progress.clone(),
        cut: None,
        before_cut: None,
    };
    let mut agent_tx = Vec::new();
    let mut agents = Vec::new();
    for (i, tok) in tokens.iter().enumerate().take(mix.agents) {
        let (tx, rx) = mpsc::unbounded_channel();
        agent_tx.push(tx);
        let mut p = Peer::agent(&format!("a{i}"), site, tok);
        p.expect_each = expect;
        p.per_conv = mix.per_conv_agent;
        let share = (mix.visitors / mix.agents + usize::from(i < mix.visitors % mix.agents)) as u64;
        let w = work(mix.seed ^ (0xA000 + i as u64), share * mix.per_conv_agent);
        let (t, stop) = (t.clone(), stop.clone());
        agents.push(tokio::spawn(async move {
            drive(&mut p, t, w, Some(rx), None, stop).await;
            p
        }));
    }
    let (rep_tx, mut rep_rx) = mpsc::unbounded_channel();
    let mut visitors = Vec::new();
    for i in 0..mix.visitors {
        let mut p = Peer::visitor(&format!("v{i}"), site);
        p.expect_each = expect;
        let w = work(mix.seed ^ i as u64, mix.per_visitor.max(1));
        let (t, stop, rep) = (t.clone(), stop.clone(), rep_tx.clone());
        visitors.push(tokio::spawn(async move {
            drive(&mut p, t, w, None, Some(rep), stop).await;
            p
        }));
    }
    drop(rep_tx);
    // Hand each conversation to an agent; when every visitor has one, agents know all.
    let mut n = 0usize;
    while let Some(c) = rep_rx.recv().await {
        if !agent_tx.is_empty() {
            let _ = agent_tx[n % agent_tx.len()].send(c);
        }
        n += 1;
        if n == mix.visitors {
            break;
        }
    }
    drop(agent_tx);
    let mut out = Vec::new();
    for h in visitors.into_iter().chain(agents) {
        if let Ok(p) = h.await {
            out.push(p);
        }
    }
    out
}

/// Read whole logs through `GET /v1/conversations/{id}/entries` with an agent token.
pub async fn fetch_logs(
    t: &Arc<Target>,
    token: &str,
    convs: impl IntoIterator<Item = ConversationId>,
) -> Result<HashMap<ConversationId, Log>, String> {
    let mut c = Conn::new(t.clone());
    let mut out = HashMap::new();
    for conv in convs {
        let mut log: Log = Vec::new();
        loop {
            let path = format!(
                "/v1/conversations/{conv}/entries?after={}&limit=1000",
                log.len()
            );
            let auth = format!("Bearer {token}");
            let (s, b) = c
                .request(
                    "GET",
                    &path,
                    &[("authorization", &auth)],
                    "",
                    Duration::from_secs(30),
                )
                .await
                .map_err(|e| format!("entries: {e}"))?;
            if s != 200 {
                return Err(format!("entries of {conv}: {s} {b:.200}"));
            }
            let page: Entries =
                serde_json::from_str(&b).map_err(|e| format!("entries of {conv}: {e}"))?;
            if page.entries.is_empty() {
                break;
            }
            log.extend(page.entries.into_iter().map(|e| (e.off, e.cid)));
        }
        out.insert(conv, log);
    }
    Ok(out)
}
