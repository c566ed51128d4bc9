//! Running totals kept beside the records they count, in the same transactions, so that
//! reading them costs one lookup however many records there are.

use super::{SledStore, StoreError, TxResult};
use crate::store::codec::be_u64;

pub(super) const USERS: &[u8] = b"users";

impl SledStore {
    pub fn user_count(&self) -> Result<u64, StoreError> {
        match self.counters.get(USERS)? {
            Some(bytes) => be_u64(&bytes, "counter"),
            None => Ok(0),
        }
    }
}

/// Adds `delta` to a counter inside a transaction.
pub(super) fn add(
    counters: &sled::transaction::TransactionalTree,
    name: &[u8],
    delta: i64,
) -> TxResult<()> {
    let current = match counters.get(name)? {
        Some(bytes) => be_u64(&bytes, "counter")
            .map_err(sled::transaction::ConflictableTransactionError::Abort)?,
        None => 0,
    };
    counters.insert(name, &current.saturating_add_signed(delta).to_be_bytes())?;
    Ok(())
}
