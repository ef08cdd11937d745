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
    pub admin_password: String,
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
    let admin_password = if password.is_empty() {
        random_token(16)
    } else {
        password.to_string()
    };
    store.add_agent(
        site.id,
        &admin_email,
        "Admin",
        "admin",
        &hash_password(&admin_password)?,
    )?;
    Ok(Some(Bootstrap {
        site,
        admin_email,
        admin_password,
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
