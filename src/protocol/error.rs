//! Refusals: the codes an `err` frame gives, and `FrameError`, which carries one with
//! what it is about.
//!
//! Owns: `ErrorCode` (`docs/protocol.md` §4) and which codes are the client's own mistakes,
//! and `FrameError` with its `err` frame. Knows nothing of which rule refused a frame.

use serde::{Deserialize, Serialize};

use crate::ids::{ConversationId, Epoch, Offset};

/// Why a client frame was refused (`err` frame codes, `docs/protocol.md` §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadJson,
    BadFrame,
    NotReady,
    TooLong,
    BadOffset,
    EpochMismatch,
    UnknownConv,
    TooManyFollows,
    Overloaded,
    Store,
    UnknownVisitor,
    UnknownAgent,
    BadAck,
    CidTaken,
    Owned,
}

impl ErrorCode {
    /// Is this the client's own mistake (a malformed or misplaced frame)? Those count
    /// towards `max_bad_frames`; the others answer a well-formed frame the server could
    /// not carry out.
    pub fn is_bad_frame(self) -> bool {
        matches!(
            self,
            ErrorCode::BadJson | ErrorCode::BadFrame | ErrorCode::NotReady | ErrorCode::TooLong
        )
    }
}

/// A refused frame, as its `err` frame says it: the code, a human-readable reason, and,
/// when they are known, the refused frame's type (`of`) and cid, and the stream position
/// the code calls for (`conv`, `epoch`, `head`). Built field by field:
/// `FrameError::new(code, msg).conv(c).head(h)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub code: ErrorCode,
    pub msg: String,
    pub of: Option<String>,
    pub cid: Option<String>,
    pub conv: Option<ConversationId>,
    pub epoch: Option<Epoch>,
    pub head: Option<Offset>,
}

impl FrameError {
    pub fn new(code: ErrorCode, msg: impl Into<String>) -> FrameError {
        FrameError {
            code,
            msg: msg.into(),
            of: None,
            cid: None,
            conv: None,
            epoch: None,
            head: None,
        }
    }

    pub fn of(mut self, t: &str) -> FrameError {
        self.of = Some(t.to_string());
        self
    }

    pub fn cid(mut self, cid: &str) -> FrameError {
        self.cid = Some(cid.to_string());
        self
    }

    pub fn conv(mut self, conv: ConversationId) -> FrameError {
        self.conv = Some(conv);
        self
    }

    pub fn epoch(mut self, epoch: Epoch) -> FrameError {
        self.epoch = Some(epoch);
        self
    }

    pub fn head(mut self, head: Offset) -> FrameError {
        self.head = Some(head);
        self
    }

    /// Fill in `of` and `cid` from the frame being answered, where not set already.
    pub fn about(mut self, of: Option<&str>, cid: Option<&str>) -> FrameError {
        if self.of.is_none() {
            self.of = of.map(str::to_string);
        }
        if self.cid.is_none() {
            self.cid = cid.map(str::to_string);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::parse_client_frame;

    #[test]
    fn err_frames_name_what_was_refused() {
        let err = FrameError::new(ErrorCode::NotReady, "hello first").to_bytes();
        assert_eq!(err, r#"{"t":"err","code":"not_ready","msg":"hello first"}"#);
        let e =
            parse_client_frame(r#"{"t":"msg","cid":"c7","body":"0123456789x"}"#, 10).unwrap_err();
        assert_eq!(
            (e.of.as_deref(), e.cid.as_deref()),
            (Some("msg"), Some("c7"))
        );
        let text = String::from_utf8(e.to_bytes().to_vec()).unwrap();
        assert!(text.contains(r#""of":"msg""#) && text.contains(r#""cid":"c7""#));
        let e = parse_client_frame(r#"{"t":"<b>","cid":"x y"}"#, 10).unwrap_err();
        assert_eq!((e.of, e.cid), (None, None), "nothing odd is echoed");
    }
}
