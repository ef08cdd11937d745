//! Visitor tokens the server issues, and recognising them again.
//!
//! Owns: the shape of a visitor token — 22 random characters followed by the first 16
//! characters (base64url) of HMAC-SHA256(site secret, site key | random part) — and the
//! rule for a `hello`'s token: one this server issued for this site is kept, as is an older
//! one the store already knows (tokens made before this rule); anything else is replaced
//! by a new one. So a client can never choose its own credential (`AAAAAAAAAAAAAAAA`), and
//! a token copied from another site does not work here. Knows nothing of connections.

use hmac::{Hmac, Mac};

use crate::ids::random_token;
use crate::store::Site;

/// Length of the random part.
const RANDOM: usize = 22;
/// Length of the tag (base64url characters of the HMAC).
const TAG: usize = 16;

/// A new visitor token for `site`.
pub(crate) fn issue(site: &Site) -> String {
    let random = random_token(RANDOM);
    let tag = tag(site, &random);
    format!("{random}{tag}")
}

/// Did this server issue `token` for `site`? (Checked in constant time.)
pub(crate) fn issued(site: &Site, token: &str) -> bool {
    if token.len() != RANDOM + TAG || !token.is_ascii() {
        return false;
    }
    let (random, tag_given) = token.split_at(RANDOM);
    let want = tag(site, random);
    // Equal lengths; compare every byte.
    want.bytes()
        .zip(tag_given.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

fn tag(site: &Site, random: &str) -> String {
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(site.secret.as_bytes()).expect("any key length");
    mac.update(site.key.as_bytes());
    mac.update(b"|");
    mac.update(random.as_bytes());
    let bytes = mac.finalize().into_bytes();
    base64url(&bytes).chars().take(TAG).collect()
}

fn base64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 4);
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(key: &str, secret: &str) -> Site {
        Site {
            id: crate::ids::SiteId(1),
            key: key.into(),
            name: "s".into(),
            secret: secret.into(),
            allowed_origins: vec![],
            transports: vec![],
            require_identity: false,
        }
    }

    #[test]
    fn issued_tokens_are_recognised_only_where_they_were_issued() {
        let a = site("s_a", "secret-a");
        let t = issue(&a);
        assert_eq!(t.len(), 38);
        assert!(crate::ids::is_token(&t, 16, 64), "a valid wire token: {t}");
        assert!(issued(&a, &t));
        assert!(!issued(&site("s_b", "secret-a"), &t), "another site");
        assert!(!issued(&site("s_a", "secret-b"), &t), "another secret");
        let mut forged = t.clone();
        forged.replace_range(37.., if t.ends_with('A') { "B" } else { "A" });
        assert!(!issued(&a, &forged));
        assert!(!issued(&a, "AAAAAAAAAAAAAAAA"));
        assert!(!issued(&a, &"A".repeat(38)));
        assert_ne!(issue(&a), issue(&a));
    }

    #[test]
    fn base64url_matches_the_standard_alphabet() {
        assert_eq!(base64url(b"\xfb\xff"), "-_8");
        assert_eq!(base64url(b"Man"), "TWFu");
        assert_eq!(base64url(b"Ma"), "TWE");
    }
}
