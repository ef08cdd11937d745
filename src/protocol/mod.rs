//! The wire protocol (`docs/protocol.md`): frame types, their parsing and validation,
//! and their encoding.
//!
//! Owns: the JSON shape of every frame, the protocol version, error codes and close codes,
//! in four parts: `client` (frames a client sends, parsed and validated), `server` (frames
//! the server sends, encoded once), `error` (`err` codes and `FrameError`) and `close`
//! (close codes by range). Every type is used as `protocol::Name`. Knows nothing of
//! sockets, HTTP or SQL: transports hand it text, the core hands it values to encode.

mod client;
pub mod close;
mod error;
mod server;

pub use crate::vocab::{EntryKind, Role, Sender};
pub use client::{
    check_msg, parse_client_frame, AgentStatus, ClientFrame, Contact, Hello, Position, User,
    CID_MAX, PAGE_FIELD_MAX, TYPING_TEXT_MAX, USER_ATTRS_MAX, USER_ATTR_KEY_MAX,
    USER_ATTR_VALUE_MAX, USER_ID_MAX, USER_NAME_MAX, VISITOR_TOKEN_MAX, VISITOR_TOKEN_MIN,
};
pub use error::{ErrorCode, FrameError};
pub use server::{ContactFrame, EntryFrame, ServerFrame};

/// The protocol version this server speaks.
pub const VERSION: u32 = 1;
