//! `posternd restore`: loads a backup into a new, empty state directory, then checks that the
//! configured key file opens what the backup sealed. Run it with the daemon stopped, as the
//! user the daemon runs as.

use crate::config::Config;
use crate::secrets::MasterKey;
use crate::store::sled_backend::backup;
use crate::store::{BackupError, BackupSummary, Store};
use crate::tokens::keys::KeyRing;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(
        "the key file {} does not exist; put the key file that was kept with this backup there first",
        .0.display()
    )]
    NoKeyFile(std::path::PathBuf),
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error(
        "the key file {} does not open the secrets in this backup ({reason}); nothing was restored. Use the key file that was kept with the backup",
        path.display()
    )]
    WrongKey {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("{0}")]
    Other(String),
}

pub async fn run(config: &Config, file: &Path, now: u64) -> Result<BackupSummary, RestoreError> {
    let key_file = &config.secrets.key_file;
    if !key_file.exists() {
        return Err(RestoreError::NoKeyFile(key_file.clone()));
    }
    let master =
        MasterKey::load_or_create(key_file).map_err(|e| RestoreError::Other(e.to_string()))?;
    let (summary, store) = backup::restore(&config.state_dir, file)?;
    let lifetime = config.tokens.id_token_lifetime.0.as_secs();
    let checked = match KeyRing::load(&store, &master, now, lifetime).await {
        Ok(_) => Store::flush(&store).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    drop(store);
    if let Err(reason) = checked {
        // The directory was empty before; leave it so, ready for another try.
        let _ = std::fs::remove_dir_all(config.state_dir.join("db"));
        return Err(RestoreError::WrongKey {
            path: key_file.clone(),
            reason,
        });
    }
    Ok(summary)
}
