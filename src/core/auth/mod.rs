//! Who someone is: agent passwords, agent sign-in tokens as stored, and visitor identity
//! tokens.
//!
//! Owns, in three parts: `password` (the password rule, argon2id hashing and checking, the
//! first-run bootstrap of a site and its admin), `sign_in` (the SHA-256 a sign-in token is
//! kept as) and `identity` (signing and verifying the HS256 identity tokens a host site
//! gives its visitors). Knows the `Store` trait only; knows nothing of connections. The
//! limits in front of a password check, and issuing tokens, are `login`'s.

mod identity;
mod password;
mod sign_in;

pub use identity::{
    sign_identity, verify_identity, IdentityClaims, IdentityError, IDENTITY_LEEWAY_SECS,
    IDENTITY_TOKEN_MAX, IDENTITY_TTL_MAX_SECS,
};
pub use password::{bootstrap, check_password, hash_password, verify_password, Bootstrap};
pub use sign_in::{same_secret, token_hash};
