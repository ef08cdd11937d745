//! Frames the server sends, and encoding them once.
//!
//! Owns: the shape of every server frame (`welcome`, `e`, `ack`, `err`, …) and its JSON
//! text, made once and shared by every connection it goes to. Knows nothing of who
//! receives a frame, nor of how it travels.

use serde::Serialize;

use super::error::{ErrorCode, FrameError};
use crate::ids::{ConversationId, Epoch, Offset};
use crate::vocab::{EntryKind, Role, Sender};

/// The `e` frame of one committed stream entry, borrowing the entry's text: encoding it
/// copies nothing first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EntryFrame<'a> {
    pub conv: ConversationId,
    pub off: Offset,
    pub kind: EntryKind,
    pub role: Role,
    pub sender: Sender,
    pub cid: &'a str,
    pub body: &'a str,
    pub ts: i64,
    /// `read` entries: the offset read up to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upto: Option<Offset>,
    /// Offline messages: who to answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactFrame<'a>>,
}

/// The `contact` of an `e` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ContactFrame<'a> {
    pub name: &'a str,
    pub email: &'a str,
}

/// Frames the server sends.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "t", rename_all = "lowercase")]
pub enum ServerFrame<'a> {
    Welcome {
        v: u32,
        session: &'a str,
        visitor: Option<&'a str>,
        conv: Option<ConversationId>,
        epoch: Option<Epoch>,
        head: Option<Offset>,
        hb: u64,
    },
    Following {
        conv: ConversationId,
        epoch: Epoch,
        head: Offset,
    },
    Conv {
        conv: ConversationId,
        epoch: Epoch,
    },
    #[serde(rename = "e")]
    Entry(EntryFrame<'a>),
    Ack {
        cid: &'a str,
        conv: ConversationId,
        off: Offset,
        ts: i64,
        dup: bool,
    },
    Err {
        code: ErrorCode,
        msg: &'a str,
        /// The type (`t`) of the refused frame, when it could be read.
        #[serde(skip_serializing_if = "Option::is_none")]
        of: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cid: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        conv: Option<ConversationId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        epoch: Option<Epoch>,
        #[serde(skip_serializing_if = "Option::is_none")]
        head: Option<Offset>,
    },
    Ping,
    Pong,
    Bye {
        code: u16,
        reason: &'a str,
        /// With `MOVED` (4005): the base URL of the node serving the site; empty means
        /// "ask the router again".
        #[serde(skip_serializing_if = "Option::is_none")]
        url: Option<&'a str>,
    },
    Agents {
        online: bool,
    },
    Visitors {
        list: &'a serde_json::Value,
    },
    Visitor {
        op: &'a str,
        v: &'a serde_json::Value,
    },
    Typing {
        conv: ConversationId,
        role: Role,
        name: &'a str,
        on: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<&'a str>,
    },
    Delivered {
        conv: ConversationId,
        upto: Offset,
    },
    Invite {
        id: u64,
        name: &'a str,
        text: &'a str,
    },
    Assigned {
        conv: ConversationId,
        visitor: &'a str,
    },
    Queue {
        conv: ConversationId,
        position: usize,
    },
    Team {
        agents: &'a serde_json::Value,
    },
}

impl ServerFrame<'_> {
    /// Encode to the JSON text sent on the wire.
    pub fn encode(&self) -> String {
        // Serializing these types cannot fail: no maps with non-string keys, no floats.
        serde_json::to_string(self).expect("server frames always serialize")
    }

    /// Encoded once, shareable between every connection it goes to.
    pub fn to_bytes(&self) -> bytes::Bytes {
        bytes::Bytes::from(self.encode())
    }
}

impl FrameError {
    /// The `err` frame.
    pub fn to_bytes(&self) -> bytes::Bytes {
        ServerFrame::Err {
            code: self.code,
            msg: &self.msg,
            of: self.of.as_deref(),
            cid: self.cid.as_deref(),
            conv: self.conv,
            epoch: self.epoch,
            head: self.head,
        }
        .to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::VisitorId;

    #[test]
    fn encodes_an_entry() {
        let e = EntryFrame {
            conv: ConversationId(1),
            off: Offset(2),
            kind: EntryKind::Msg,
            role: Role::Visitor,
            sender: Sender::Visitor(VisitorId(1)),
            cid: "c",
            body: "<b>hi</b>",
            ts: 5,
            upto: None,
            contact: None,
        };
        let text = ServerFrame::Entry(e).encode();
        assert_eq!(
            text,
            r#"{"t":"e","conv":1,"off":2,"kind":"msg","role":"visitor","sender":"v1","cid":"c","body":"<b>hi</b>","ts":5}"#
        );
    }
}
