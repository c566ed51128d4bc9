//! Store format migrations. Each step takes the store from one format to the next and records
//! the new format in the same flush, so an interrupted upgrade resumes where it stopped.
//!
//! - 1 → 2: the number of users is kept in the `counters` tree, so that start-up and status
//!   never count a million records.
//! - 2 → 3: byte fields (hashes, MACs, sealed secrets) are written as base64 rather than number
//!   arrays (`model::stored_bytes`). Nothing is rewritten: the old shape stays readable, and a
//!   record takes the new one when it next changes. The format number changes so that a
//!   format-2 daemon refuses the store at start-up rather than a record in the middle of a
//!   sign-in.

use super::{FORMAT_KEY, FORMAT_VERSION, StoreError, counters};

/// Brings a store of format `found` up to [`FORMAT_VERSION`].
pub(super) fn upgrade(db: &sled::Db, found: u32) -> Result<(), StoreError> {
    for from in found..FORMAT_VERSION {
        match from {
            1 => count_users(db)?,
            2 => {}
            other => {
                return Err(StoreError::Corrupt {
                    kind: "format version",
                    message: format!("no migration from format {other}"),
                });
            }
        }
        db.insert(FORMAT_KEY, &(from + 1).to_be_bytes())?;
        db.flush()?;
        tracing::info!(from, to = from + 1, "migrated the store");
    }
    Ok(())
}

fn count_users(db: &sled::Db) -> Result<(), StoreError> {
    let users = db.open_tree("users")?.len() as u64;
    db.open_tree("counters")?
        .insert(counters::USERS, &users.to_be_bytes())?;
    Ok(())
}
