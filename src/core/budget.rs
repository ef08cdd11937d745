//! Per-address budgets: how much of a shared resource one client address may hold.
//!
//! Owns: counting what each address holds (TCP connections, HTTP channels, incomplete
//! JSONP messages, sign-ins being checked) against a limit, and giving it back when the
//! holder is dropped. An address is an IPv4 address, or the /64 network of an IPv6
//! address (one host gets a whole /64 from its provider, so finer keys would cost an
//! attacker nothing). Knows nothing of what is being counted.
//!
//! Memory is bounded by what is held: an address with nothing left is forgotten.
//!
//! Also here: `Rate`, how many events of one kind one connection may send per second.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The key an address is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum AddrKey {
    V4(u32),
    /// The upper 64 bits of an IPv6 address.
    V6(u64),
}

impl AddrKey {
    pub(crate) fn of(ip: IpAddr) -> AddrKey {
        match ip {
            IpAddr::V4(v4) => AddrKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddrKey::V4(u32::from(v4)),
                None => AddrKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// At most `limit` of something per address.
pub(crate) struct PerAddress {
    /// What each address holds now; addresses at zero are removed.
    held: Mutex<HashMap<AddrKey, usize>>,
    limit: usize,
    /// For logs: what is being counted ("connections", "channels", …).
    what: &'static str,
}

/// One unit held by an address; given back when dropped.
pub(crate) struct Held {
    budget: Arc<PerAddress>,
    key: AddrKey,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Held({} of {:?})", self.budget.what, self.key)
    }
}

impl PerAddress {
    pub(crate) fn new(limit: usize, what: &'static str) -> Arc<PerAddress> {
        Arc::new(PerAddress {
            held: Mutex::new(HashMap::new()),
            limit,
            what,
        })
    }

    /// One more for `ip`, unless it holds `limit` already.
    pub(crate) fn take(self: &Arc<Self>, ip: IpAddr) -> Option<Held> {
        let key = AddrKey::of(ip);
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let n = held.entry(key).or_insert(0);
        if *n >= self.limit {
            if *n == 0 {
                held.remove(&key);
            }
            return None;
        }
        *n += 1;
        Some(Held {
            budget: self.clone(),
            key,
        })
    }

    /// How many `ip` holds now.
    #[cfg(test)]
    pub(crate) fn held_by(&self, ip: IpAddr) -> usize {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get(&AddrKey::of(ip)).copied().unwrap_or(0)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.budget.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// At most `per_sec` events a second on average, in bursts of up to twice that.
pub(crate) struct Rate {
    per_sec: f64,
    tokens: f64,
    last: tokio::time::Instant,
}

impl Rate {
    pub(crate) fn new(per_sec: u32) -> Rate {
        let per_sec = f64::from(per_sec.max(1));
        Rate {
            per_sec,
            tokens: 2.0 * per_sec,
            last: tokio::time::Instant::now(),
        }
    }

    /// May one more event pass now?
    pub(crate) fn allow(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_sec;
        self.tokens = (self.tokens + refill).min(2.0 * self.per_sec);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_the_limit_and_gets_it_back() {
        let b = PerAddress::new(2, "things");
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let one = b.take(a).unwrap();
        let two = b.take(a).unwrap();
        assert!(b.take(a).is_none(), "over the limit");
        assert!(b.take(other).is_some(), "another address is not affected");
        drop(one);
        let three = b.take(a).expect("room again");
        drop((two, three));
        assert_eq!(b.held_by(a), 0);
        assert!(
            b.held.lock().unwrap().is_empty(),
            "nothing kept for idle addresses"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_allows_bursts_then_the_average() {
        let mut r = Rate::new(10);
        let burst = (0..100).filter(|_| r.allow()).count();
        assert_eq!(burst, 20, "a burst of twice the rate");
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        let next = (0..100).filter(|_| r.allow()).count();
        assert_eq!(next, 10, "then the rate");
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let b = PerAddress::new(1, "things");
        let _x = b.take("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(b.take("2001:db8:1:2::ffff".parse().unwrap()).is_none());
        assert!(b.take("2001:db8:1:3::1".parse().unwrap()).is_some());
        let _y = b.take("192.0.2.7".parse().unwrap()).unwrap();
        assert!(b.take("::ffff:192.0.2.7".parse().unwrap()).is_none());
    }
}
