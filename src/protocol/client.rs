//! Frames a client sends, and reading them: a client's text parsed and validated into a
//! `ClientFrame`, or refused in the protocol's words.
//!
//! Owns: the shape of every client frame (`hello`, `msg`, `follow`, …), the limits on what
//! they carry, and every rule a frame passes before the core sees it, so the core only
//! ever handles well-formed frames. Knows nothing of what a frame does.

use serde::{Deserialize, Serialize};

use super::error::{ErrorCode, FrameError};
use crate::ids::{is_token, ClientMsgId, ConversationId, Epoch, Offset};
use crate::vocab::Role;

/// Visitor tokens: 16–64 chars of `[A-Za-z0-9_-]`.
pub const VISITOR_TOKEN_MIN: usize = 16;
pub const VISITOR_TOKEN_MAX: usize = 64;
/// Client message ids: 1–64 chars of `[A-Za-z0-9_-]`.
pub const CID_MAX: usize = 64;

/// A client's position in a stream, sent with `hello` or `follow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub conv: ConversationId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<Epoch>,
    pub after: Offset,
}

/// The host site's own identity of a visitor (`docs/identity.md`): a signed identity
/// `token`, or plain `id`, `name` and `attrs` that agents are shown as unverified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Required unless there is a `token`.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub attrs: serde_json::Map<String, serde_json::Value>,
    /// An HS256 JWT signed with the site secret; when it checks out, only its claims are
    /// shown (verified) and the plain fields are ignored. Any other field (such as the
    /// `sig` of older clients) is ignored.
    #[serde(default, skip_serializing)]
    pub token: Option<String>,
}

/// Limits on `User` (characters).
pub const USER_ID_MAX: usize = 128;
pub const USER_NAME_MAX: usize = 128;
pub const USER_ATTRS_MAX: usize = 20;
pub const USER_ATTR_KEY_MAX: usize = 64;
pub const USER_ATTR_VALUE_MAX: usize = 256;
/// Longest page URL, title or referrer kept for presence (longer ones are cut).
pub const PAGE_FIELD_MAX: usize = 512;
/// Longest typing draft forwarded as a sneak peek.
pub const TYPING_TEXT_MAX: usize = 1000;

/// The first frame of every connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub v: u32,
    pub site: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
}

/// Frames a client sends. The server only parses them; clients written in Rust (the load
/// tool) encode them with `Serialize`, which leaves out absent optional fields (and, as
/// everywhere, `User::token`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
pub enum ClientFrame {
    Hello(Hello),
    Follow {
        conv: ConversationId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epoch: Option<Epoch>,
        after: Offset,
    },
    Unfollow {
        conv: ConversationId,
    },
    Msg {
        cid: ClientMsgId,
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conv: Option<ConversationId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contact: Option<Contact>,
    },
    Page {
        #[serde(default)]
        url: String,
        #[serde(default)]
        title: String,
        #[serde(default, rename = "ref")]
        referrer: String,
        #[serde(default = "yes")]
        visible: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        visits: Option<u32>,
    },
    Typing {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conv: Option<ConversationId>,
        on: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    Read {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conv: Option<ConversationId>,
        upto: Offset,
    },
    Invite {
        visitor: String,
        text: String,
    },
    #[serde(rename = "invite_reply")]
    InviteReply {
        id: u64,
        accept: bool,
    },
    Presence {
        status: AgentStatus,
    },
    Transfer {
        conv: ConversationId,
        to: crate::ids::AgentId,
    },
    Close {
        conv: ConversationId,
    },
    Reopen {
        conv: ConversationId,
    },
    Take {
        conv: ConversationId,
    },
    Ack {
        conv: ConversationId,
        off: Offset,
    },
    Ping,
    Pong,
}

fn yes() -> bool {
    true
}

impl ClientFrame {
    /// The frame's `t`, as `err` frames name it in `of`.
    pub fn name(&self) -> &'static str {
        match self {
            ClientFrame::Hello(_) => "hello",
            ClientFrame::Follow { .. } => "follow",
            ClientFrame::Unfollow { .. } => "unfollow",
            ClientFrame::Msg { .. } => "msg",
            ClientFrame::Page { .. } => "page",
            ClientFrame::Typing { .. } => "typing",
            ClientFrame::Read { .. } => "read",
            ClientFrame::Invite { .. } => "invite",
            ClientFrame::InviteReply { .. } => "invite_reply",
            ClientFrame::Presence { .. } => "presence",
            ClientFrame::Transfer { .. } => "transfer",
            ClientFrame::Close { .. } => "close",
            ClientFrame::Reopen { .. } => "reopen",
            ClientFrame::Take { .. } => "take",
            ClientFrame::Ack { .. } => "ack",
            ClientFrame::Ping => "ping",
            ClientFrame::Pong => "pong",
        }
    }

    /// The client's message id, for frames that carry one.
    pub fn cid(&self) -> Option<&str> {
        match self {
            ClientFrame::Msg { cid, .. } => Some(cid.as_str()),
            _ => None,
        }
    }
}

/// An agent's availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    Online,
    Away,
}

/// Who to answer, given with a message from the "leave a message" form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
}

/// Parse and validate one client frame. Shape rules that serde cannot express (token
/// alphabets, lengths) are checked here, so the core only ever sees well-formed frames.
/// A refusal names the frame's `t` and `cid` (`of`, `cid`) whenever the text has them.
pub fn parse_client_frame(text: &str, max_body_chars: usize) -> Result<ClientFrame, FrameError> {
    let parsed = serde_json::from_str::<ClientFrame>(text)
        .map_err(|e| describe(text, &e))
        .and_then(|f| check(&f, max_body_chars).map(|()| f));
    parsed.map_err(|e| {
        // Name what was refused when the text says it (only on this error path).
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(o)) => {
                fn short(v: Option<&serde_json::Value>) -> Option<&str> {
                    v.and_then(|v| v.as_str())
                        .filter(|s| is_token(s, 1, CID_MAX))
                }
                e.about(short(o.get("t")), short(o.get("cid")))
            }
            _ => e,
        }
    })
}

/// Why `text` is not a frame, in the protocol's words (never the server's type names).
fn describe(text: &str, e: &serde_json::Error) -> FrameError {
    use serde_json::error::Category;
    if !matches!(e.classify(), Category::Data) {
        let what = e.to_string();
        return FrameError::new(ErrorCode::BadJson, format!("not valid JSON: {what}"));
    }
    let Ok(serde_json::Value::Object(o)) = serde_json::from_str::<serde_json::Value>(text) else {
        return FrameError::new(ErrorCode::BadJson, "a frame must be a JSON object");
    };
    let msg = match o.get("t") {
        None => "missing field t".to_string(),
        Some(serde_json::Value::String(_)) => field_error(&e.to_string()),
        Some(_) => "t must be a string".to_string(),
    };
    FrameError::new(ErrorCode::BadFrame, msg)
}

/// serde's message about a field, said without Rust type names.
fn field_error(raw: &str) -> String {
    let raw = raw.split(" at line ").next().unwrap_or(raw);
    let expected = |s: &str| -> &'static str {
        let s = s.trim();
        if ["u8", "u16", "u32", "u64", "usize"].contains(&s) {
            "a non-negative integer"
        } else if ["i8", "i16", "i32", "i64", "isize"].contains(&s) {
            "an integer"
        } else if s.starts_with("a string") {
            "a string"
        } else if s.starts_with("a boolean") {
            "true or false"
        } else if s.starts_with("a sequence") {
            "an array"
        } else if s.starts_with("f32") || s.starts_with("f64") {
            "a number"
        } else {
            "an object"
        }
    };
    let found = |s: &str| -> &'static str {
        match s.split_whitespace().next().unwrap_or("") {
            "string" => "a string",
            "integer" if s.contains('-') => "a negative integer",
            "integer" => "an integer",
            "floating" => "a number",
            "boolean" => "a boolean",
            "null" | "unit" => "null",
            "sequence" => "an array",
            "map" => "an object",
            _ => "another value",
        }
    };
    if let Some(rest) = raw.strip_prefix("missing field `") {
        return format!("missing field {}", rest.trim_end_matches('`'));
    }
    if raw.starts_with("unknown variant") {
        let v = raw.split('`').nth(1).unwrap_or("");
        return if is_token(v, 1, CID_MAX) {
            format!("unknown value {v:?}")
        } else {
            "unknown value".to_string()
        };
    }
    for (prefix, what) in [
        ("invalid type: ", "a field has the wrong type"),
        ("invalid value: ", "a field is out of range"),
        ("invalid length ", "a field has the wrong length"),
    ] {
        if let Some(rest) = raw.strip_prefix(prefix) {
            if let Some((f, x)) = rest.split_once(", expected ") {
                return format!("{what}: expected {}, found {}", expected(x), found(f));
            }
            return what.to_string();
        }
    }
    "the frame's fields do not match its type".to_string()
}

fn check(frame: &ClientFrame, max_body_chars: usize) -> Result<(), FrameError> {
    match frame {
        ClientFrame::Hello(Hello {
            role: Role::System, ..
        }) => {
            return Err(FrameError::new(
                ErrorCode::BadFrame,
                "role must be visitor or agent",
            ));
        }
        ClientFrame::Hello(Hello {
            visitor: Some(v), ..
        }) if !is_token(v, VISITOR_TOKEN_MIN, VISITOR_TOKEN_MAX) => {
            return Err(FrameError::new(
                ErrorCode::BadFrame,
                "visitor must be 16-64 chars of [A-Za-z0-9_-]",
            ));
        }
        ClientFrame::Hello(Hello { user: Some(u), .. }) => check_user(u)?,
        ClientFrame::Msg {
            contact: Some(c), ..
        } if c.name.chars().count() > USER_NAME_MAX || c.email.chars().count() > 256 => {
            return Err(FrameError::new(
                ErrorCode::BadFrame,
                "contact name or email too long",
            ));
        }
        ClientFrame::Typing { text: Some(t), .. } if t.chars().count() > TYPING_TEXT_MAX => {
            return Err(FrameError::new(ErrorCode::TooLong, "typing draft too long"));
        }
        ClientFrame::Invite { text, .. } if text.chars().count() > max_body_chars => {
            return Err(FrameError::new(
                ErrorCode::TooLong,
                "invitation text too long",
            ));
        }
        _ => {}
    }
    if let ClientFrame::Msg { cid, body, .. } = frame {
        check_msg(cid, body, max_body_chars)?;
    }
    Ok(())
}

/// A message's `cid` and `body`, wherever it comes from (a `msg` frame, the API).
pub fn check_msg(cid: &ClientMsgId, body: &str, max_body_chars: usize) -> Result<(), FrameError> {
    if !is_token(cid.as_str(), 1, CID_MAX) {
        return Err(FrameError::new(
            ErrorCode::BadFrame,
            "cid must be 1-64 chars of [A-Za-z0-9_-]",
        ));
    }
    if body.chars().count() > max_body_chars {
        return Err(FrameError::new(
            ErrorCode::TooLong,
            format!("body is over {max_body_chars} characters"),
        ));
    }
    if body.trim().is_empty() {
        return Err(FrameError::new(ErrorCode::BadFrame, "body is empty"));
    }
    Ok(())
}

fn check_user(u: &User) -> Result<(), FrameError> {
    let bad = |m: &str| Err(FrameError::new(ErrorCode::BadFrame, m));
    if u.id.chars().count() > USER_ID_MAX || u.id.is_empty() && u.token.is_none() {
        return bad("user.id must be 1-128 characters (or give a token)");
    }
    if u.name.chars().count() > USER_NAME_MAX {
        return bad("user.name is over 128 characters");
    }
    if u.attrs.len() > USER_ATTRS_MAX {
        return bad("user.attrs has more than 20 entries");
    }
    for (k, v) in &u.attrs {
        let len = match v {
            serde_json::Value::String(s) => s.chars().count(),
            other => other.to_string().len(),
        };
        if k.chars().count() > USER_ATTR_KEY_MAX || len > USER_ATTR_VALUE_MAX {
            return bad("a user attribute is too long (keys 64, values 256 characters)");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hello_with_resume() {
        let f = parse_client_frame(
            r#"{"t":"hello","v":1,"site":"s_1","role":"visitor","visitor":"abcdefghijklmnop","resume":{"conv":7,"epoch":9,"after":3},"extra":true}"#,
            100,
        )
        .unwrap();
        match f {
            ClientFrame::Hello(Hello { resume, .. }) => assert_eq!(
                resume,
                Some(Position {
                    conv: ConversationId(7),
                    epoch: Some(Epoch(9)),
                    after: Offset(3)
                })
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn classifies_errors() {
        let code = |s: &str| parse_client_frame(s, 10).unwrap_err().code;
        assert_eq!(code("{not json"), ErrorCode::BadJson);
        assert_eq!(code(""), ErrorCode::BadJson);
        assert_eq!(code(r#"{"t":"nope"}"#), ErrorCode::BadFrame);
        assert_eq!(code(r#"{"t":"msg","body":"x"}"#), ErrorCode::BadFrame);
        assert_eq!(
            code(r#"{"t":"msg","cid":"a b","body":"x"}"#),
            ErrorCode::BadFrame
        );
        assert_eq!(
            code(r#"{"t":"msg","cid":"a","body":"   "}"#),
            ErrorCode::BadFrame
        );
        assert_eq!(
            code(r#"{"t":"msg","cid":"a","body":"01234567890"}"#),
            ErrorCode::TooLong
        );
        // Valid JSON that is not an object is not a frame at all.
        assert_eq!(code(r#"[1,2]"#), ErrorCode::BadJson);
        assert_eq!(code(r#""hello""#), ErrorCode::BadJson);
        assert_eq!(code("42"), ErrorCode::BadJson);
        assert_eq!(
            code(r#"{"t":"follow","conv":"x","after":0}"#),
            ErrorCode::BadFrame
        );
        assert_eq!(
            code(r#"{"t":"follow","conv":1,"after":-1}"#),
            ErrorCode::BadFrame
        );
    }

    #[test]
    fn refusals_speak_the_protocol_not_the_servers_types() {
        let msg = |s: &str| parse_client_frame(s, 10).unwrap_err().msg;
        for (text, want) in [
            (r#"[1,2,3]"#, "a frame must be a JSON object"),
            (r#"{"conv":1}"#, "missing field t"),
            (r#"{"t":5}"#, "t must be a string"),
            (r#"{"t":"nope"}"#, "unknown value \"nope\""),
            (r#"{"t":"msg","body":"x"}"#, "missing field cid"),
            (
                r#"{"t":"follow","conv":"x","after":0}"#,
                "a field has the wrong type: expected an integer, found a string",
            ),
            (
                r#"{"t":"follow","conv":1,"after":-1}"#,
                "a field is out of range: expected a non-negative integer, found a negative integer",
            ),
            (
                r#"{"t":"hello","v":1,"site":"s","role":"system"}"#,
                "role must be visitor or agent",
            ),
        ] {
            let m = msg(text);
            assert_eq!(m, want, "{text}");
        }
        for text in [
            r#""hello""#,
            r#"{"t":"hello","v":"x"}"#,
            r#"{"t":"ack","conv":1,"off":true}"#,
        ] {
            let m = msg(text);
            for rust in [
                "ClientFrame",
                "Hello",
                "u32",
                "u64",
                "i64",
                "struct",
                "enum",
            ] {
                assert!(!m.contains(rust), "{text}: {m}");
            }
        }
    }

    #[test]
    fn body_limit_counts_characters_not_bytes() {
        assert!(parse_client_frame(r#"{"t":"msg","cid":"a","body":"客服客服"}"#, 4).is_ok());
    }
}
