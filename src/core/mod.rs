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
//! - `auth`: password hashing and the first-run bootstrap
//! - `login`: sign-in limits, the password pool (`hasher`), tokens
//! - `budget`: what one client address may hold (connections, channels, parts)
//! - `tokens`: visitor tokens the server issues
//! - `tasks`: every background task, tracked; the drain and the timers' stop at shutdown

pub mod auth;
pub(crate) mod budget;
pub mod conn;
pub(crate) mod desk;
mod entry;
pub(crate) mod hasher;
pub mod hub;
pub(crate) mod invite;
pub mod login;
pub(crate) mod presence;
pub(crate) mod registry;
pub(crate) mod session;
pub(crate) mod signal;
pub(crate) mod stream;
pub(crate) mod tasks;
#[cfg(test)]
pub(crate) mod testing;
pub(crate) mod tokens;
pub(crate) mod writer;

pub(crate) use writer::AppendError;

use tokio::sync::watch;

/// Transports, for gauges and per-site rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    WebSocket,
    LongPoll,
    Xdr,
    Jsonp,
}

impl TransportKind {
    /// The name used in site settings and the negotiation document.
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::WebSocket => "ws",
            TransportKind::LongPoll => "lp",
            TransportKind::Xdr => "xdr",
            TransportKind::Jsonp => "jsonp",
        }
    }
}

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
