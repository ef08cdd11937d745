//! Agent sign-in tokens as the store keeps them.
//!
//! Owns: the one-way form of a sign-in token (SHA-256, lowercase hex), the only thing of
//! a token that is stored, so a copy of the database signs nobody in. Issuing and
//! checking tokens is `core::login`'s and the hub's.

use data_encoding::HEXLOWER;
use sha2::{Digest, Sha256};

/// SHA-256 of a sign-in token, lowercase hex: what the store keeps instead of the token.
pub fn token_hash(token: &str) -> String {
    HEXLOWER.encode(&Sha256::digest(token.as_bytes()))
}

/// Is `given` the configured secret `want`? Compared as SHA-256 digests, so the time
/// taken says nothing of how much of the secret was right.
pub fn same_secret(given: &str, want: &str) -> bool {
    Sha256::digest(given.as_bytes()) == Sha256::digest(want.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hashes_are_lowercase_hex_sha256() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            token_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // The same as the digits written out one byte at a time.
        let t = "a sign-in token";
        let by_hand: String = Sha256::digest(t.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(token_hash(t), by_hand);
    }
}
