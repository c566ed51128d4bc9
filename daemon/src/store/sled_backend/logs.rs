//! The append-only logs (the audit trail, the sent-mail log): one tree each, keyed by a
//! big-endian id that only grows, so iterating the tree is iterating in time order.

use super::disk::{DiskGuard, Tree};
use crate::clock::UnixSeconds;
use crate::store::codec::{Record, be_u64, decode, encode};
use crate::store::{AppendLog, StoreError, Timestamped};
use async_trait::async_trait;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
pub(super) struct Log<T> {
    tree: Tree,
    /// The next id, taken from the last one at open (so a restored store goes on after its
    /// restored entries).
    next_id: AtomicU64,
    kind: PhantomData<fn() -> T>,
}

impl<T> Log<T> {
    pub(super) fn open(
        db: &sled::Db,
        name: &str,
        disk: &Arc<DiskGuard>,
    ) -> Result<Self, StoreError> {
        let tree = Tree::open(db, name, disk)?;
        let next_id = match tree.last()? {
            Some((key, _)) => be_u64(&key, "log key")? + 1,
            None => 0,
        };
        Ok(Self {
            tree,
            next_id: AtomicU64::new(next_id),
            kind: PhantomData,
        })
    }
}

impl<T: Record + Timestamped> Log<T> {
    pub(super) fn append_now(&self, entry: &T) -> Result<(), StoreError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.tree.insert(id.to_be_bytes(), encode(entry)?)?;
        Ok(())
    }

    pub(super) fn newest_now(
        &self,
        since: UnixSeconds,
        limit: usize,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Vec<T>, StoreError> {
        let mut entries = Vec::new();
        for value in self.tree.iter().values().rev() {
            let entry: T = decode(&value?)?;
            if entry.at() < since || entries.len() >= limit {
                break;
            }
            if keep(&entry) {
                entries.push(entry);
            }
        }
        Ok(entries)
    }
}

#[async_trait]
impl<T: Record + Timestamped + Send + Sync> AppendLog<T> for Log<T> {
    async fn append(&self, entry: &T) -> Result<(), StoreError> {
        self.append_now(entry)
    }

    async fn newest(
        &self,
        since: UnixSeconds,
        limit: usize,
        keep: &(dyn for<'e> Fn(&'e T) -> bool + Sync),
    ) -> Result<Vec<T>, StoreError> {
        self.newest_now(since, limit, keep)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.tree.len() as u64)
    }
}
