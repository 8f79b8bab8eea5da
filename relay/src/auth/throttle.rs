//! Login throttling, after the OWASP authentication cheat sheet: slow
//! password guessing down without handing an attacker a way to lock the
//! real ombud out.
//!
//! Failures are counted under three keys:
//! - the (account, address) pair, strictly: a few failures, then an
//!   exponentially growing wait (capped). This is what stops guessing one
//!   account's password from one place.
//! - the address, across accounts, more loosely: stops one place from
//!   guessing many accounts.
//! - the account, across addresses, loosest of all and with a short cap:
//!   slows a guesser spread over many addresses, but never locks the account
//!   for long.
//!
//! A pair that has logged in successfully before is "known" and skips the
//! address and account limits (never its own), so the real ombud keeps
//! getting in from its usual place while someone elsewhere guesses.
//! While a key waits, even the right password is answered 429: otherwise the
//! answer would tell the guesser it had found it. Counts decay with time,
//! and a success clears its pair. Accounts are held only as a keyed hash
//! (the key is random per process), and every table is capped: the oldest
//! entries go first.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How strict each key is.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures a pair may have before it must wait.
    pub pair_free: u32,
    /// Failures an address may have (over all accounts) before it must wait.
    pub address_free: u32,
    /// Failures an account may have (over all addresses) before unknown
    /// addresses must wait.
    pub account_free: u32,
    /// The first wait; each further failure doubles it.
    pub first_wait: Duration,
    /// The longest wait for a pair or an address.
    pub max_wait: Duration,
    /// The longest wait the account-wide limit imposes: short, because
    /// anyone can trigger it.
    pub max_account_wait: Duration,
    /// One failure is forgotten per this much quiet time.
    pub forget_one_every: Duration,
    /// Known pairs are remembered this long after their last success.
    pub known_for: Duration,
    /// Entries per table; the least recently touched go first.
    pub capacity: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            pair_free: 5,
            address_free: 20,
            account_free: 50,
            first_wait: Duration::from_secs(1),
            max_wait: Duration::from_secs(15 * 60),
            max_account_wait: Duration::from_secs(60),
            forget_one_every: Duration::from_secs(10 * 60),
            known_for: Duration::from_secs(30 * 24 * 3600),
            capacity: 50_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    /// When the failures were last counted (decay runs from here).
    since: Instant,
    wait_until: Option<Instant>,
}

impl Record {
    fn new(now: Instant) -> Self {
        Record {
            failures: 0,
            since: now,
            wait_until: None,
        }
    }

    /// Forgets one failure per quiet `every`.
    fn decay(&mut self, now: Instant, every: Duration) {
        let quiet = now.saturating_duration_since(self.since);
        let periods = (quiet.as_secs_f64() / every.as_secs_f64()) as u32;
        if periods > 0 {
            self.failures = self.failures.saturating_sub(periods);
            self.since += every * periods;
        }
    }

    fn waiting(&self, now: Instant) -> Option<Duration> {
        self.wait_until
            .filter(|&t| t > now)
            .map(|t| t.duration_since(now))
    }

    fn fail(&mut self, now: Instant, free: u32, first: Duration, max: Duration) {
        self.failures = self.failures.saturating_add(1);
        self.since = now;
        if self.failures >= free {
            let doublings = (self.failures - free).min(30);
            let wait = first.saturating_mul(1 << doublings).min(max);
            self.wait_until = Some(now + wait);
        }
    }
}

/// A map that keeps at most `capacity` entries, dropping the least recently
/// touched: memory stays bounded however many addresses an attacker has.
struct Lru<K, V> {
    map: HashMap<K, (V, u64)>,
    order: BTreeMap<u64, K>,
    tick: u64,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    fn new(capacity: usize) -> Self {
        Lru {
            map: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            capacity,
        }
    }

    fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k).map(|(v, _)| v)
    }

    /// The entry for `k` (made with `new` if absent), marked as just used.
    fn touch(&mut self, k: &K, new: impl FnOnce() -> V) -> &mut V {
        self.tick += 1;
        let tick = self.tick;
        if let Some((_, t)) = self.map.get_mut(k) {
            self.order.remove(t);
            *t = tick;
        } else {
            while self.map.len() >= self.capacity {
                let Some((_, oldest)) = self.order.pop_first() else {
                    break;
                };
                self.map.remove(&oldest);
            }
            self.map.insert(k.clone(), (new(), tick));
        }
        self.order.insert(tick, k.clone());
        &mut self.map.get_mut(k).expect("just inserted").0
    }

    fn remove(&mut self, k: &K) {
        if let Some((_, t)) = self.map.remove(k) {
            self.order.remove(&t);
        }
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

type Key = [u8; 32];

struct Tables {
    pairs: Lru<Key, Record>,
    addresses: Lru<IpAddr, Record>,
    accounts: Lru<Key, Record>,
    /// Pairs with a recent success, and when it was.
    known: Lru<Key, Instant>,
}

/// Failed logins by account and address (see the module comment).
pub struct LoginThrottle {
    policy: Policy,
    /// Keys the account hashes, so the tables never hold a username.
    secret: [u8; 32],
    tables: Mutex<Tables>,
}

/// Who is trying to log in, as the throttle knows them.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    account: Key,
    pair: Key,
    address: IpAddr,
}

impl LoginThrottle {
    pub fn new(policy: Policy) -> Self {
        let cap = policy.capacity;
        LoginThrottle {
            policy,
            secret: rand::random(),
            tables: Mutex::new(Tables {
                pairs: Lru::new(cap),
                addresses: Lru::new(cap),
                accounts: Lru::new(cap),
                known: Lru::new(cap),
            }),
        }
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The keys of a login attempt. IPv6 addresses count by their /64, which
    /// one subscriber usually holds whole.
    pub fn attempt(&self, username: &str, address: IpAddr) -> Attempt {
        let address = match address {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                let mut o = v6.octets();
                o[8..].fill(0);
                IpAddr::from(o)
            }
            IpAddr::V6(v6) => IpAddr::V4(v6.to_ipv4_mapped().expect("checked")),
            v4 => v4,
        };
        let account: Key = Sha256::new()
            .chain_update(self.secret)
            .chain_update(b"account")
            .chain_update(username.as_bytes())
            .finalize()
            .into();
        let ip = match address {
            IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            IpAddr::V6(a) => a.octets(),
        };
        let pair: Key = Sha256::new()
            .chain_update(self.secret)
            .chain_update(b"pair")
            .chain_update(account)
            .chain_update(ip)
            .finalize()
            .into();
        Attempt {
            account,
            pair,
            address,
        }
    }

    /// `Err(wait)` if this attempt must wait before its password is checked.
    pub fn check(&self, a: &Attempt, now: Instant) -> Result<(), Duration> {
        let p = self.policy;
        let t = self.tables();
        let known = t
            .known
            .get(&a.pair)
            .is_some_and(|&at| now.saturating_duration_since(at) < p.known_for);
        let mut wait = Duration::ZERO;
        if let Some(r) = t.pairs.get(&a.pair) {
            wait = wait.max(r.waiting(now).unwrap_or_default());
        }
        if !known {
            for r in [t.addresses.get(&a.address), t.accounts.get(&a.account)]
                .into_iter()
                .flatten()
            {
                wait = wait.max(r.waiting(now).unwrap_or_default());
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait)
        }
    }

    /// Counts a wrong password (or unknown account) for this attempt.
    pub fn failed(&self, a: &Attempt, now: Instant) {
        let p = self.policy;
        let mut t = self.tables();
        let fresh = || Record::new(now);
        let r = t.pairs.touch(&a.pair, fresh);
        r.decay(now, p.forget_one_every);
        r.fail(now, p.pair_free, p.first_wait, p.max_wait);
        let r = t.addresses.touch(&a.address, fresh);
        r.decay(now, p.forget_one_every);
        r.fail(now, p.address_free, p.first_wait, p.max_wait);
        let r = t.accounts.touch(&a.account, fresh);
        r.decay(now, p.forget_one_every);
        r.fail(now, p.account_free, p.first_wait, p.max_account_wait);
    }

    /// A right password: the pair starts over and is known from now on.
    pub fn succeeded(&self, a: &Attempt, now: Instant) {
        let mut t = self.tables();
        t.pairs.remove(&a.pair);
        *t.known.touch(&a.pair, || now) = now;
    }

    /// Entries held, over all tables (for tests of the memory bound).
    pub fn entries(&self) -> usize {
        let t = self.tables();
        t.pairs.len() + t.addresses.len() + t.accounts.len() + t.known.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_pair_waits_after_five_failures_and_the_wait_doubles_up_to_the_cap() {
        let th = LoginThrottle::new(Policy::default());
        let a = th.attempt("ombud", ip("192.0.2.1"));
        let mut now = Instant::now();
        for _ in 0..4 {
            assert!(th.check(&a, now).is_ok());
            th.failed(&a, now);
        }
        assert!(th.check(&a, now).is_ok());
        th.failed(&a, now);
        let mut last = th.check(&a, now).unwrap_err();
        assert_eq!(last, Duration::from_secs(1));
        for _ in 0..15 {
            now += last + Duration::from_millis(1);
            assert!(th.check(&a, now).is_ok(), "the wait is over");
            th.failed(&a, now);
            let wait = th.check(&a, now).unwrap_err();
            assert!(wait >= last, "{wait:?} after {last:?}");
            assert!(wait <= Duration::from_secs(15 * 60));
            last = wait;
        }
        assert_eq!(last, Duration::from_secs(15 * 60), "capped");
    }

    #[test]
    fn the_real_ombud_gets_in_from_elsewhere_and_from_a_known_place() {
        let th = LoginThrottle::new(Policy::default());
        let now = Instant::now();
        let home = th.attempt("ombud", ip("192.0.2.7"));
        th.succeeded(&home, now);
        // Guessing spread over 100 addresses trips the account-wide limit...
        for i in 0..100 {
            let a = th.attempt("ombud", ip(&format!("198.51.100.{i}")));
            if th.check(&a, now).is_ok() {
                th.failed(&a, now);
            }
        }
        let elsewhere = th.attempt("ombud", ip("203.0.113.9"));
        let wait = th.check(&elsewhere, now).unwrap_err();
        // ...but only briefly for a new place, and not at all for a known one.
        assert!(wait <= Duration::from_secs(60), "{wait:?}");
        assert!(th.check(&home, now).is_ok());
        assert!(th.check(&elsewhere, now + wait).is_ok());
    }

    #[test]
    fn an_address_guessing_many_accounts_waits_but_its_known_pairs_do_not() {
        let th = LoginThrottle::new(Policy::default());
        let now = Instant::now();
        let mine = th.attempt("alice", ip("192.0.2.1"));
        th.succeeded(&mine, now);
        for i in 0..20 {
            th.failed(&th.attempt(&format!("user{i}"), ip("192.0.2.1")), now);
        }
        assert!(th
            .check(&th.attempt("carol", ip("192.0.2.1")), now)
            .is_err());
        assert!(th.check(&mine, now).is_ok());
        assert!(th.check(&th.attempt("carol", ip("192.0.2.2")), now).is_ok());
    }

    #[test]
    fn failures_are_forgotten_with_time_and_a_success_clears_its_pair() {
        let th = LoginThrottle::new(Policy::default());
        let a = th.attempt("ombud", ip("2001:db8::1"));
        let same_64 = th.attempt("ombud", ip("2001:db8::ffff"));
        let mut now = Instant::now();
        for _ in 0..5 {
            th.failed(&a, now);
        }
        assert!(th.check(&same_64, now).is_err(), "IPv6 counts per /64");
        now += Duration::from_secs(3600);
        th.failed(&a, now);
        assert!(th.check(&a, now).is_ok(), "old failures were forgotten");
        for _ in 0..5 {
            th.failed(&a, now);
        }
        th.succeeded(&a, now);
        assert!(th.check(&a, now).is_ok());
    }

    #[test]
    fn the_tables_stay_bounded() {
        let th = LoginThrottle::new(Policy {
            capacity: 100,
            ..Policy::default()
        });
        let now = Instant::now();
        for i in 0..10_000u32 {
            let a = th.attempt(&format!("u{i}"), IpAddr::from(i.to_be_bytes()));
            th.failed(&a, now);
            th.succeeded(&a, now);
        }
        assert!(th.entries() <= 400, "{}", th.entries());
    }
}
