//! Brute-force limits, per account and per client address, in the spirit of Authelia's
//! regulation: too many failures within a window lock the account (or address) for a while.
//! A locked account answers exactly like a wrong password, so the lock reveals nothing.
//!
//! Accounts are keyed by the case-folded username as typed, so unknown usernames are limited
//! the same way as real ones. The counts live in the store (`FailureWindow` records, changed
//! atomically), so every daemon sharing a database counts the same failures, a restart forgets
//! none, and the sweeper removes windows that have run out.

use crate::clock::UnixSeconds;
use crate::config::LimitsConfig;
use crate::model::grants::FailureWindow;
use crate::secrets::token_hash;
use crate::store::batch::{Batch, Remove};
use crate::store::{Change, RecordKey, SharedStore, StoreError, WindowPair};
use std::net::IpAddr;

#[derive(Debug, Clone, Copy)]
struct Rule {
    max_failures: usize,
    window: u64,
    lockout: u64,
}

impl Rule {
    /// The window after one more failure at `now`, and whether that failure locked it.
    fn fail(&self, current: Option<&FailureWindow>, now: UnixSeconds) -> (FailureWindow, bool) {
        let mut failures: Vec<UnixSeconds> = current
            .map(|w| w.failures.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t + self.window > now)
            .collect();
        let already_locked = current
            .and_then(|w| w.locked_until)
            .filter(|until| *until > now);
        failures.push(now);
        let locks = failures.len() >= self.max_failures && already_locked.is_none();
        let locked_until = if locks {
            failures.clear();
            Some(now + self.lockout)
        } else {
            already_locked
        };
        let expires_at = locked_until
            .unwrap_or(0)
            .max(failures.iter().max().map_or(0, |t| t + self.window));
        let window = FailureWindow {
            failures,
            locked_until,
            expires_at,
        };
        (window, locks)
    }
}

/// Until when `window` locks its account or address, if it does at `now`.
fn locked(window: &FailureWindow, now: UnixSeconds) -> Option<UnixSeconds> {
    window.locked_until.filter(|until| *until > now)
}

/// The limits, over the store's failure windows.
#[derive(Debug)]
pub struct Limiter {
    store: SharedStore,
    account: Rule,
    address: Rule,
}

/// What a failure led to, for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NewLocks {
    pub account_until: Option<UnixSeconds>,
    pub address_until: Option<UnixSeconds>,
}

fn account_key(account: &str) -> RecordKey {
    RecordKey::bearer(token_hash(&format!(
        "account\0{}",
        account.to_ascii_lowercase()
    )))
}

fn address_key(address: IpAddr) -> RecordKey {
    RecordKey::bearer(token_hash(&format!("address\0{address}")))
}

/// The keys of the windows that limit an attempt for `account` from `address`: the account's,
/// and the address's (the account's again when there is no address), in that order.
pub fn window_keys(account: &str, address: Option<IpAddr>) -> (RecordKey, RecordKey) {
    let account = account_key(account);
    (account, address.map_or(account, address_key))
}

/// Whether either of an attempt's windows (read by [`window_keys`]) locks it at `now`.
pub fn locks(windows: &WindowPair, now: UnixSeconds) -> bool {
    [&windows.0, &windows.1]
        .into_iter()
        .flatten()
        .any(|window| locked(window, now).is_some())
}

impl Limiter {
    pub fn new(config: &LimitsConfig, store: SharedStore) -> Self {
        Self {
            store,
            account: Rule {
                max_failures: config.account_max_failures as usize,
                window: config.account_window.0.as_secs(),
                lockout: config.account_lockout.0.as_secs(),
            },
            address: Rule {
                max_failures: config.address_max_failures as usize,
                window: config.address_window.0.as_secs(),
                lockout: config.address_lockout.0.as_secs(),
            },
        }
    }

    /// Whether an attempt for `account` from `address` may be checked at all.
    pub async fn is_locked(
        &self,
        account: &str,
        address: Option<IpAddr>,
        now: UnixSeconds,
    ) -> Result<bool, StoreError> {
        // Both windows in one question: every sign-in step asks this.
        let (account, address) = window_keys(account, address);
        let windows = self
            .store
            .failure_windows()
            .get_pair(&account, &address, now)
            .await?;
        Ok(locks(&windows, now))
    }

    /// Whether `address` is locked (for answers that name no account, such as a user code).
    pub async fn address_locked(
        &self,
        address: IpAddr,
        now: UnixSeconds,
    ) -> Result<bool, StoreError> {
        Ok(self
            .locked_until(&address_key(address), now)
            .await?
            .is_some())
    }

    pub async fn account_locked_until(
        &self,
        account: &str,
        now: UnixSeconds,
    ) -> Result<Option<UnixSeconds>, StoreError> {
        self.locked_until(&account_key(account), now).await
    }

    async fn locked_until(
        &self,
        key: &RecordKey,
        now: UnixSeconds,
    ) -> Result<Option<UnixSeconds>, StoreError> {
        let window = self.store.failure_windows().get(key, now).await?;
        Ok(window.and_then(|w| locked(&w, now)))
    }

    /// Counts a failure against the account and the address; says which it locked.
    pub async fn record_failure(
        &self,
        account: &str,
        address: Option<IpAddr>,
        now: UnixSeconds,
    ) -> Result<NewLocks, StoreError> {
        let account_until = self.fail(&account_key(account), self.account, now).await?;
        let address_until = match address {
            Some(address) => self.fail(&address_key(address), self.address, now).await?,
            None => None,
        };
        Ok(NewLocks {
            account_until,
            address_until,
        })
    }

    /// Counts a failure against the address alone (an answer that named no account); the
    /// lock's end if it caused one.
    pub async fn record_address_failure(
        &self,
        address: IpAddr,
        now: UnixSeconds,
    ) -> Result<Option<UnixSeconds>, StoreError> {
        self.fail(&address_key(address), self.address, now).await
    }

    /// One more failure in the window under `key`, counted atomically; the lock's end if this
    /// failure caused one.
    async fn fail(
        &self,
        key: &RecordKey,
        rule: Rule,
        now: UnixSeconds,
    ) -> Result<Option<UnixSeconds>, StoreError> {
        let mut locked = None;
        self.store
            .failure_windows()
            .upsert(key, now, &mut |current| {
                let (window, locks) = rule.fail(current, now);
                locked = locks.then_some(window.locked_until).flatten();
                Change::Replace(window)
            })
            .await?;
        Ok(locked)
    }

    /// A completed sign-in clears the account's failures (not the address's: one right
    /// password must not reset a spray across many accounts).
    pub async fn record_success(&self, account: &str, batch: &Batch) -> Result<(), StoreError> {
        let clear = Remove::FailureWindow(account_key(account));
        batch.remove(&*self.store, clear).await
    }

    /// An administrator's unlock.
    pub async fn unlock_account(&self, account: &str) -> Result<(), StoreError> {
        self.clear(account).await
    }

    async fn clear(&self, account: &str) -> Result<(), StoreError> {
        self.store
            .failure_windows()
            .remove(&account_key(account))
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sled_backend::SledStore;
    use std::sync::Arc;

    fn limiter(dir: &std::path::Path) -> Limiter {
        let store: SharedStore = Arc::new(SledStore::open(dir).unwrap());
        Limiter::new(&super::checks::three_then_five(), store)
    }

    #[tokio::test]
    async fn failures_within_the_window_lock_the_account_for_the_lockout() {
        let dir = tempfile::tempdir().unwrap();
        let limits = limiter(dir.path());
        assert_eq!(
            limits.record_failure("Alice", None, 100).await.unwrap(),
            NewLocks::default()
        );
        limits.record_failure("alice", None, 110).await.unwrap();
        let locks = limits.record_failure("ALICE", None, 120).await.unwrap();
        assert_eq!(locks.account_until, Some(420));
        assert!(limits.is_locked("alice", None, 419).await.unwrap());
        assert!(!limits.is_locked("alice", None, 420).await.unwrap());
        assert!(!limits.is_locked("bob", None, 200).await.unwrap());
    }

    #[tokio::test]
    async fn failures_outside_the_window_are_forgotten_and_success_clears_them() {
        let dir = tempfile::tempdir().unwrap();
        let limits = limiter(dir.path());
        limits.record_failure("alice", None, 100).await.unwrap();
        limits.record_failure("alice", None, 110).await.unwrap();
        limits.record_failure("alice", None, 200).await.unwrap();
        assert!(!limits.is_locked("alice", None, 201).await.unwrap());
        limits.record_success("alice", &Batch::now()).await.unwrap();
        limits.record_failure("alice", None, 202).await.unwrap();
        limits.record_failure("alice", None, 203).await.unwrap();
        assert!(!limits.is_locked("alice", None, 204).await.unwrap());
    }

    #[tokio::test]
    async fn an_address_spraying_many_accounts_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let limits = limiter(dir.path());
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
            let locks = limits
                .record_failure(name, Some(address), 100 + i as u64)
                .await
                .unwrap();
            assert_eq!(locks.address_until, None);
        }
        let locks = limits
            .record_failure("e", Some(address), 105)
            .await
            .unwrap();
        assert_eq!(locks.address_until, Some(705));
        assert!(limits.is_locked("zed", Some(address), 106).await.unwrap());
        let elsewhere: IpAddr = "192.0.2.8".parse().unwrap();
        assert!(!limits.is_locked("zed", Some(elsewhere), 106).await.unwrap());
    }

    #[tokio::test]
    async fn failures_counted_at_once_are_all_counted() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Arc::new(limiter(dir.path()));
        let tries: Vec<_> = (0..3)
            .map(|_| {
                let limits = limits.clone();
                tokio::spawn(async move { limits.record_failure("alice", None, 100).await })
            })
            .collect();
        for attempt in tries {
            attempt.await.unwrap().unwrap();
        }
        assert!(limits.is_locked("alice", None, 101).await.unwrap());
    }
}

/// What every backend must answer a password check, on each backend (PostgreSQL on the
/// PostgreSQL run of the suite).
#[cfg(test)]
mod checks {
    use super::*;
    use crate::config::HumanDuration;
    use crate::model::User;

    /// Three failures in a minute lock an account for five minutes, five an address for ten.
    pub(super) fn three_then_five() -> LimitsConfig {
        LimitsConfig {
            account_max_failures: 3,
            account_window: HumanDuration::secs(60),
            account_lockout: HumanDuration::secs(300),
            address_max_failures: 5,
            address_window: HumanDuration::secs(60),
            address_lockout: HumanDuration::secs(600),
        }
    }

    /// A user is read by name with the windows that limit attempts for them, in any case of
    /// the name, and an unknown name's windows are read all the same.
    pub async fn a_user_is_read_with_the_windows_that_limit_them(store: SharedStore) {
        let limits = Limiter::new(&three_then_five(), store.clone());
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        let noor = User {
            password_hash: "$argon2id$placeholder".into(),
            ..User::for_tests("noor")
        };
        store.insert_user(&noor).await.unwrap();
        for at in [100, 110, 120] {
            limits
                .record_failure("Noor", Some(address), at)
                .await
                .unwrap();
        }
        let read = |name: &'static str, now| {
            let store = store.clone();
            async move {
                let (account, address) = window_keys(name, Some(address));
                store
                    .user_by_name_and_windows(name, (&account, &address), now)
                    .await
                    .unwrap()
            }
        };
        let (user, windows) = read("NOOR", 130).await;
        assert_eq!(user.map(|u| u.id), Some(noor.id));
        assert!(locks(&windows, 130), "three failures lock the account");
        assert_eq!(windows.1.map(|w| w.failures.len()), Some(3));

        let (user, windows) = read("nobody", 130).await;
        assert!(user.is_none());
        assert!(windows.0.is_none());
        assert!(
            windows.1.is_some(),
            "the address's window, whatever the name"
        );
        assert!(!locks(&windows, 130), "three of the address's five");

        let (user, windows) = read("noor", 1000).await;
        assert!(user.is_some());
        assert!(windows.0.is_none() && windows.1.is_none(), "run out");
    }

    /// A user is changed against the copy read only while none of the windows is live, in
    /// one step; a stale copy is changed from what is stored.
    pub async fn a_user_is_changed_only_while_no_window_is_live(store: SharedStore) {
        use crate::store::UnlessFailures;
        let limits = Limiter::new(&LimitsConfig::default(), store.clone());
        let address: IpAddr = "192.0.2.8".parse().unwrap();
        let rui = User {
            password_hash: "$argon2id$placeholder".into(),
            ..User::for_tests("rui")
        };
        store.insert_user(&rui).await.unwrap();
        let (account, address_key) = window_keys("rui", Some(address));
        let change = |seen: &User, now| {
            let store = store.clone();
            let (seen, account, address_key) = (seen.clone(), account, address_key);
            async move {
                let bump = Box::new(|u: &mut User| {
                    u.last_login_at = Some(u.last_login_at.unwrap_or(0) + 1);
                    Ok(())
                });
                let windows = (&account, &address_key);
                store
                    .update_seen_user_unless_failures(&seen, bump, windows, now)
                    .await
                    .unwrap()
            }
        };
        let UnlessFailures::Changed(after) = change(&rui, 100).await else {
            panic!("no window: changed");
        };
        assert_eq!(after.last_login_at, Some(1));
        let UnlessFailures::Changed(after) = change(&rui, 100).await else {
            panic!("a stale copy: changed from what is stored");
        };
        assert_eq!(after.last_login_at, Some(2));

        limits
            .record_failure("rui", Some(address), 100)
            .await
            .unwrap();
        let UnlessFailures::Failures(windows) = change(&after, 110).await else {
            panic!("a live window: not changed");
        };
        assert!(windows.0.is_some() && windows.1.is_some());
        assert!(!locks(&windows, 110), "one failure does not lock");
        let stored = store.user(rui.id).await.unwrap().unwrap();
        assert_eq!(stored.last_login_at, Some(2));

        let UnlessFailures::Changed(after) = change(&after, 100_000).await else {
            panic!("the windows ran out: changed");
        };
        assert_eq!(after.last_login_at, Some(3));
    }

    #[tokio::test]
    async fn on_sled() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sled_backend::SledStore::open(dir.path()).unwrap();
        let store: SharedStore = std::sync::Arc::new(store);
        a_user_is_read_with_the_windows_that_limit_them(store.clone()).await;
        a_user_is_changed_only_while_no_window_is_live(store).await;
    }

    #[tokio::test]
    async fn on_postgres() {
        if let Some((_server, store)) = crate::store::postgres::tests::store().await {
            a_user_is_read_with_the_windows_that_limit_them(store.clone()).await;
            a_user_is_changed_only_while_no_window_is_live(store).await;
        }
    }
}
