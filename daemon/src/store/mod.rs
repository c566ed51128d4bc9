//! The only code that touches sled. Callers see users, roles, settings and audit events, never
//! trees or bytes, so that another backend (PostgreSQL, for several daemons behind a load
//! balancer) can offer the same API.
//!
//! Writes that must stay consistent with each other (a user and the roles they hold) are made
//! under one write lock and in one sled transaction. Callers that answer a person call
//! [`Store::flush`] before answering, so an acknowledged change survives a crash.

mod audit;
pub mod backup;
mod clients;
mod codec;
mod consents;
mod counters;
mod ephemeral;
mod mail_log;
mod migrate;
mod roles;
mod settings;
mod signing_keys;
mod users;

use crate::model::ValidationError;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

pub use ephemeral::{Change, Records};

/// The on-disk layout version. Bump it with a migration when trees or keys change shape.
pub const FORMAT_VERSION: u32 = 3;
const FORMAT_KEY: &[u8] = b"format_version";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the state directory {} is in use by another posternd; stop that daemon first, or give this one another state_dir",
        dir.display()
    )]
    Locked { dir: PathBuf },
    #[error("cannot create the state directory {}: {source}", dir.display())]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Db(#[from] sled::Error),
    #[error("a stored {kind} record is damaged: {message}")]
    Corrupt { kind: &'static str, message: String },
    #[error(
        "a stored {kind} record has format {found}, newer than this posternd reads ({supported}); upgrade posternd"
    )]
    RecordTooNew {
        kind: &'static str,
        found: u8,
        supported: u8,
    },
    #[error(
        "the store has format {found}, newer than this posternd reads ({supported}); upgrade posternd"
    )]
    StoreTooNew { found: u32, supported: u32 },
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(#[from] ValidationError),
}

type TxResult<T> = Result<T, sled::transaction::ConflictableTransactionError<StoreError>>;

/// Turns a transaction's error back into ours.
fn from_tx(error: sled::transaction::TransactionError<StoreError>) -> StoreError {
    match error {
        sled::transaction::TransactionError::Abort(e) => e,
        sled::transaction::TransactionError::Storage(e) => StoreError::Db(e),
    }
}

#[derive(Debug)]
pub struct Store {
    db: sled::Db,
    users: sled::Tree,
    usernames: sled::Tree,
    role_members: sled::Tree,
    roles: sled::Tree,
    settings: sled::Tree,
    audit: sled::Tree,
    clients: sled::Tree,
    client_names: sled::Tree,
    signing_keys: sled::Tree,
    mail_log: sled::Tree,
    counters: sled::Tree,
    consents: sled::Tree,
    /// The next keys of the append-only logs, taken from their last keys at open (so a
    /// restored store goes on after its restored entries).
    next_audit_id: AtomicU64,
    next_mail_id: AtomicU64,
    ephemeral: ephemeral::EphemeralTrees,
    /// Serialises check-then-write sequences (a role must exist to be granted, and must not be
    /// held to be deleted). Reads never take it.
    write_lock: Mutex<()>,
}

impl Store {
    /// Opens (creating if needed) the database under `state_dir`. Fails with
    /// [`StoreError::Locked`] if another process has it open.
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        create_private_dir(state_dir)?;
        let db = open_db(state_dir)?;
        prepare_format(&db)?;
        let audit = db.open_tree("audit")?;
        let mail_log = db.open_tree("mail_log")?;
        Ok(Self {
            next_audit_id: AtomicU64::new(next_id(&audit)?),
            next_mail_id: AtomicU64::new(next_id(&mail_log)?),
            audit,
            mail_log,
            users: db.open_tree("users")?,
            usernames: db.open_tree("usernames")?,
            role_members: db.open_tree("role_members")?,
            roles: db.open_tree("roles")?,
            settings: db.open_tree("settings")?,
            clients: db.open_tree("clients")?,
            client_names: db.open_tree("client_names")?,
            signing_keys: db.open_tree("signing_keys")?,
            counters: db.open_tree("counters")?,
            consents: db.open_tree("consents")?,
            ephemeral: ephemeral::EphemeralTrees::open(&db)?,
            db,
            write_lock: Mutex::new(()),
        })
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic while holding the lock leaves no half-written state (transactions are
        // atomic), so a poisoned lock is safe to take over.
        self.write_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// sled releases its file lock only when its I/O threads have finished with a dropped
/// handle, a moment after the drop. A handle this process just closed (restore opens the
/// store right after loading it) must not look like another daemon: a held lock is retried
/// for a second before it is reported.
fn open_db(state_dir: &Path) -> Result<sled::Db, StoreError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let opened = sled::Config::new()
            .path(state_dir.join("db"))
            // Token endpoints write three records a request; this mode measured a few percent
            // faster for them than the default (LowSpace).
            .mode(sled::Mode::HighThroughput)
            .open();
        match opened {
            Ok(db) => return Ok(db),
            // sled reports a held lock as an Other-kind error naming the lock.
            Err(sled::Error::Io(ref io))
                if io.kind() == std::io::ErrorKind::WouldBlock
                    || io.to_string().contains("could not acquire lock") =>
            {
                if std::time::Instant::now() >= deadline {
                    return Err(StoreError::Locked {
                        dir: state_dir.to_owned(),
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(other) => return Err(StoreError::Db(other)),
        }
    }
}

/// One past the last big-endian id key of an append-only tree.
fn next_id(tree: &sled::Tree) -> Result<u64, StoreError> {
    Ok(match tree.last()? {
        Some((key, _)) => codec::be_u64(&key, "log key")? + 1,
        None => 0,
    })
}

fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StoreError::CreateDir {
            dir: dir.to_owned(),
            source,
        })
}

/// Records the format of a new store, migrates an older one, and refuses one written by a
/// newer daemon.
fn prepare_format(db: &sled::Db) -> Result<(), StoreError> {
    match db.get(FORMAT_KEY)? {
        None => {
            db.insert(FORMAT_KEY, &FORMAT_VERSION.to_be_bytes())?;
            db.flush()?;
            Ok(())
        }
        Some(bytes) => {
            let found = <[u8; 4]>::try_from(bytes.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt {
                    kind: "format version",
                    message: format!("{} bytes instead of 4", bytes.len()),
                })?;
            if found > FORMAT_VERSION {
                return Err(StoreError::StoreTooNew {
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            migrate::upgrade(db, found)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_of_the_same_directory_is_refused_plainly() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("in use by another posternd"));
    }

    #[test]
    fn a_store_from_a_newer_daemon_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path().join("db")).unwrap();
            db.insert(FORMAT_KEY, &(FORMAT_VERSION + 1).to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::StoreTooNew { .. }), "{err}");
    }
}

#[cfg(test)]
mod record_tests;
