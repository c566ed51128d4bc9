//! Short-lived records (sessions, codes, tokens, login flows), each kind in its own tree. A
//! [`RecordKey`] is laid out as the owner's id (16 bytes) followed by the hash (32 bytes),
//! either part absent when the key has none, so one user's records are one prefix scan. (Each
//! tree holds keys of one shape only.) They live in a sled database of their own (see the
//! module above). Not flushed on every write: losing the last moments of
//! them in a crash only signs people out.

use super::StoreError;
use super::disk::{DiskGuard, Tree};
use crate::clock::UnixSeconds;
use crate::model::UserId;
use crate::model::device::DeviceAuthorization;
use crate::model::grants::{
    AccessToken, AuthorizationCode, EmailCode, Expiring, FailureWindow, LoginFlow, RefreshToken,
    RememberedDevice, RememberedHost, Session, TokenFamily,
};
use crate::model::passkey::PasskeyChallenge;
use crate::store::codec::{Record, decode, encode};
use crate::store::{Change, Changer, RecordKey, ShortLived, Upserter};
use async_trait::async_trait;
use std::marker::PhantomData;
use std::sync::Arc;

/// One tree of short-lived records of one kind.
#[derive(Debug)]
pub(super) struct Records<T> {
    tree: Tree,
    kind: PhantomData<fn() -> T>,
}

impl<T> Clone for Records<T> {
    fn clone(&self) -> Self {
        Self {
            tree: self.tree.clone(),
            kind: PhantomData,
        }
    }
}

impl<T: Record + Expiring> Records<T> {
    fn open(db: &sled::Db, name: &str, disk: &Arc<DiskGuard>) -> Result<Self, StoreError> {
        Ok(Self {
            tree: Tree::open(db, name, disk)?,
            kind: PhantomData,
        })
    }

    fn get_now(&self, key: &RecordKey, now: UnixSeconds) -> Result<Option<T>, StoreError> {
        match self.tree.get(key.to_bytes())? {
            Some(bytes) => {
                let record: T = decode(&bytes)?;
                Ok((record.expires_at() > now).then_some(record))
            }
            None => Ok(None),
        }
    }

    fn update_now(
        &self,
        key: &RecordKey,
        now: UnixSeconds,
        change: Changer<'_, T>,
    ) -> Result<Option<T>, StoreError> {
        let key = key.to_bytes();
        loop {
            let Some(current_bytes) = self.tree.get(&key)? else {
                return Ok(None);
            };
            let current: T = decode(&current_bytes)?;
            if current.expires_at() <= now {
                return Ok(None);
            }
            let next = match change(&current) {
                Change::Keep => return Ok(Some(current)),
                Change::Replace(record) => Some(encode(&record)?),
                Change::Remove => None,
            };
            match self
                .tree
                .compare_and_swap(&key, Some(current_bytes), next)?
            {
                Ok(()) => return Ok(Some(current)),
                Err(_) => continue,
            }
        }
    }

    fn upsert_now(
        &self,
        key: &RecordKey,
        now: UnixSeconds,
        change: Upserter<'_, T>,
    ) -> Result<Option<T>, StoreError> {
        let key = key.to_bytes();
        loop {
            let current_bytes = self.tree.get(&key)?;
            let current: Option<T> = match &current_bytes {
                Some(bytes) => Some(decode::<T>(bytes)?).filter(|r| r.expires_at() > now),
                None => None,
            };
            let next = match change(current.as_ref()) {
                Change::Keep => return Ok(current),
                Change::Replace(record) => Some(encode(&record)?),
                Change::Remove => None,
            };
            match self.tree.compare_and_swap(&key, current_bytes, next)? {
                Ok(()) => return Ok(current),
                Err(_) => continue,
            }
        }
    }

    fn scan(&self, prefix: &[u8], now: UnixSeconds) -> Result<Vec<(RecordKey, T)>, StoreError> {
        let mut found = Vec::new();
        for entry in self.tree.scan_prefix(prefix) {
            let (key, bytes) = entry?;
            let record: T = decode(&bytes)?;
            if record.expires_at() > now {
                found.push((RecordKey::from_bytes(&key)?, record));
            }
        }
        Ok(found)
    }

    /// Deletes every expired (or unreadable) record; returns how many.
    pub(super) fn sweep_now(&self, now: UnixSeconds) -> Result<usize, StoreError> {
        let mut removed = 0;
        for entry in self.tree.iter() {
            let (key, bytes) = entry?;
            let expired = decode::<T>(&bytes)
                .map(|r| r.expires_at() <= now)
                .unwrap_or(true);
            if expired {
                self.tree.remove(key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[async_trait]
impl<T: Record + Expiring + Send + Sync> ShortLived<T> for Records<T> {
    async fn get(&self, key: &RecordKey, now: UnixSeconds) -> Result<Option<T>, StoreError> {
        self.get_now(key, now)
    }

    async fn put(&self, key: &RecordKey, record: &T) -> Result<(), StoreError> {
        self.tree.insert(key.to_bytes(), encode(record)?)?;
        Ok(())
    }

    async fn remove(&self, key: &RecordKey) -> Result<bool, StoreError> {
        Ok(self.tree.remove(key.to_bytes())?.is_some())
    }

    async fn update(
        &self,
        key: &RecordKey,
        now: UnixSeconds,
        change: Changer<'_, T>,
    ) -> Result<Option<T>, StoreError> {
        self.update_now(key, now, change)
    }

    async fn upsert(
        &self,
        key: &RecordKey,
        now: UnixSeconds,
        change: Upserter<'_, T>,
    ) -> Result<Option<T>, StoreError> {
        self.upsert_now(key, now, change)
    }

    async fn of_owner(
        &self,
        owner: UserId,
        now: UnixSeconds,
    ) -> Result<Vec<(RecordKey, T)>, StoreError> {
        self.scan(owner.0.as_bytes(), now)
    }

    async fn remove_of_owner(&self, owner: UserId) -> Result<usize, StoreError> {
        let mut removed = 0;
        for key in self.tree.scan_prefix(owner.0.as_bytes()).keys() {
            self.tree.remove(key?)?;
            removed += 1;
        }
        Ok(removed)
    }

    async fn all(&self, now: UnixSeconds) -> Result<Vec<(RecordKey, T)>, StoreError> {
        self.scan(&[], now)
    }

    async fn sweep(&self, now: UnixSeconds) -> Result<usize, StoreError> {
        self.sweep_now(now)
    }
}

macro_rules! record_trees {
    ($($method:ident: $kind:ty;)*) => {
        #[derive(Debug, Clone)]
        pub(super) struct EphemeralTrees {
            $(pub(super) $method: Records<$kind>,)*
        }

        impl EphemeralTrees {
            /// The trees' names, one a kind.
            pub(super) const NAMES: &[&str] = &[$(stringify!($method),)*];

            pub(super) fn open(db: &sled::Db, disk: &Arc<DiskGuard>) -> Result<Self, StoreError> {
                Ok(Self { $($method: Records::open(db, stringify!($method), disk)?,)* })
            }
        }

        impl EphemeralTrees {
            /// Removes expired records of every kind.
            pub(super) fn sweep_now(&self, now: UnixSeconds) -> Result<usize, StoreError> {
                Ok(0 $(+ self.$method.sweep_now(now)?)*)
            }
        }
    };
}

record_trees! {
    login_flows: LoginFlow;
    sessions: Session;
    token_families: TokenFamily;
    authorization_codes: AuthorizationCode;
    access_tokens: AccessToken;
    refresh_tokens: RefreshToken;
    remembered_devices: RememberedDevice;
    email_codes: EmailCode;
    remembered_hosts: RememberedHost;
    failure_windows: FailureWindow;
    passkey_challenges: PasskeyChallenge;
    device_authorizations: DeviceAuthorization;
}
