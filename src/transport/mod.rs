//! Transports: framing only. Each one turns its wire format into `conn::Inbound` frames
//! and writes text frames back; all session logic lives in `core::conn`.
//!
//! - `websocket`: one text message per frame on an upgraded socket.
//! - `channel`: the socket stand-in of long-poll, XDomainRequest and JSONP — an inbound
//!   queue and an outbox of numbered frames — and its `Transport`; `parts`: JSONP
//!   multi-part reassembly. Their HTTP requests and answers are the edge's (`http`).
//!
//! Knows nothing of SQL, business rules or HTTP requests.

pub(crate) mod channel;
pub(crate) mod parts;
pub(crate) mod websocket;
