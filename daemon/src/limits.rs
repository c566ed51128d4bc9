//! Brute-force limits, per account and per client address, in the spirit of Authelia's
//! regulation: too many failures within a window lock the account (or address) for a while.
//! A locked account answers exactly like a wrong password, so the lock reveals nothing.
//!
//! Accounts are keyed by the case-folded username as typed, so unknown usernames are limited
//! the same way as real ones. State is kept in memory: one daemon owns all logins.

use crate::clock::UnixSeconds;
use crate::config::LimitsConfig;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;

/// Beyond this many tracked keys, idle ones are forgotten, so a flood of usernames or
/// addresses cannot grow memory without bound.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Default)]
struct Window {
    failures: VecDeque<UnixSeconds>,
    locked_until: Option<UnixSeconds>,
}

#[derive(Debug)]
struct Rule {
    max_failures: usize,
    window: u64,
    lockout: u64,
}

#[derive(Debug)]
struct Tracker<K> {
    rule: Rule,
    windows: Mutex<HashMap<K, Window>>,
}

impl<K: Hash + Eq + Clone> Tracker<K> {
    fn new(rule: Rule) -> Self {
        Self {
            rule,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn locked_until(&self, key: &K, now: UnixSeconds) -> Option<UnixSeconds> {
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        windows.get(key)?.locked_until.filter(|until| *until > now)
    }

    /// Counts a failure; returns the lock's end if this failure caused a lock.
    fn fail(&self, key: &K, now: UnixSeconds) -> Option<UnixSeconds> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= MAX_TRACKED && !windows.contains_key(key) {
            let rule_window = self.rule.window;
            windows.retain(|_, w| {
                w.locked_until.is_some_and(|u| u > now)
                    || w.failures.back().is_some_and(|t| t + rule_window > now)
            });
        }
        let window = windows.entry(key.clone()).or_default();
        while window
            .failures
            .front()
            .is_some_and(|t| t + self.rule.window <= now)
        {
            window.failures.pop_front();
        }
        window.failures.push_back(now);
        if window.failures.len() >= self.rule.max_failures
            && window.locked_until.is_none_or(|u| u <= now)
        {
            let until = now + self.rule.lockout;
            window.locked_until = Some(until);
            window.failures.clear();
            return Some(until);
        }
        None
    }

    fn clear(&self, key: &K) {
        self.windows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[derive(Debug)]
pub struct Limiter {
    accounts: Tracker<String>,
    addresses: Tracker<IpAddr>,
}

/// What a failure led to, for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NewLocks {
    pub account_until: Option<UnixSeconds>,
    pub address_until: Option<UnixSeconds>,
}

impl Limiter {
    pub fn new(config: &LimitsConfig) -> Self {
        Self {
            accounts: Tracker::new(Rule {
                max_failures: config.account_max_failures as usize,
                window: config.account_window.0.as_secs(),
                lockout: config.account_lockout.0.as_secs(),
            }),
            addresses: Tracker::new(Rule {
                max_failures: config.address_max_failures as usize,
                window: config.address_window.0.as_secs(),
                lockout: config.address_lockout.0.as_secs(),
            }),
        }
    }

    /// Whether an attempt for `account` from `address` may be checked at all.
    pub fn is_locked(&self, account: &str, address: Option<IpAddr>, now: UnixSeconds) -> bool {
        self.account_locked_until(account, now).is_some()
            || address.is_some_and(|a| self.addresses.locked_until(&a, now).is_some())
    }

    pub fn account_locked_until(&self, account: &str, now: UnixSeconds) -> Option<UnixSeconds> {
        self.accounts
            .locked_until(&account.to_ascii_lowercase(), now)
    }

    pub fn record_failure(
        &self,
        account: &str,
        address: Option<IpAddr>,
        now: UnixSeconds,
    ) -> NewLocks {
        NewLocks {
            account_until: self.accounts.fail(&account.to_ascii_lowercase(), now),
            address_until: address.and_then(|a| self.addresses.fail(&a, now)),
        }
    }

    /// A successful sign-in clears the account's failures (not the address's: one right
    /// password must not reset a spray across many accounts).
    pub fn record_success(&self, account: &str) {
        self.accounts.clear(&account.to_ascii_lowercase());
    }

    /// An administrator's unlock.
    pub fn unlock_account(&self, account: &str) {
        self.accounts.clear(&account.to_ascii_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HumanDuration;

    fn limiter() -> Limiter {
        Limiter::new(&LimitsConfig {
            account_max_failures: 3,
            account_window: HumanDuration::secs(60),
            account_lockout: HumanDuration::secs(300),
            address_max_failures: 5,
            address_window: HumanDuration::secs(60),
            address_lockout: HumanDuration::secs(600),
        })
    }

    #[test]
    fn failures_within_the_window_lock_the_account_for_the_lockout() {
        let limits = limiter();
        assert_eq!(
            limits.record_failure("Alice", None, 100),
            NewLocks::default()
        );
        limits.record_failure("alice", None, 110);
        let locks = limits.record_failure("ALICE", None, 120);
        assert_eq!(locks.account_until, Some(420));
        assert!(limits.is_locked("alice", None, 419));
        assert!(!limits.is_locked("alice", None, 420));
        assert!(!limits.is_locked("bob", None, 200));
    }

    #[test]
    fn failures_outside_the_window_are_forgotten_and_success_clears_them() {
        let limits = limiter();
        limits.record_failure("alice", None, 100);
        limits.record_failure("alice", None, 110);
        limits.record_failure("alice", None, 200);
        assert!(!limits.is_locked("alice", None, 201));
        limits.record_success("alice");
        limits.record_failure("alice", None, 202);
        limits.record_failure("alice", None, 203);
        assert!(!limits.is_locked("alice", None, 204));
    }

    #[test]
    fn an_address_spraying_many_accounts_is_locked() {
        let limits = limiter();
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
            assert_eq!(
                limits
                    .record_failure(name, Some(address), 100 + i as u64)
                    .address_until,
                None
            );
        }
        assert_eq!(
            limits.record_failure("e", Some(address), 105).address_until,
            Some(705)
        );
        assert!(limits.is_locked("zed", Some(address), 106));
        assert!(!limits.is_locked("zed", Some("192.0.2.8".parse().unwrap()), 106));
    }
}
