//! The transport-neutral core: streams, offsets, acks, dedupe, sessions and fan-out.
//!
//! Owns every rule about what a frame does. Knows nothing of hyper, tungstenite or
//! diesel: transports reach it through `conn::Transport`, and it reaches the store only
//! through the `Store` trait, on blocking threads.
//!
//! - `hub`: process-wide state and the way to the store
//! - `conn`: one connection's life, whatever transport carries it
//! - `stream`, `registry`, `signal`: live streams and waking their followers
//! - `session`: a visitor's session shared by its tabs
//! - `presence`: who is on each site now (visitors, agents), never stored
//! - `desk`: assignment, queue, transfer, close, reopen
//! - `invite`: invitations by agents and by site rules, with the frequency cap
//! - `writer`: the single group-committing writer
//! - `entry`: a stored entry as the `e` frame clients see
//! - `auth`: agent passwords and the first-run bootstrap, sign-in tokens as the store
//!   keeps them, visitor identity tokens (HS256)
//! - `login`: sign-in limits, the password pool (`hasher`), tokens
//! - `budget`: what one client address may hold (connections, channels, parts)
//! - `tokens`: visitor tokens the server issues
//! - `send`: an agent's message, the one path of WebSocket and REST
//! - `tasks`: every background task, tracked; the drain and the timers' stop at shutdown
//! - `cluster`: several nodes on one database — node ids, heartbeats, rendezvous, leases
//! - `sites`: which sites this node serves; taking, dropping and handing them over
//!
//! The services the HTTP API calls (each request parses, calls one, renders):
//!
//! - `access`: the signed-in agent, the admin check, the refusals (`ServiceError`)
//! - `directory`: signing in and out, the site, its agents, adding one
//! - `settings`: canned responses and invitation rules
//! - `history`: open conversations, entries, search
//! - `webhooks`: a site's webhooks, and delivering their events from the outbox

pub(crate) mod access;
pub mod auth;
pub(crate) mod budget;
pub(crate) mod cluster;
pub(crate) mod conn;
pub(crate) mod desk;
pub(crate) mod directory;
mod entry;
pub(crate) mod hasher;
pub(crate) mod history;
pub(crate) mod hub;
pub(crate) mod invite;
pub(crate) mod login;
pub(crate) mod metrics;
pub(crate) mod presence;
pub(crate) mod registry;
pub(crate) mod send;
pub(crate) mod session;
pub(crate) mod settings;
pub(crate) mod signal;
pub(crate) mod sites;
pub(crate) mod stream;
pub(crate) mod tasks;
#[cfg(test)]
pub(crate) mod testing;
pub(crate) mod tokens;
pub(crate) mod webhooks;
pub(crate) mod writer;

/// Transports, for gauges and per-site rules.
pub use crate::vocab::TransportKind;
pub use hub::Hub;
pub(crate) use writer::AppendError;

use tokio::sync::watch;

/// The one shutdown signal. Every long-lived loop selects on `wait()`.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// Fires the shutdown signal.
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

impl Shutdown {
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger { tx }, Shutdown { rx })
    }

    /// Resolves once shutdown has been triggered (at once if it already was).
    pub async fn wait(&mut self) {
        // An error means the trigger was dropped: treat that as shutdown too.
        let _ = self.rx.wait_for(|&v| v).await;
    }
}

impl ShutdownTrigger {
    pub fn fire(&self) {
        let _ = self.tx.send(true);
    }
}
