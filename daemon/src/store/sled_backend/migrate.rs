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
//! - 3 → 4: the short-lived records (sessions, codes, tokens, remembered browsers and hosts,
//!   failure counts) move to a database of their own, so that their churn never makes sled
//!   move user records. They are copied (and the copy flushed) before the old trees are
//!   dropped, so an upgrade interrupted at any point signs nobody out when it resumes.

use super::ephemeral::EphemeralTrees;
use super::{FORMAT_KEY, FORMAT_VERSION, StoreError, counters};

/// Brings a store of format `found` up to [`FORMAT_VERSION`].
pub(super) fn upgrade(
    db: &sled::Db,
    short_lived_db: &sled::Db,
    found: u32,
) -> Result<(), StoreError> {
    for from in found..FORMAT_VERSION {
        match from {
            1 => count_users(db)?,
            2 => {}
            3 => move_short_lived(db, short_lived_db)?,
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

fn move_short_lived(db: &sled::Db, short_lived_db: &sled::Db) -> Result<(), StoreError> {
    for name in EphemeralTrees::NAMES {
        let (from, to) = (db.open_tree(name)?, short_lived_db.open_tree(name)?);
        for entry in from.iter() {
            let (key, value) = entry?;
            to.insert(key, value)?;
        }
    }
    short_lived_db.flush()?;
    for name in EphemeralTrees::NAMES {
        db.drop_tree(name)?;
    }
    Ok(())
}
