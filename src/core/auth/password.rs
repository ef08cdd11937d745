//! Agent passwords and the first run.
//!
//! Owns: the rule for an agent's password, argon2id hashing and checking, and the
//! bootstrap: a first site and its admin on a database with no site. Knows the `Store`
//! trait only; how many hashes run at once is the password pool's (`core::hasher`).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::ids::random_token;
use crate::store::{Site, Store, StoreError, StoreResult};
use crate::vocab::AgentRole;

/// A password an agent may have: 8 to 1024 characters (code points, not bytes). The one
/// rule for the API and the command line.
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if (8..=1024).contains(&n) {
        Ok(())
    } else {
        Err("a password must have 8 to 1024 characters".into())
    }
}

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
        AgentRole::Admin,
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
