//! `posternd migrate-store`: moves a stopped daemon's sled store into an empty PostgreSQL
//! database, for a site that grows from one daemon to several. The store is copied through the
//! backup format (so what moves is exactly what a backup holds), the key file must open its
//! secrets, and the counts are compared afterwards.

use crate::config::{Config, StoreBackend};
use crate::restore::{RestoreError, check_key};
use crate::secrets::MasterKey;
use crate::store::postgres::PgStore;
use crate::store::sled_backend::SledStore;
use crate::store::{Store, StoreError};
use std::io::Write;

/// What was moved, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub records: u64,
    pub counts: Vec<(&'static str, u64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Restore(#[from] RestoreError),
    #[error("cannot write the temporary copy: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "the copy does not match the source: {what} {source_count} in the sled store, {copied} in PostgreSQL"
    )]
    Mismatch {
        what: &'static str,
        source_count: u64,
        copied: u64,
    },
}

/// Copies the sled store of `from` (stopped: sled admits one process) into the PostgreSQL
/// database of `to` (empty).
pub async fn run(from: &Config, to: &Config, now: u64) -> Result<Moved, MigrateError> {
    if from.store.backend != StoreBackend::Sled {
        return Err(MigrateError::Config(
            "--from must name the configuration of a sled store (store.backend = \"sled\")".into(),
        ));
    }
    if to.store.backend != StoreBackend::Postgres {
        return Err(MigrateError::Config(
            "--config must name the new configuration, with store.backend = \"postgres\"".into(),
        ));
    }
    let key_file = &to.secrets.key_file;
    if !key_file.exists() {
        return Err(RestoreError::NoKeyFile(key_file.clone()).into());
    }
    let master = MasterKey::load_or_create(key_file)
        .map_err(|e| MigrateError::Config(format!("secrets.key_file: {e}")))?;
    let source = SledStore::open(&from.state_dir)?;
    let target = PgStore::open(&to.store.postgres).await?;
    if !target.is_empty().await? {
        return Err(MigrateError::Config(
            "the PostgreSQL database is not empty: it already holds a Postern store; migrate only into a new, empty database".into(),
        ));
    }

    // The copy: a backup file, private to root (or the daemon's user), removed afterwards.
    let copy = std::env::temp_dir().join(format!(
        "postern-migrate-{}-{}",
        std::process::id(),
        crate::secrets::random_token()
    ));
    let moved = async {
        let mut file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&copy)?
        };
        let summary = source
            .write_backup(&mut file, now)
            .map_err(RestoreError::from)?;
        file.flush()?;
        drop(file);
        check_key(&copy, &master, key_file)?;
        target.restore(&copy).await.map_err(RestoreError::from)?;
        Ok::<_, MigrateError>(summary.records)
    }
    .await;
    let _ = std::fs::remove_file(&copy);
    let records = moved?;
    let counts = compare(&source, &target).await?;
    Ok(Moved { records, counts })
}

/// The counts of what matters, in both stores; any difference is an error.
async fn compare(
    source: &SledStore,
    target: &PgStore,
) -> Result<Vec<(&'static str, u64)>, MigrateError> {
    let mut counts = Vec::new();
    for (what, before, after) in [
        (
            "users",
            Store::user_count(source).await?,
            Store::user_count(target).await?,
        ),
        (
            "roles",
            Store::role_count(source).await?,
            Store::role_count(target).await?,
        ),
        (
            "clients",
            Store::clients(source).await?.len() as u64,
            Store::clients(target).await?.len() as u64,
        ),
        (
            "signing keys",
            Store::signing_keys(source).await?.len() as u64,
            Store::signing_keys(target).await?.len() as u64,
        ),
        (
            "audit events",
            source.audit_log().count().await?,
            target.audit_log().count().await?,
        ),
        (
            "sent mails",
            source.mail_log().count().await?,
            target.mail_log().count().await?,
        ),
    ] {
        if before != after {
            return Err(MigrateError::Mismatch {
                what,
                source_count: before,
                copied: after,
            });
        }
        counts.push((what, after));
    }
    Ok(counts)
}
