//! Running totals kept beside the records they count, in the same transactions, so that
//! reading them costs one lookup however many records there are.

use super::{Store, StoreError, TxResult};

pub(super) const USERS: &[u8] = b"users";

impl Store {
    pub fn user_count(&self) -> Result<u64, StoreError> {
        match self.counters.get(USERS)? {
            Some(bytes) => decode(&bytes),
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
        Some(bytes) => {
            decode(&bytes).map_err(sled::transaction::ConflictableTransactionError::Abort)?
        }
        None => 0,
    };
    counters.insert(name, &current.saturating_add_signed(delta).to_be_bytes())?;
    Ok(())
}

fn decode(bytes: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt {
            kind: "counter",
            message: format!("{} bytes instead of 8", bytes.len()),
        })
}
