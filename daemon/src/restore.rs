//! `posternd restore`: loads a backup into the configured store, which must be empty (a new
//! state directory, or a new PostgreSQL database), and checks that the configured key file
//! opens what the backup sealed. Run it with the daemons stopped, as the user they run as.

use crate::config::Config;
use crate::config::StoreBackend;
use crate::model::signing_key::SigningKeyRecord;
use crate::secrets::MasterKey;
use crate::store::codec::decode;
use crate::store::postgres::PgStore;
use crate::store::sled_backend::backup;
use crate::store::{BackupError, BackupSummary, Store};
use crate::tokens::keys::{self, KeyRing};
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
    match config.store.backend {
        StoreBackend::Sled => into_sled(config, file, &master, now).await,
        StoreBackend::Postgres => {
            check_key(file, &master, key_file)?;
            let store = PgStore::open(&config.store.postgres)
                .await
                .map_err(BackupError::Store)?;
            Ok(store.restore(file).await?)
        }
    }
}

async fn into_sled(
    config: &Config,
    file: &Path,
    master: &MasterKey,
    now: u64,
) -> Result<BackupSummary, RestoreError> {
    let key_file = &config.secrets.key_file;
    let (summary, store) = backup::restore(&config.state_dir, file)?;
    let lifetime = config.tokens.id_token_lifetime.0.as_secs();
    let checked = match KeyRing::load(&store, master, now, lifetime).await {
        Ok(_) => Store::flush(&store).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    drop(store);
    if let Err(reason) = checked {
        // The directory was empty before; leave it so, ready for another try.
        crate::store::sled_backend::remove_databases(&config.state_dir);
        return Err(RestoreError::WrongKey {
            path: key_file.clone(),
            reason,
        });
    }
    Ok(summary)
}

/// Checks, before anything is written, that the key file opens the backup's signing keys
/// (sealed, like every secret in it, with the master key the backup was made under).
pub fn check_key(file: &Path, master: &MasterKey, key_file: &Path) -> Result<(), RestoreError> {
    let mut refusal = None;
    crate::store::backup::read(file, |tree, _, value| {
        if tree == "signing_keys" && refusal.is_none() {
            let record: SigningKeyRecord = decode(value).map_err(BackupError::Store)?;
            if let Err(e) = keys::opens(&record, master) {
                refusal = Some(e.to_string());
            }
        }
        Ok(())
    })?;
    match refusal {
        Some(reason) => Err(RestoreError::WrongKey {
            path: key_file.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}
