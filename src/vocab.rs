//! The words more than one layer speaks: who wrote an entry (`Role`, `Sender`), what kind
//! of entry it is (`EntryKind`), what an agent account may do (`AgentRole`), and which
//! transport carries a connection (`TransportKind`).
//!
//! Owns: each word's one spelling — on the wire, in the database and in site settings
//! alike — as `as_str`, `Display`, `FromStr` and serde, and the error for a word outside
//! its vocabulary (`UnknownWord`). Knows nothing of I/O, frames or tables: `protocol`, the
//! `store`, `core` and the edge all import it, so it sits beside `ids` at the bottom.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, VisitorId};

/// A word that is not one of its vocabulary's; the message says which words are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnknownWord(pub String);

/// `Display` as `as_str`, and `FromStr` by `as_str` over `ALL`, failing with `$err(s)`.
macro_rules! words {
    ($ty:ident, $err:expr) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::vocab::UnknownWord;

            fn from_str(s: &str) -> Result<$ty, $crate::vocab::UnknownWord> {
                $ty::ALL
                    .into_iter()
                    .find(|w| w.as_str() == s)
                    .ok_or_else(|| $crate::vocab::UnknownWord($err(s)))
            }
        }
    };
}
pub(crate) use words;

/// Who a connection speaks for (`visitor`, `agent`), or who wrote an entry (those, or
/// `system`: kefu itself, e.g. an idle conversation closed). A `hello` may not claim
/// `system`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Visitor,
    Agent,
    System,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Visitor, Role::Agent, Role::System];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Visitor => "visitor",
            Role::Agent => "agent",
            Role::System => "system",
        }
    }
}

words!(Role, |s| format!("unknown role {s:?}"));

/// What an entry of a conversation's log is (`docs/protocol.md` §7, durable entry kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A message (also an accepted invitation's text).
    Msg,
    /// The sender has read every entry up to the entry's `upto`.
    Read,
    /// An agent was given the conversation.
    Join,
    /// The conversation went to another agent.
    Transfer,
    /// The conversation was closed.
    Close,
    /// The conversation was reopened.
    Reopen,
}

impl EntryKind {
    pub const ALL: [EntryKind; 6] = [
        EntryKind::Msg,
        EntryKind::Read,
        EntryKind::Join,
        EntryKind::Transfer,
        EntryKind::Close,
        EntryKind::Reopen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Msg => "msg",
            EntryKind::Read => "read",
            EntryKind::Join => "join",
            EntryKind::Transfer => "transfer",
            EntryKind::Close => "close",
            EntryKind::Reopen => "reopen",
        }
    }
}

words!(EntryKind, |s| format!("unknown entry kind {s:?}"));

/// Who wrote an entry, as its `sender` names it: `v<visitor id>`, `a<agent id>`, or `kefu`
/// for kefu itself. Display-safe: never more than a letter and digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sender {
    Visitor(VisitorId),
    Agent(AgentId),
    System,
}

impl Sender {
    /// The role this sender's entries carry.
    pub fn role(self) -> Role {
        match self {
            Sender::Visitor(_) => Role::Visitor,
            Sender::Agent(_) => Role::Agent,
            Sender::System => Role::System,
        }
    }
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sender::Visitor(v) => write!(f, "v{v}"),
            Sender::Agent(a) => write!(f, "a{a}"),
            Sender::System => f.write_str("kefu"),
        }
    }
}

impl FromStr for Sender {
    type Err = UnknownWord;

    /// Only the spelling `Display` gives: `v` or `a` and a number without a sign or
    /// leading zeros, or `kefu`.
    fn from_str(s: &str) -> Result<Sender, UnknownWord> {
        let id = |digits: &str| {
            let canonical = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'));
            canonical.then(|| digits.parse::<i64>().ok()).flatten()
        };
        let sender = match s.split_at_checked(1) {
            _ if s == "kefu" => Some(Sender::System),
            Some(("v", n)) => id(n).map(|n| Sender::Visitor(VisitorId(n))),
            Some(("a", n)) => id(n).map(|n| Sender::Agent(AgentId(n))),
            _ => None,
        };
        sender.ok_or_else(|| UnknownWord(format!("unknown sender {s:?}")))
    }
}

impl Serialize for Sender {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Sender {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Sender, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What an agent account may do: answer (`agent`), or also change the site's settings
/// (`admin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentRole {
    Agent,
    Admin,
}

impl AgentRole {
    pub const ALL: [AgentRole; 2] = [AgentRole::Agent, AgentRole::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            AgentRole::Agent => "agent",
            AgentRole::Admin => "admin",
        }
    }
}

// The one rule for the API and the command line.
words!(AgentRole, |_| "role must be \"agent\" or \"admin\""
    .to_string());

/// A transport, by the name site settings and the negotiation document give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TransportKind {
    #[serde(rename = "ws")]
    WebSocket,
    #[serde(rename = "lp")]
    LongPoll,
    #[serde(rename = "xdr")]
    Xdr,
    #[serde(rename = "jsonp")]
    Jsonp,
}

impl TransportKind {
    /// Every transport, in ladder order (the best first): what a new site allows.
    pub const ALL: [TransportKind; 4] = [
        TransportKind::WebSocket,
        TransportKind::LongPoll,
        TransportKind::Xdr,
        TransportKind::Jsonp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::WebSocket => "ws",
            TransportKind::LongPoll => "lp",
            TransportKind::Xdr => "xdr",
            TransportKind::Jsonp => "jsonp",
        }
    }
}

words!(TransportKind, |s| format!(
    "unknown transport {s:?}: use ws, lp, xdr or jsonp"
));

#[cfg(test)]
mod tests {
    use super::*;

    /// `as_str`, `FromStr`, `Display` and serde agree on every word.
    fn round_trips<T>(all: &[T])
    where
        T: Copy + PartialEq + fmt::Debug + fmt::Display + FromStr + Serialize,
        T: for<'de> Deserialize<'de>,
    {
        for &w in all {
            let text = w.to_string();
            assert_eq!(text.parse::<T>().ok(), Some(w), "{text}");
            let json = serde_json::to_string(&w).unwrap();
            assert_eq!(json, format!("{text:?}"));
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), w);
        }
    }

    #[test]
    fn every_word_has_one_spelling() {
        round_trips(&Role::ALL);
        round_trips(&EntryKind::ALL);
        round_trips(&AgentRole::ALL);
        round_trips(&TransportKind::ALL);
        round_trips(&[
            Sender::Visitor(VisitorId(1)),
            Sender::Agent(AgentId(42)),
            Sender::System,
            Sender::Visitor(VisitorId(0)),
        ]);
        let names: Vec<&str> = TransportKind::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(names, ["ws", "lp", "xdr", "jsonp"]);
        let kinds: Vec<&str> = EntryKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            kinds,
            ["msg", "read", "join", "transfer", "close", "reopen"]
        );
    }

    #[test]
    fn senders_are_spelt_as_the_log_keeps_them() {
        assert_eq!(Sender::Visitor(VisitorId(7)).to_string(), "v7");
        assert_eq!(Sender::Agent(AgentId(3)).to_string(), "a3");
        assert_eq!(Sender::System.to_string(), "kefu");
        assert_eq!(Sender::Agent(AgentId(3)).role(), Role::Agent);
        for bad in [
            "", "v", "a", "x1", "v01", "v+1", "v-1", "a1a", "kefu1", "V1", "v 1", "客1",
        ] {
            assert!(bad.parse::<Sender>().is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_words_say_what_is_allowed() {
        let err = |e: UnknownWord| e.to_string();
        assert_eq!(
            err("boss".parse::<AgentRole>().unwrap_err()),
            "role must be \"agent\" or \"admin\""
        );
        assert_eq!(
            err("carrier-pigeon".parse::<TransportKind>().unwrap_err()),
            "unknown transport \"carrier-pigeon\": use ws, lp, xdr or jsonp"
        );
        assert!(
            "LP".parse::<TransportKind>().is_err(),
            "spellings are exact"
        );
    }
}

/// What a webhook is told about (`docs/operations.md`, "Webhooks"): each is read off one
/// entry of a conversation's log, so every event has the entry's conversation and offset
/// and is as durable as the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WebhookEvent {
    /// A conversation's first entry (a visitor wrote, or accepted an invitation).
    #[serde(rename = "conversation.opened")]
    Opened,
    /// An agent was given the conversation (`join`).
    #[serde(rename = "conversation.assigned")]
    Assigned,
    /// The conversation went to another agent (`transfer`).
    #[serde(rename = "conversation.transferred")]
    Transferred,
    /// The conversation was closed (`close`).
    #[serde(rename = "conversation.closed")]
    Closed,
    /// The conversation was reopened (`reopen`).
    #[serde(rename = "conversation.reopened")]
    Reopened,
    /// A message, by the visitor or an agent (`msg` without a contact).
    #[serde(rename = "message.created")]
    Message,
    /// A message left while no agent was on line, with who to answer (`msg` with a
    /// contact).
    #[serde(rename = "offline_message.left")]
    OfflineMessage,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 7] = [
        WebhookEvent::Opened,
        WebhookEvent::Assigned,
        WebhookEvent::Transferred,
        WebhookEvent::Closed,
        WebhookEvent::Reopened,
        WebhookEvent::Message,
        WebhookEvent::OfflineMessage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::Opened => "conversation.opened",
            WebhookEvent::Assigned => "conversation.assigned",
            WebhookEvent::Transferred => "conversation.transferred",
            WebhookEvent::Closed => "conversation.closed",
            WebhookEvent::Reopened => "conversation.reopened",
            WebhookEvent::Message => "message.created",
            WebhookEvent::OfflineMessage => "offline_message.left",
        }
    }

    /// The events an entry of kind `kind` at offset `off` makes (`offline`: it carries a
    /// contact), in this order: the opening first. The one rule of which entry is which
    /// event, for every backend.
    pub fn of_entry(
        kind: EntryKind,
        off: u64,
        offline: bool,
    ) -> impl Iterator<Item = WebhookEvent> {
        let opened = (off == 1).then_some(WebhookEvent::Opened);
        let own = match kind {
            EntryKind::Msg if offline => Some(WebhookEvent::OfflineMessage),
            EntryKind::Msg => Some(WebhookEvent::Message),
            EntryKind::Join => Some(WebhookEvent::Assigned),
            EntryKind::Transfer => Some(WebhookEvent::Transferred),
            EntryKind::Close => Some(WebhookEvent::Closed),
            EntryKind::Reopen => Some(WebhookEvent::Reopened),
            EntryKind::Read => None,
        };
        opened.into_iter().chain(own)
    }
}

words!(WebhookEvent, |s| format!(
    "unknown webhook event {s:?} (expected one of {})",
    WebhookEvent::ALL.map(|e| e.as_str()).join(", ")
));

/// Where a webhook delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Not delivered yet: its next attempt is due at `next_at`.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up: refused for good (a 4xx other than 408/429, an address not allowed), or
    /// still failing when its retry period ended. An admin may send it again.
    Failed,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 3] = [
        DeliveryState::Pending,
        DeliveryState::Delivered,
        DeliveryState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }
}

words!(DeliveryState, |s| format!(
    "unknown delivery state {s:?} (expected pending, delivered or failed)"
));
