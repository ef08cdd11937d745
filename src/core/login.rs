//! Agent sign-in with bounded work: who may try, how often, and how much it costs.
//!
//! Owns: the limits in front of a password check — failures per account from one address,
//! per account from all addresses (a higher bound, against guessing spread over many
//! addresses), per address for any account, checks in progress per address — the password
//! pool behind them (`hasher`, the global bound), issuing tokens, and logging failures in
//! a bounded, aggregated way (one line per interval, never a password or a token).
//! Knows the `Store` trait only; the store is reached on blocking threads by the caller's
//! closure.
//!
//! An attempt is refused before any hashing when its account or its address failed too
//! often in the window. One address failing on someone's account locks only itself out of
//! it: the agent signing in from elsewhere is not refused until failures from several
//! addresses add up to `login_max_failures_per_account`. It is also refused or when its address already has `login_concurrency_per_address`
//! checks running; it is refused without waiting (503, `Retry-After`) when the password
//! pool's queue is full. So one address can never hold more than a few hashing slots,
//! and memory stays at `hash_threads × 19 MiB` whatever arrives. Attempts from an address
//! that failed within the window may fill only half of the queue (`hasher`): a flood from
//! many addresses, each failing, leaves room for the sign-ins of addresses that did not.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::budget::{AddrKey, PerAddress};
use super::hasher::{HashError, Hasher};
use crate::config::Config;
use crate::ids::random_token;
use crate::store::{Agent, Store, StoreResult};

/// Why a sign-in failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LoginError {
    #[error("wrong email or password")]
    BadCredentials,
    #[error("this email is an agent of several sites: name the site")]
    NameTheSite,
    #[error("too many failed sign-ins; try again in {0} s")]
    RateLimited(u64),
    #[error("sign-in is busy; try again in a moment")]
    Busy,
}

/// A valid argon2 hash of a random password, checked when the email is unknown so that
/// timing does not reveal which emails exist.
pub(crate) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0b1k9n4bLrjqVf3Yy8c0kM0Xw2mQ3bP5oX1k2r8Uu4A";

/// The sign-in service: limits, the password pool, the failure log.
pub(crate) struct Login {
    hasher: Hasher,
    /// Failures per account (lower-cased email) from one address.
    accounts: Limiter<(String, AddrKey)>,
    /// Failures per account from every address together.
    account_totals: Limiter<String>,
    /// Failures per address, for any account.
    addresses: Limiter<AddrKey>,
    /// Checks in progress per address.
    running: Arc<PerAddress>,
    log: FailureLog,
}

/// What the store said about an email: the agent and its hash, or why there is none.
pub(crate) type Found = Result<(Agent, String), LoginError>;

impl Login {
    pub(crate) fn new(config: &Config) -> Login {
        let window = Duration::from_millis(config.login_window_ms);
        Login {
            hasher: Hasher::new(config.hash_threads, config.hash_queue),
            accounts: Limiter::new(config.login_max_failures, window),
            account_totals: Limiter::new(config.login_max_failures_per_account, window),
            addresses: Limiter::new(config.login_max_failures_per_address, window),
            running: PerAddress::new(config.login_concurrency_per_address, "sign-ins"),
            log: FailureLog::new(Duration::from_secs(60)),
        }
    }

    /// Check `password` for `email` from `peer`. `find` looks the email up in the store
    /// (blocking work, run by the caller); the agent is returned when the password is
    /// right.
    pub(crate) async fn check<F, Fut>(
        &self,
        email: &str,
        password: &str,
        peer: IpAddr,
        find: F,
    ) -> StoreResult<Result<Agent, LoginError>>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = StoreResult<Found>>,
    {
        let account = email.to_ascii_lowercase();
        let addr = AddrKey::of(peer);
        if let Err(wait) = self.addresses.check(&addr) {
            return Ok(Err(LoginError::RateLimited(wait)));
        }
        let here = (account.clone(), addr);
        if let Err(wait) = self
            .accounts
            .check(&here)
            .and_then(|()| self.account_totals.check(&account))
        {
            return Ok(Err(LoginError::RateLimited(wait)));
        }
        let Some(_running) = self.running.take(peer) else {
            return Ok(Err(LoginError::RateLimited(1)));
        };
        let found = find(email.to_string()).await?;
        let (agent, hash) = match &found {
            Ok((a, h)) => (Some(a.clone()), h.as_str()),
            Err(LoginError::BadCredentials) => (None, DUMMY_HASH),
            Err(e) => return Ok(Err(e.clone())),
        };
        let suspect = self.addresses.has_failed(&addr);
        let ok = match self.hasher.verify(password, hash, suspect).await {
            Ok(ok) => ok,
            Err(HashError::Busy | HashError::Stopped) => return Ok(Err(LoginError::Busy)),
        };
        match agent {
            Some(a) if ok => {
                self.accounts.succeeded(&here);
                self.account_totals.succeeded(&account);
                Ok(Ok(a))
            }
            _ => {
                self.accounts.failed(here);
                self.account_totals.failed(account);
                self.addresses.failed(addr);
                self.log.failed(peer);
                Ok(Err(LoginError::BadCredentials))
            }
        }
    }
}

/// The agent `email` names (on the site with key `site_key` when given), with its hash.
/// Blocking: run on a blocking thread.
pub(crate) fn find_agent(
    store: &dyn Store,
    email: &str,
    site_key: Option<&str>,
) -> StoreResult<Found> {
    let mut found = store.agents_by_email(email)?;
    if let Some(key) = site_key {
        let site = store.site_by_key(key)?;
        found.retain(|(a, _)| site.as_ref().is_some_and(|s| s.id == a.site));
    }
    Ok(match found.len() {
        0 => Err(LoginError::BadCredentials),
        1 => Ok(found.remove(0)),
        _ => Err(LoginError::NameTheSite),
    })
}

/// A new sign-in token for `agent`, valid for `ttl_ms`; the store keeps only its hash.
/// Blocking.
pub(crate) fn issue_token(store: &dyn Store, agent: &Agent, ttl_ms: i64) -> StoreResult<String> {
    let token = random_token(32);
    store.add_token(
        agent.id,
        &super::auth::token_hash(&token),
        crate::store::now_ms() + ttl_ms,
    )?;
    Ok(token)
}

/// Failures per key within a window. Bounded: when full, windows that ended are
/// forgotten, and if that is not enough, all of them (an attacker who fills it gains a
/// fresh start for everyone, never more memory).
pub(crate) struct Limiter<K> {
    /// key → (failures, window start)
    failures: Mutex<HashMap<K, (u32, Instant)>>,
    max_failures: u32,
    window: Duration,
}

impl<K: std::hash::Hash + Eq> Limiter<K> {
    const MAX_KEYS: usize = 100_000;

    pub(crate) fn new(max_failures: u32, window: Duration) -> Limiter<K> {
        Limiter {
            failures: Mutex::new(HashMap::new()),
            max_failures,
            window,
        }
    }

    /// `Err(seconds to wait)` when `key` has failed too often lately.
    pub(crate) fn check(&self, key: &K) -> Result<(), u64> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(key) {
            Some(&(n, start)) if n >= self.max_failures && start.elapsed() < self.window => {
                Err((self.window - start.elapsed()).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    /// Has `key` failed at all in its current window?
    pub(crate) fn has_failed(&self, key: &K) -> bool {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .is_some_and(|&(n, start)| n > 0 && start.elapsed() < self.window)
    }

    pub(crate) fn failed(&self, key: K) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= Self::MAX_KEYS {
            let window = self.window;
            map.retain(|_, (_, start)| start.elapsed() < window);
            if map.len() >= Self::MAX_KEYS {
                map.clear();
            }
        }
        let e = map.entry(key).or_insert((0, Instant::now()));
        if e.1.elapsed() >= self.window {
            *e = (0, Instant::now());
        }
        e.0 += 1;
    }

    pub(crate) fn succeeded(&self, key: &K) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// Failed sign-ins, logged at most once per interval as a summary: how many, from how
/// many addresses, and the busiest one. The first failure after a quiet interval is
/// logged at once, so a single mistyped password still shows.
struct FailureLog {
    every: Duration,
    state: Mutex<FailureState>,
}

struct FailureState {
    last_line: Option<Instant>,
    failures: u64,
    /// Failures per address since the last line (bounded: past 10 000 addresses only
    /// the count grows).
    by_addr: HashMap<IpAddr, u64>,
}

impl FailureLog {
    fn new(every: Duration) -> FailureLog {
        FailureLog {
            every,
            state: Mutex::new(FailureState {
                last_line: None,
                failures: 0,
                by_addr: HashMap::new(),
            }),
        }
    }

    fn failed(&self, peer: IpAddr) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.failures += 1;
        if s.by_addr.len() < 10_000 || s.by_addr.contains_key(&peer) {
            *s.by_addr.entry(peer).or_insert(0) += 1;
        }
        if s.last_line.is_some_and(|t| t.elapsed() < self.every) {
            return;
        }
        let (top, top_n) = s
            .by_addr
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(a, n)| (a.to_string(), *n))
            .unwrap_or_default();
        tracing::warn!(
            failures = s.failures,
            addresses = s.by_addr.len(),
            busiest = %top,
            busiest_failures = top_n,
            "failed sign-ins since the last report"
        );
        s.last_line = Some(Instant::now());
        s.failures = 0;
        s.by_addr.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::auth::{bootstrap, hash_password, token_hash};
    use crate::store::memory::MemoryStore;
    use crate::store::Directory;
    use crate::vocab::AgentRole;

    #[test]
    fn tokens_are_issued_for_the_named_agent_and_revocable() {
        let store = MemoryStore::new();
        let boot = bootstrap(&store, &[], "pw-123").unwrap().unwrap();
        assert!(bootstrap(&store, &[], "x").unwrap().is_none(), "only once");
        assert_eq!(
            find_agent(&store, "nobody@x", None).unwrap().unwrap_err(),
            LoginError::BadCredentials
        );
        let (agent, _) = find_agent(&store, "admin@localhost", None)
            .unwrap()
            .unwrap();
        assert_eq!(agent.site, boot.site.id);
        let token = issue_token(&store, &agent, 60_000).unwrap();
        let now = crate::store::now_ms();
        let hash = token_hash(&token);
        assert_eq!(
            store.agent_by_token(&hash, now).unwrap().unwrap().id,
            agent.id
        );
        assert!(store
            .agent_by_token(&token_hash("forged"), now)
            .unwrap()
            .is_none());
        assert!(
            store
                .agent_by_token(&hash, now + 120_000)
                .unwrap()
                .is_none(),
            "expired"
        );
        assert!(store.revoke_token(&hash, now).unwrap());
        assert!(
            store.agent_by_token(&hash, now).unwrap().is_none(),
            "revoked"
        );
        // The same email on a second site: the site must be named.
        let other = store.add_site("other", &[]).unwrap();
        let h = hash_password("pw-456").unwrap();
        store
            .add_agent(other.id, "admin@localhost", "B", AgentRole::Agent, &h)
            .unwrap();
        assert_eq!(
            find_agent(&store, "admin@localhost", None)
                .unwrap()
                .unwrap_err(),
            LoginError::NameTheSite
        );
        let (b, _) = find_agent(&store, "admin@localhost", Some(&other.key))
            .unwrap()
            .unwrap();
        assert_eq!(b.site, other.id);
    }

    #[test]
    fn the_limiter_blocks_after_repeated_failures() {
        let l = Limiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(l.check(&"k").is_ok());
            l.failed("k");
        }
        assert!(l.check(&"k").is_err());
        assert!(l.has_failed(&"k"));
        assert!(l.check(&"other").is_ok());
        assert!(!l.has_failed(&"other"));
        l.succeeded(&"k");
        assert!(l.check(&"k").is_ok());
    }

    #[test]
    fn the_dummy_hash_parses() {
        assert!(argon2::password_hash::PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[tokio::test]
    async fn failing_on_an_account_from_one_address_does_not_lock_out_the_others() {
        let config = Config {
            login_max_failures: 2,
            login_max_failures_per_account: 4,
            hash_threads: 1,
            ..Config::default()
        };
        let login = Login::new(&config);
        let none = |_e: String| async { Ok(Err(LoginError::BadCredentials)) };
        let ip = |n: u8| IpAddr::from([10, 9, 9, n]);
        for _ in 0..2 {
            let r = login.check("ann@x", "guess", ip(1), none).await.unwrap();
            assert_eq!(r, Err(LoginError::BadCredentials));
        }
        let r = login.check("ann@x", "guess", ip(1), none).await.unwrap();
        assert!(matches!(r, Err(LoginError::RateLimited(_))), "{r:?}");
        // Ann, elsewhere, is still checked.
        let r = login.check("ann@x", "guess", ip(2), none).await.unwrap();
        assert_eq!(r, Err(LoginError::BadCredentials));
        // Failures from enough addresses together close the account to everyone.
        let r = login.check("ann@x", "guess", ip(3), none).await.unwrap();
        assert_eq!(r, Err(LoginError::BadCredentials));
        let r = login.check("ann@x", "guess", ip(4), none).await.unwrap();
        assert!(matches!(r, Err(LoginError::RateLimited(_))), "{r:?}");
    }

    #[tokio::test]
    async fn an_address_is_limited_whatever_emails_it_tries() {
        let config = Config {
            login_max_failures_per_address: 3,
            hash_threads: 1,
            ..Config::default()
        };
        let login = Login::new(&config);
        let peer: IpAddr = "10.1.2.3".parse().unwrap();
        let other: IpAddr = "10.1.2.4".parse().unwrap();
        let none = |_e: String| async { Ok(Err(LoginError::BadCredentials)) };
        for i in 0..3 {
            let r = login.check(&format!("u{i}@x"), "pw", peer, none).await;
            assert_eq!(r.unwrap(), Err(LoginError::BadCredentials));
        }
        let r = login.check("fresh@x", "pw", peer, none).await.unwrap();
        assert!(matches!(r, Err(LoginError::RateLimited(_))), "{r:?}");
        let r = login.check("fresh@x", "pw", other, none).await.unwrap();
        assert_eq!(r, Err(LoginError::BadCredentials), "others are not limited");
    }
}
