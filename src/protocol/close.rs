//! Close codes, grouped by range (`docs/protocol.md` §5): sent as the WebSocket close
//! code, and as `bye.code` before any close.
//!
//! Owns: the codes and their ranges — 1000–1015 WebSocket's own, 4000–4099 reconnect and
//! resume, 4100–4199 do not reconnect until something is fixed. Knows nothing of when a
//! connection is closed.

/// A text frame was not valid UTF-8.
pub const INVALID_UTF8: u16 = 1007;
/// A frame was over `max_frame_bytes`.
pub const TOO_BIG: u16 = 1009;
/// The server failed.
pub const INTERNAL: u16 = 1011;

// 4000–4099: reconnect with backoff and resume.
pub const RESTARTING: u16 = 4000;
pub const SLOW: u16 = 4001;
pub const HEARTBEAT_TIMEOUT: u16 = 4002;
pub const OVERLOADED: u16 = 4003;
pub const CONNECTION_EXPIRED: u16 = 4004;
/// Another node serves the site (or will): reconnect at once to the `bye`'s `url`, or
/// ask the router again when it is empty.
pub const MOVED: u16 = 4005;

// 4100–4199: do not reconnect until something is fixed.
pub const BAD_VERSION: u16 = 4100;
pub const UNKNOWN_SITE: u16 = 4101;
pub const ORIGIN_NOT_ALLOWED: u16 = 4102;
pub const UNAUTHORIZED: u16 = 4103;
pub const PROTOCOL_VIOLATION: u16 = 4104;
pub const TRANSPORT_DISABLED: u16 = 4105;

/// Should a client reconnect after this code? The one statement of the policy of
/// `docs/protocol.md` §5 (clients in Rust use it; the widget and console follow the doc).
pub fn should_reconnect(code: u16) -> bool {
    !(4100..4200).contains(&code) && code != TOO_BIG && code != INVALID_UTF8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_documented_in_its_range() {
        let doc = include_str!("../../docs/protocol.md");
        let reconnect = [
            RESTARTING,
            SLOW,
            HEARTBEAT_TIMEOUT,
            OVERLOADED,
            CONNECTION_EXPIRED,
            MOVED,
        ];
        let give_up = [
            BAD_VERSION,
            UNKNOWN_SITE,
            ORIGIN_NOT_ALLOWED,
            UNAUTHORIZED,
            PROTOCOL_VIOLATION,
            TRANSPORT_DISABLED,
        ];
        for code in reconnect {
            assert!((4000..4100).contains(&code), "{code}");
        }
        for code in give_up {
            assert!((4100..4200).contains(&code), "{code}");
        }
        for code in reconnect.into_iter().chain(give_up) {
            assert!(
                doc.contains(&format!("\n| {code} |")),
                "docs/protocol.md lacks {code}"
            );
        }
        for code in [INVALID_UTF8, TOO_BIG, INTERNAL] {
            assert!((1000..=1015).contains(&code), "{code}");
            assert!(
                doc.contains(&format!("{code} ")),
                "docs/protocol.md lacks {code}"
            );
        }
    }

    #[test]
    fn reconnect_policy_follows_the_ranges() {
        assert!(should_reconnect(SLOW) && should_reconnect(RESTARTING));
        assert!(should_reconnect(INTERNAL));
        for code in [UNKNOWN_SITE, TRANSPORT_DISABLED, TOO_BIG, INVALID_UTF8] {
            assert!(!should_reconnect(code), "{code}");
        }
    }
}
