//! Newtypes for the identifiers that must never be confused with one another.
//!
//! Owns: `Offset`, `Epoch`, `ConversationId`, `SiteId`, `VisitorId`, `AgentId`,
//! `SessionId`, `ClientMsgId`, and the shape rules for client-supplied tokens. Knows nothing of I/O;
//! every layer may use it.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Position of an entry in a conversation stream: 1, 2, 3 … with no holes.
/// `Offset(0)` means "before the first entry" (an empty stream's head).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct Offset(pub u64);

impl Offset {
    pub const ZERO: Offset = Offset(0);
    /// The offset after this one.
    pub fn next(self) -> Offset {
        Offset(self.0 + 1)
    }
}

/// The life of a stream: a random non-zero 32-bit number chosen when the conversation is
/// created. Offsets of one epoch mean nothing in another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Epoch(pub u32);

impl Epoch {
    /// A fresh random epoch (never 0, so 0 can never match a real stream).
    pub fn random() -> Epoch {
        Epoch(rand::thread_rng().gen_range(1..=u32::MAX))
    }
}

macro_rules! int_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

int_id!(
    /// Primary key of a conversation (and so of its stream).
    ConversationId
);
int_id!(
    /// Primary key of a site (a tenant: one website and its agents).
    SiteId
);
int_id!(
    /// Primary key of a visitor row (written only once the visitor has a conversation).
    VisitorId
);
int_id!(
    /// Primary key of an agent.
    AgentId
);

/// Server-side session: one per visitor (or agent login), shared by its tabs and transports.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub String);

impl SessionId {
    pub fn random() -> SessionId {
        SessionId(random_token(16))
    }
}

/// A client-made message id (`cid`): unique per sender, the key of idempotent appends.
/// What a `msg` frame and the API's message body carry; `protocol::check_msg` holds it to
/// its shape (1-64 chars of `[A-Za-z0-9_-]`). The store keys an entry by it
/// (`store::Cid::Keyed`), beside the keys the server makes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientMsgId(pub String);

impl ClientMsgId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<ClientMsgId> for String {
    fn from(id: ClientMsgId) -> String {
        id.0
    }
}

impl fmt::Display for ClientMsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Is `s` a well-formed client token: `min..=max` chars of `[A-Za-z0-9_-]`?
/// Used for client message ids and visitor tokens, which are echoed to other clients and
/// written to logs, so they must never carry markup or control characters.
pub fn is_token(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A random token of `len` characters from `[A-Za-z0-9]`.
pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape() {
        assert!(is_token("abc-DEF_123", 1, 64));
        assert!(!is_token("", 1, 64));
        assert!(!is_token("a b", 1, 64));
        assert!(!is_token("<script>", 1, 64));
        assert!(!is_token(&"a".repeat(65), 1, 64));
        assert!(is_token(&random_token(24), 16, 64));
    }

    #[test]
    fn epochs_are_never_zero() {
        for _ in 0..1000 {
            assert_ne!(Epoch::random().0, 0);
        }
    }
}
