//! Transports: framing only. Each one turns its wire format into `conn::Inbound` frames
//! and writes text frames back; all session logic lives in `core::conn`.
//!
//! Knows nothing of SQL or business rules.

pub mod channel;
pub mod jsonp;
pub mod long_poll;
pub mod websocket;
