//! Where the log meets the wire: a stored entry as the `e` frame clients see, and a
//! client's contact as the store keeps it.
//!
//! Owns: the one conversion from `store::Entry` to `protocol::EntryFrame` (borrowing, so
//! encoding an entry copies nothing first), and from `protocol::Contact` to
//! `store::Contact`. Knows nothing of how entries are stored or sent.

use crate::protocol::{self, ContactFrame, EntryFrame};
use crate::store;

impl<'a> From<&'a store::Entry> for EntryFrame<'a> {
    fn from(e: &'a store::Entry) -> EntryFrame<'a> {
        EntryFrame {
            conv: e.conv,
            off: e.off,
            kind: e.kind,
            role: e.role,
            sender: e.sender,
            cid: &e.cid,
            body: &e.body,
            ts: e.ts,
            upto: e.upto,
            contact: e.contact.as_ref().map(|c| ContactFrame {
                name: &c.name,
                email: &c.email,
            }),
        }
    }
}

impl From<protocol::Contact> for store::Contact {
    fn from(c: protocol::Contact) -> store::Contact {
        store::Contact {
            name: c.name,
            email: c.email,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AgentId, ConversationId, Offset};
    use crate::protocol::ServerFrame;
    use crate::vocab::{EntryKind, Role, Sender};

    #[test]
    fn a_stored_entry_encodes_as_its_e_frame() {
        let mut e = store::Entry {
            conv: ConversationId(4),
            off: Offset(2),
            kind: EntryKind::Read,
            role: Role::Agent,
            sender: Sender::Agent(AgentId(3)),
            cid: "read:4:1".into(),
            body: String::new(),
            ts: 5,
            upto: Some(Offset(1)),
            contact: None,
        };
        assert_eq!(
            ServerFrame::Entry(EntryFrame::from(&e)).encode(),
            r#"{"t":"e","conv":4,"off":2,"kind":"read","role":"agent","sender":"a3","cid":"read:4:1","body":"","ts":5,"upto":1}"#
        );
        (e.kind, e.role, e.upto) = (EntryKind::Msg, Role::System, None);
        e.contact = Some(
            protocol::Contact {
                name: "Li".into(),
                email: "li@example.com".into(),
            }
            .into(),
        );
        assert_eq!(
            serde_json::to_string(&EntryFrame::from(&e)).unwrap(),
            r#"{"conv":4,"off":2,"kind":"msg","role":"system","sender":"a3","cid":"read:4:1","body":"","ts":5,"contact":{"name":"Li","email":"li@example.com"}}"#
        );
    }
}
