//! Agent passwords and the first-run bootstrap.
//!
//! Owns: argon2id hashing, and creating a first site and admin on an empty database.
//! Knows the `Store` trait only.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::ids::random_token;
use crate::store::{Site, Store, StoreError, StoreResult};

/// An argon2id PHC string for `password`.
pub fn hash_password(password: &str) -> StoreResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Invalid(format!("password hashing failed: {e}")))
}

/// Does `password` match the PHC string `hash`?
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// What the bootstrap created.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub site: Site,
    pub admin_email: String,
    /// The admin's password when it was generated (shown once); `None` when configured.
    pub admin_password: Option<String>,
}

/// On a database with no site, create a first site (allowing `origins`) and an admin
/// with `password`, or a random one when it is empty.
pub fn bootstrap(
    store: &dyn Store,
    origins: &[String],
    password: &str,
) -> StoreResult<Option<Bootstrap>> {
    if !store.sites()?.is_empty() {
        return Ok(None);
    }
    let site = store.add_site("Demo site", origins)?;
    let admin_email = "admin@localhost".to_string();
    let generated = password.is_empty().then(|| random_token(16));
    store.add_agent(
        site.id,
        &admin_email,
        "Admin",
        "admin",
        &hash_password(generated.as_deref().unwrap_or(password))?,
    )?;
    Ok(Some(Bootstrap {
        site,
        admin_email,
        admin_password: generated,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let a = hash_password("secret").unwrap();
        let b = hash_password("secret").unwrap();
        assert_ne!(a, b);
        assert!(verify_password("secret", &a));
        assert!(!verify_password("Secret", &a));
        assert!(!verify_password("secret", "not a hash"));
    }
}

/// SHA-256 of a sign-in token, hex: what the store keeps instead of the token.
pub fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Does `sig` (hex) equal HMAC-SHA256(`secret`, `id`)? Compared in constant time.
pub fn verify_identity(secret: &str, id: &str, sig: &str) -> bool {
    use hmac::{Hmac, Mac};
    let Some(bytes) = decode_hex(sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(id.as_bytes());
    mac.verify_slice(&bytes).is_ok()
}

/// The hex HMAC-SHA256 a host site computes to sign a visitor's identity.
pub fn sign_identity(secret: &str, id: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(id.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod identity_tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_the_right_secret_and_id() {
        let sig = sign_identity("site-secret", "user-42");
        assert_eq!(sig.len(), 64);
        assert!(verify_identity("site-secret", "user-42", &sig));
        assert!(verify_identity(
            "site-secret",
            "user-42",
            &sig.to_uppercase()
        ));
        assert!(!verify_identity("other-secret", "user-42", &sig));
        assert!(!verify_identity("site-secret", "user-43", &sig));
        assert!(!verify_identity("site-secret", "user-42", &sig[..62]));
        assert!(!verify_identity("site-secret", "user-42", "zz"));
        assert!(!verify_identity("site-secret", "user-42", ""));
    }
}
