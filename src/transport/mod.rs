//! Transports: framing only. Each one turns its wire format into `conn::Inbound` frames
//! and writes text frames back; all session logic lives in `core::conn`.
//!
//! Knows nothing of SQL or business rules.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::core::hub::Hub;
use crate::core::Shutdown;

pub mod channel;
pub mod jsonp;
pub mod long_poll;
pub mod parts;
pub mod websocket;

/// Everything an HTTP request handler (the edge's or a transport's) may use.
#[derive(Clone)]
pub struct RequestCtx {
    pub hub: Hub,
    pub shutdown: Shutdown,
    pub peer: SocketAddr,
    /// Open HTTP channels (long-poll, XDR, JSONP).
    pub channels: Arc<channel::Registry>,
}
