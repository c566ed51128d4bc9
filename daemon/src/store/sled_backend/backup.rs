//! Backups of the sled store, and restoring a backup into a new sled state directory. The file
//! format is `store::backup`'s.

use super::{FORMAT_KEY, SledStore};
use crate::store::backup::{BackupError, BackupSummary, BackupWriter, DURABLE_TREES, read, verify};
use std::io::Write;
use std::path::Path;

impl From<sled::Error> for BackupError {
    fn from(error: sled::Error) -> Self {
        Self::Store(error.into())
    }
}

impl SledStore {
    /// Writes a backup of every durable tree to `out`. Changes to users, roles, clients and
    /// keys wait until it is written, so the copy is consistent; sign-ins that only read go on.
    pub fn write_backup<W: Write>(
        &self,
        out: W,
        created_at: u64,
    ) -> Result<BackupSummary, BackupError> {
        let _guard = self.lock();
        let mut writer = BackupWriter::new(out, created_at)?;
        for name in DURABLE_TREES {
            let tree = self.db.open_tree(name)?;
            for entry in tree.iter() {
                let (key, value) = entry?;
                writer.record(name, &key, &value)?;
            }
        }
        writer.finish()
    }
}

/// Loads a backup into `state_dir`, which must be empty or absent, and returns it opened as a
/// store (so older formats are migrated). The file is verified completely before anything is
/// written; if loading fails half-way, what was written is removed again.
pub fn restore(state_dir: &Path, file: &Path) -> Result<(BackupSummary, SledStore), BackupError> {
    let summary = verify(file)?;
    if state_dir.exists() && std::fs::read_dir(state_dir)?.next().is_some() {
        return Err(BackupError::NotEmpty(state_dir.to_owned()));
    }
    super::create_private_dir(state_dir)?;
    let loaded = load(state_dir, file, summary.header.store_format);
    if loaded.is_err() {
        super::remove_databases(state_dir);
    }
    Ok((summary, loaded?))
}

fn load(state_dir: &Path, file: &Path, store_format: u32) -> Result<SledStore, BackupError> {
    {
        let db = sled::Config::new()
            .path(state_dir.join(super::DURABLE_DIR))
            .open()?;
        read(file, |tree_name, key, value| {
            db.open_tree(tree_name)?.insert(key, value)?;
            Ok(())
        })?;
        db.insert(FORMAT_KEY, &store_format.to_be_bytes())?;
        db.flush()?;
    }
    // Opening migrates an older store to this daemon's format.
    let store = SledStore::open(state_dir)?;
    store.flush()?;
    Ok(store)
}
