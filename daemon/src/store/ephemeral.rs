//! Short-lived records (sessions, codes, tokens, login flows), each kind in its own tree and
//! keyed by the hash of its bearer value. Not flushed on every write: losing the last moments of
//! them in a crash only signs people out.

use super::codec::{Record, decode, encode};
use super::{Store, StoreError};
use crate::clock::UnixSeconds;
use crate::model::grants::{
    AccessToken, AuthorizationCode, EmailCode, Expiring, LoginFlow, RefreshToken, RememberedDevice,
    RememberedHost, Session, TokenFamily,
};
use std::marker::PhantomData;

/// What [`Records::update`] does with the record it was shown.
#[derive(Debug)]
pub enum Change<T> {
    /// Leave it as it is (nothing is written).
    Keep,
    Replace(T),
    Remove,
}

/// A typed view of one tree of short-lived records.
#[derive(Debug)]
pub struct Records<'a, T> {
    tree: &'a sled::Tree,
    kind: PhantomData<T>,
}

impl<T: Record + Expiring> Records<'_, T> {
    /// The record under `key`, unless it has expired.
    pub fn get(&self, key: &[u8], now: UnixSeconds) -> Result<Option<T>, StoreError> {
        match self.tree.get(key)? {
            Some(bytes) => {
                let record: T = decode(&bytes)?;
                Ok((record.expires_at() > now).then_some(record))
            }
            None => Ok(None),
        }
    }

    pub fn put(&self, key: &[u8], record: &T) -> Result<(), StoreError> {
        self.tree.insert(key, encode(record)?)?;
        Ok(())
    }

    pub fn remove(&self, key: &[u8]) -> Result<(), StoreError> {
        self.tree.remove(key)?;
        Ok(())
    }

    /// Atomically reads and changes a record: `change` sees the current value (unexpired) and
    /// says what to do with it. Concurrent changes are retried (so `change` may run more than
    /// once), and two requests racing to use a single-use code cannot both see it unused.
    /// Returns what `change` last saw.
    pub fn update<F>(
        &self,
        key: &[u8],
        now: UnixSeconds,
        mut change: F,
    ) -> Result<Option<T>, StoreError>
    where
        F: FnMut(&T) -> Change<T>,
    {
        loop {
            let Some(current_bytes) = self.tree.get(key)? else {
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
            match self.tree.compare_and_swap(key, Some(current_bytes), next)? {
                Ok(()) => return Ok(Some(current)),
                Err(_) => continue,
            }
        }
    }

    /// Unexpired records whose key starts with `prefix`, with their keys.
    pub fn with_prefix(
        &self,
        prefix: &[u8],
        now: UnixSeconds,
    ) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        let mut found = Vec::new();
        for entry in self.tree.scan_prefix(prefix) {
            let (key, bytes) = entry?;
            let record: T = decode(&bytes)?;
            if record.expires_at() > now {
                found.push((key.to_vec(), record));
            }
        }
        Ok(found)
    }

    /// Deletes every record whose key starts with `prefix`; returns how many.
    pub fn remove_prefix(&self, prefix: &[u8]) -> Result<usize, StoreError> {
        let mut removed = 0;
        for key in self.tree.scan_prefix(prefix).keys() {
            self.tree.remove(key?)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Deletes every expired record; returns how many.
    pub fn sweep(&self, now: UnixSeconds) -> Result<usize, StoreError> {
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

macro_rules! record_trees {
    ($($method:ident: $kind:ty = $kind_name:literal $(, version $version:literal)?;)*) => {
        $(
            impl Record for $kind {
                const KIND: &'static str = $kind_name;
                $(const VERSION: u8 = $version;)?
            }
        )*
        impl Store {
            $(
                pub fn $method(&self) -> Records<'_, $kind> {
                    Records { tree: &self.ephemeral.$method, kind: PhantomData }
                }
            )*

            /// Removes expired records of every kind.
            pub fn sweep_expired(&self, now: UnixSeconds) -> Result<usize, StoreError> {
                Ok(0 $(+ self.$method().sweep(now)?)*)
            }
        }

        #[derive(Debug)]
        pub(super) struct EphemeralTrees {
            $($method: sled::Tree,)*
        }

        impl EphemeralTrees {
            pub(super) fn open(db: &sled::Db) -> Result<Self, StoreError> {
                Ok(Self { $($method: db.open_tree(stringify!($method))?,)* })
            }
        }
    };
}

// Version 2 of a kind: its byte fields are base64 (store format 3).
record_trees! {
    login_flows: LoginFlow = "login flow", version 2;
    sessions: Session = "session";
    token_families: TokenFamily = "token family";
    authorization_codes: AuthorizationCode = "authorization code";
    access_tokens: AccessToken = "access token";
    refresh_tokens: RefreshToken = "refresh token";
    remembered_devices: RememberedDevice = "remembered device";
    email_codes: EmailCode = "email code", version 2;
    remembered_hosts: RememberedHost = "remembered host";
}
