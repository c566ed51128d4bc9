//! Two ways to reach the database. A statement that stands alone (a read, a compare-and-swap,
//! an insert) goes over one of a few connections that many requests share at once: the client
//! library pipelines them, so the server answers a batch per wake-up instead of one statement
//! per wake-up of its own process and ours. A transaction, which must own its connection
//! between statements, takes one from the pool for itself.

use super::pool_error;
use crate::store::StoreError;
use deadpool_postgres::{Object, Pool};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

/// Cheap to clone: the pool and the shared connections are shared.
#[derive(Clone, Debug)]
pub(super) struct Connections {
    pool: Pool,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// A connection per slot once one was needed; replaced when its connection closed.
    slots: Vec<RwLock<Option<Arc<Object>>>>,
    next: AtomicUsize,
}

impl Connections {
    /// Of the pool's `size` connections, about a quarter are shared (at least one), the rest
    /// left for transactions.
    pub(super) fn new(pool: Pool, size: usize) -> Self {
        let shared = (size / 4).max(1);
        Self {
            pool,
            shared: Arc::new(Shared {
                slots: (0..shared).map(|_| RwLock::new(None)).collect(),
                next: AtomicUsize::new(0),
            }),
        }
    }

    /// A connection for statements that stand alone, which other requests use at the same
    /// time. Never for a transaction: another request's statement would land inside it.
    pub(super) async fn shared(&self) -> Result<Arc<Object>, StoreError> {
        let slots = &self.shared.slots;
        let slot = &slots[self.shared.next.fetch_add(1, Ordering::Relaxed) % slots.len()];
        if let Some(open) = read(slot).as_ref().filter(|c| !c.is_closed()) {
            return Ok(open.clone());
        }
        // No lock is held across the wait: two requests may both connect, and the second's
        // connection then serves that request alone and goes back to the pool.
        let fresh = Arc::new(self.exclusive().await?);
        let mut held = slot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match held.as_ref().filter(|c| !c.is_closed()) {
            Some(open) => Ok(open.clone()),
            None => {
                *held = Some(fresh.clone());
                Ok(fresh)
            }
        }
    }

    /// A connection of its own, for a transaction.
    pub(super) async fn exclusive(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }
}

fn read(slot: &RwLock<Option<Arc<Object>>>) -> std::sync::RwLockReadGuard<'_, Option<Arc<Object>>> {
    slot.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}
