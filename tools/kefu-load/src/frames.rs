//! What the client reads from a server, typed: the server frames it acts on
//! (`docs/protocol.md` §3), in the protocol's own identifier and error types.
//!
//! Owns: decoding one frame's text into a [`Frame`]. The frames the client sends are the
//! protocol's own `kefu::protocol::ClientFrame`. The server's `ServerFrame` borrows what it
//! encodes and is never decoded, so the frames read here are owned mirrors of the few
//! variants and fields the client uses: a frame type it does not act on decodes as
//! [`Frame::Other`], fields it does not use are ignored. The tests below decode what
//! `ServerFrame` encodes, so the two cannot drift apart unnoticed.

use kefu::ids::{ConversationId, Epoch, Offset};
use kefu::protocol::ErrorCode;
use serde::Deserialize;

/// A server frame, as far as the client cares.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
pub enum Frame {
    /// `hello` accepted. A visitor's open conversation, if it has one.
    Welcome {
        #[serde(default)]
        visitor: Option<String>,
        #[serde(default)]
        conv: Option<ConversationId>,
        #[serde(default)]
        epoch: Option<Epoch>,
    },
    /// The connection now follows `conv` (asked for with `follow`).
    Following {
        conv: ConversationId,
        epoch: Epoch,
    },
    /// The visitor's conversation was just opened.
    Conv {
        conv: ConversationId,
        epoch: Epoch,
    },
    /// One stream entry.
    #[serde(rename = "e")]
    Entry(Entry),
    /// A message of this client's is committed.
    Ack {
        cid: String,
        conv: ConversationId,
        off: Offset,
    },
    /// A frame of this client's was refused.
    Err {
        code: ErrorCode,
        #[serde(default)]
        cid: Option<String>,
    },
    Ping,
    /// The server ends the link, with a close code.
    Bye {
        code: u16,
    },
    /// Someone in a followed conversation is typing (only counted).
    Typing,
    /// Text that is not a frame of a known shape (never produced by serde; see
    /// [`Frame::decode`]): the text, cut short.
    #[serde(skip)]
    Unreadable(String),
    /// A frame type the client does not act on.
    #[serde(other)]
    Other,
}

/// One stream entry: an `e` frame, or an entry of `GET /v1/conversations/{id}/entries`
/// (the same fields without `t`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Entry {
    pub conv: ConversationId,
    pub off: Offset,
    pub kind: String,
    pub cid: String,
    pub body: String,
}

impl Frame {
    /// Decode one frame's JSON text. Text the client cannot read is kept (shortened) as
    /// [`Frame::Unreadable`], for the peer to report.
    pub fn decode(text: &str) -> Frame {
        serde_json::from_str(text).unwrap_or_else(|_| {
            let mut t: String = text.chars().take(200).collect();
            if t.len() < text.len() {
                t.push('…');
            }
            Frame::Unreadable(t)
        })
    }
}

#[cfg(test)]
mod tests {
    use kefu::ids::AgentId;
    use kefu::protocol::{EntryFrame, EntryKind, FrameError, Role, Sender, ServerFrame};

    use super::*;

    fn decoded(f: ServerFrame<'_>) -> Frame {
        Frame::decode(&f.encode())
    }

    #[test]
    fn reads_what_the_server_encodes() {
        let (c, e, o) = (ConversationId(7), Epoch(9), Offset(3));
        let welcome = ServerFrame::Welcome {
            v: 1,
            session: "s",
            visitor: Some("vvvvvvvvvvvvvvvv"),
            conv: Some(c),
            epoch: Some(e),
            head: Some(o),
            hb: 3000,
        };
        assert_eq!(
            decoded(welcome),
            Frame::Welcome {
                visitor: Some("vvvvvvvvvvvvvvvv".into()),
                conv: Some(c),
                epoch: Some(e)
            }
        );
        let agent_welcome = ServerFrame::Welcome {
            v: 1,
            session: "s",
            visitor: None,
            conv: None,
            epoch: None,
            head: None,
            hb: 3000,
        };
        assert_eq!(
            decoded(agent_welcome),
            Frame::Welcome {
                visitor: None,
                conv: None,
                epoch: None
            }
        );
        let following = ServerFrame::Following {
            conv: c,
            epoch: e,
            head: o,
        };
        assert_eq!(decoded(following), Frame::Following { conv: c, epoch: e });
        assert_eq!(
            decoded(ServerFrame::Conv { conv: c, epoch: e }),
            Frame::Conv { conv: c, epoch: e }
        );
        let entry = EntryFrame {
            conv: c,
            off: o,
            kind: EntryKind::Msg,
            role: Role::Agent,
            sender: Sender::Agent(AgentId(1)),
            cid: "a0-1",
            body: "1 \"quoted\" 2",
            ts: 5,
            upto: None,
            contact: None,
        };
        assert_eq!(
            decoded(ServerFrame::Entry(entry)),
            Frame::Entry(Entry {
                conv: c,
                off: o,
                kind: "msg".into(),
                cid: "a0-1".into(),
                body: "1 \"quoted\" 2".into(),
            })
        );
        let ack = ServerFrame::Ack {
            cid: "v1-1",
            conv: c,
            off: o,
            ts: 5,
            dup: false,
        };
        assert_eq!(
            decoded(ack),
            Frame::Ack {
                cid: "v1-1".into(),
                conv: c,
                off: o
            }
        );
        let err = FrameError::new(ErrorCode::Overloaded, "busy").cid("v1-2");
        assert_eq!(
            Frame::decode(std::str::from_utf8(&err.to_bytes()).unwrap()),
            Frame::Err {
                code: ErrorCode::Overloaded,
                cid: Some("v1-2".into())
            }
        );
        assert_eq!(decoded(ServerFrame::Ping), Frame::Ping);
        assert_eq!(
            decoded(ServerFrame::Bye {
                code: 4000,
                reason: "restarting",
                url: None,
            }),
            Frame::Bye { code: 4000 }
        );
        let typing = ServerFrame::Typing {
            conv: c,
            role: Role::Visitor,
            name: "v1",
            on: true,
            text: Some("hel"),
        };
        assert_eq!(decoded(typing), Frame::Typing);
        assert_eq!(decoded(ServerFrame::Agents { online: true }), Frame::Other);
    }

    #[test]
    fn keeps_what_it_cannot_read() {
        assert!(matches!(Frame::decode("not json"), Frame::Unreadable(_)));
        assert!(matches!(
            Frame::decode(r#"{"t":"ack","cid":"x"}"#),
            Frame::Unreadable(_)
        ));
        let long = format!("{{\"t\":\"e\",\"body\":\"{}\"}}", "x".repeat(500));
        match Frame::decode(&long) {
            Frame::Unreadable(t) => assert!(t.chars().count() <= 201, "{t}"),
            other => panic!("{other:?}"),
        }
    }
}
