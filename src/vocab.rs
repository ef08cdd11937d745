//! The words more than one layer speaks: who wrote an entry (`Role`), and which transport
//! carries a connection (`TransportKind`).
//!
//! Owns: each word's one spelling — on the wire, in the database and in site settings
//! alike — as `as_str`, `Display`, `FromStr` and serde, and the error for a word outside
//! its vocabulary (`UnknownWord`). Knows nothing of I/O, frames or tables: `protocol`, the
//! `store`, `core` and the edge all import it, so it sits beside `ids` at the bottom.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A word that is not one of its vocabulary's; the message says which words are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnknownWord(pub String);

/// `Display` as `as_str`, and `FromStr` by `as_str` over `ALL`, failing with `$err(s)`.
macro_rules! words {
    ($ty:ident, $err:expr) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownWord;

            fn from_str(s: &str) -> Result<$ty, UnknownWord> {
                $ty::ALL
                    .into_iter()
                    .find(|w| w.as_str() == s)
                    .ok_or_else(|| UnknownWord($err(s)))
            }
        }
    };
}

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
        round_trips(&TransportKind::ALL);
        let names: Vec<&str> = TransportKind::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(names, ["ws", "lp", "xdr", "jsonp"]);
    }

    #[test]
    fn unknown_words_say_what_is_allowed() {
        let err = |e: UnknownWord| e.to_string();
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
