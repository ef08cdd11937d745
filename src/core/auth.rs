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

/// Why a sign-in failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("wrong email or password")]
    BadCredentials,
    #[error("this email is an agent of several sites: name the site")]
    NameTheSite,
    #[error("too many failed sign-ins; try again in {0} s")]
    RateLimited(u64),
}

/// Check `email`/`password` (optionally on the site with key `site_key`) and issue a token
/// valid for `ttl_ms`. Blocking (argon2 and the store): call from a blocking thread.
pub fn login(
    store: &dyn Store,
    email: &str,
    password: &str,
    site_key: Option<&str>,
    ttl_ms: i64,
) -> StoreResult<Result<(String, crate::store::Agent), LoginError>> {
    let mut found = store.agents_by_email(email)?;
    if let Some(key) = site_key {
        let site = store.site_by_key(key)?;
        found.retain(|(a, _)| site.as_ref().is_some_and(|s| s.id == a.site));
    }
    let (agent, hash) = match found.len() {
        0 => {
            // Spend the same time as a real check, so timing does not reveal emails.
            let _ = verify_password(password, DUMMY_HASH);
            return Ok(Err(LoginError::BadCredentials));
        }
        1 => found.remove(0),
        _ => return Ok(Err(LoginError::NameTheSite)),
    };
    if !verify_password(password, &hash) {
        return Ok(Err(LoginError::BadCredentials));
    }
    let token = random_token(32);
    store.add_token(
        agent.id,
        &token_hash(&token),
        crate::store::now_ms() + ttl_ms,
    )?;
    Ok(Ok((token, agent)))
}

/// A valid argon2 hash of a random password, for constant-time failures.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0b1k9n4bLrjqVf3Yy8c0kM0Xw2mQ3bP5oX1k2r8Uu4A";

/// Failed sign-ins per key (email and peer address) within a window. Bounded: when full,
/// the oldest windows are forgotten.
pub struct LoginLimiter {
    /// key → (failures, window start)
    failures: std::sync::Mutex<std::collections::HashMap<String, (u32, std::time::Instant)>>,
    max_failures: u32,
    window: std::time::Duration,
}

impl LoginLimiter {
    const MAX_KEYS: usize = 100_000;

    pub fn new(max_failures: u32, window: std::time::Duration) -> LoginLimiter {
        LoginLimiter {
            failures: std::sync::Mutex::new(std::collections::HashMap::new()),
            max_failures,
            window,
        }
    }

    /// `Err(seconds to wait)` when `key` has failed too often lately.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(key) {
            Some(&(n, start)) if n >= self.max_failures && start.elapsed() < self.window => {
                Err((self.window - start.elapsed()).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    pub fn failed(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= Self::MAX_KEYS {
            let window = self.window;
            map.retain(|_, (_, start)| start.elapsed() < window);
            if map.len() >= Self::MAX_KEYS {
                map.clear();
            }
        }
        let e = map
            .entry(key.to_string())
            .or_insert((0, std::time::Instant::now()));
        if e.1.elapsed() >= self.window {
            *e = (0, std::time::Instant::now());
        }
        e.0 += 1;
    }

    pub fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod login_tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[test]
    fn login_issues_revocable_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("a.db").to_str().unwrap(), 1, false).unwrap();
        let boot = bootstrap(&store, &[], "pw-123").unwrap().unwrap();
        assert!(bootstrap(&store, &[], "x").unwrap().is_none(), "only once");
        assert_eq!(
            login(&store, "admin@localhost", "wrong", None, 60_000)
                .unwrap()
                .unwrap_err(),
            LoginError::BadCredentials
        );
        assert_eq!(
            login(&store, "nobody@x", "pw-123", None, 60_000)
                .unwrap()
                .unwrap_err(),
            LoginError::BadCredentials
        );
        let (token, agent) = login(&store, "admin@localhost", "pw-123", None, 60_000)
            .unwrap()
            .unwrap();
        assert_eq!(agent.site, boot.site.id);
        let now = crate::store::now_ms();
        assert_eq!(
            store
                .agent_by_token(&token_hash(&token), now)
                .unwrap()
                .unwrap()
                .id,
            agent.id
        );
        assert!(store
            .agent_by_token(&token_hash("forged"), now)
            .unwrap()
            .is_none());
        assert!(
            store
                .agent_by_token(&token_hash(&token), now + 120_000)
                .unwrap()
                .is_none(),
            "expired"
        );
        assert!(store.revoke_token(&token_hash(&token), now).unwrap());
        assert!(
            store
                .agent_by_token(&token_hash(&token), now)
                .unwrap()
                .is_none(),
            "revoked"
        );
        // The same email on a second site: the site must be named.
        let other = store.add_site("other", &[]).unwrap();
        store
            .add_agent(
                other.id,
                "admin@localhost",
                "B",
                "agent",
                &hash_password("pw-456").unwrap(),
            )
            .unwrap();
        assert_eq!(
            login(&store, "admin@localhost", "pw-456", None, 60_000)
                .unwrap()
                .unwrap_err(),
            LoginError::NameTheSite
        );
        let (_, b) = login(
            &store,
            "admin@localhost",
            "pw-456",
            Some(&other.key),
            60_000,
        )
        .unwrap()
        .unwrap();
        assert_eq!(b.site, other.id);
    }

    #[test]
    fn the_limiter_blocks_after_repeated_failures() {
        let l = LoginLimiter::new(3, std::time::Duration::from_secs(60));
        for _ in 0..3 {
            assert!(l.check("k").is_ok());
            l.failed("k");
        }
        assert!(l.check("k").is_err());
        assert!(l.check("other").is_ok());
        l.succeeded("k");
        assert!(l.check("k").is_ok());
    }

    #[test]
    fn the_dummy_hash_parses() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }
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

/// Hex digits only, in pairs: `from_str_radix` alone would also take a sign, so that
/// `+0` read as `00` and one signature had many spellings.
fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
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
        // Only the hex of the signature verifies: a sign in place of the 0 that starts a
        // byte does not.
        let zero = (0..sig.len())
            .step_by(2)
            .find(|&i| sig.as_bytes()[i] == b'0')
            .expect("this signature has a byte under 0x10");
        let mut signed = sig.clone();
        signed.replace_range(zero..zero + 1, "+");
        assert!(!verify_identity("site-secret", "user-42", &signed));
        assert_eq!(decode_hex("+0+a"), None);
        assert_eq!(decode_hex("00aF"), Some(vec![0, 0xaf]));
    }
}
