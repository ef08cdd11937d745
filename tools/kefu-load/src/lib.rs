//! The protocol client of `kefu-load`, and the check of what its clients saw. The tool's
//! scenarios (`main.rs` and its modules) drive it; kefu's chaos and crash tests drive the
//! same code, so a test and a benchmark speak the protocol alike.
//!
//! # Layout
//!
//! - [`frames`]: the server frames the client reads, typed in the protocol's own
//!   identifiers; what it sends is the protocol's own `ClientFrame`.
//! - [`net`]: links to a server over every transport (WebSocket, long-poll, JSONP), the
//!   same interface for all: frames down a queue, frames up through `send`.
//! - [`session`]: one visitor or agent following the protocol to the letter.
//! - [`drive`]: keeping a peer connected, over a mix of transports, until its work is
//!   done.
//! - [`http`]: hyper's client, for the requests off the measured path.
//! - [`mix`]: many visitors and agents talking both ways; reading the stored logs back.
//! - [`verify`]: every client's view against the stored logs.

pub mod drive;
pub mod frames;
pub mod http;
pub mod mix;
pub mod net;
pub mod session;
pub mod verify;
