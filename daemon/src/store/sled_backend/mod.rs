//! The embedded backend: every record in sled trees, owned by one daemon (sled allows one
//! process per database). The only code that touches sled.
//!
//! Two sled databases: `db` holds the durable records (users, roles, clients, keys, logs), and
//! `short-lived` the sessions, codes, tokens and counts that churn. sled cleans its log by
//! moving the live pages of old segments to new ones as writes fill them; in one database the
//! token traffic made it move user records (a million users: a seventh of every refresh, and
//! a page cache growing past a gigabyte). Apart, token writes only ever move tokens.
//!
//! Writes that must stay consistent with each other (a user and the roles they hold) are made
//! under one write lock and in one sled transaction.

mod backend;
pub mod backup;
mod clients;
mod consents;
mod counters;
pub mod disk;
mod ephemeral;
mod logs;
mod migrate;
mod rebuild;
mod roles;
mod settings;
mod signing_keys;
mod users;

use super::StoreError;
use disk::{DiskGuard, LogFiles, Tree};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The on-disk layout version. Bump it with a migration when trees or keys change shape.
pub const FORMAT_VERSION: u32 = 4;

/// The directories of the two databases under the state directory.
pub const DURABLE_DIR: &str = "db";
pub const SHORT_LIVED_DIR: &str = "short-lived";

/// Each database's page cache unless `store.cache` says otherwise. sled's own default (1 GiB)
/// let the durable database's cache grow past 680 MiB at a million users.
pub const DEFAULT_CACHE: u64 = 256 * 1024 * 1024;
/// The free space writes leave on the state directory's disk unless `store.min_free` says
/// otherwise: room for sled to finish what it accepted, and for an administrator to log in.
pub const DEFAULT_MIN_FREE: u64 = 64 * 1024 * 1024;
const FORMAT_KEY: &[u8] = b"format_version";

impl From<sled::Error> for StoreError {
    fn from(error: sled::Error) -> Self {
        match error {
            sled::Error::Io(io) => Self::CannotWrite(disk::note_failure(&io)),
            other => Self::Db(other.to_string()),
        }
    }
}

type TxResult<T> = Result<T, sled::transaction::ConflictableTransactionError<StoreError>>;

/// Turns a transaction's error back into ours.
fn from_tx(error: sled::transaction::TransactionError<StoreError>) -> StoreError {
    match error {
        sled::transaction::TransactionError::Abort(e) => e,
        sled::transaction::TransactionError::Storage(e) => e.into(),
    }
}

#[derive(Debug)]
pub struct SledStore {
    db: sled::Db,
    short_lived_db: sled::Db,
    users: Tree,
    usernames: Tree,
    role_members: Tree,
    roles: Tree,
    settings: Tree,
    audit: logs::Log<crate::model::audit::AuditEvent>,
    clients: Tree,
    client_names: Tree,
    signing_keys: Tree,
    mail_log: logs::Log<crate::model::mail::MailRecord>,
    counters: Tree,
    consents: Tree,
    ephemeral: ephemeral::EphemeralTrees,
    /// Serialises check-then-write sequences (a role must exist to be granted, and must not be
    /// held to be deleted). Reads never take it.
    write_lock: Mutex<()>,
    disk: Arc<DiskGuard>,
    log_files: LogFiles,
}

/// How a sled store is tuned (`[store]` in the config).
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// Each database's page cache, in bytes.
    pub cache: u64,
    /// Writes are refused while the state directory's disk has less free than this.
    pub min_free: u64,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            cache: DEFAULT_CACHE,
            min_free: DEFAULT_MIN_FREE,
        }
    }
}

impl SledStore {
    /// Opens (creating if needed) the database under `state_dir`. Fails with
    /// [`StoreError::Locked`] if another process has it open.
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(state_dir, Tuning::default())
    }

    /// As [`open`](Self::open), tuned.
    pub fn open_with(state_dir: &Path, tuning: Tuning) -> Result<Self, StoreError> {
        create_private_dir(state_dir)?;
        let db = open_db(state_dir, DURABLE_DIR, tuning.cache)?;
        let short_lived_db = open_db(state_dir, SHORT_LIVED_DIR, tuning.cache)?;
        let disk = DiskGuard::new(state_dir.to_owned(), tuning.min_free);
        let log_files =
            LogFiles::open(&[state_dir.join(DURABLE_DIR), state_dir.join(SHORT_LIVED_DIR)])?;
        prepare_format(&db, &short_lived_db)?;
        Ok(Self {
            audit: logs::Log::open(&db, "audit", &disk)?,
            mail_log: logs::Log::open(&db, "mail_log", &disk)?,
            users: Tree::open(&db, "users", &disk)?,
            usernames: Tree::open(&db, "usernames", &disk)?,
            role_members: Tree::open(&db, "role_members", &disk)?,
            roles: Tree::open(&db, "roles", &disk)?,
            settings: Tree::open(&db, "settings", &disk)?,
            clients: Tree::open(&db, "clients", &disk)?,
            client_names: Tree::open(&db, "client_names", &disk)?,
            signing_keys: Tree::open(&db, "signing_keys", &disk)?,
            counters: Tree::open(&db, "counters", &disk)?,
            consents: Tree::open(&db, "consents", &disk)?,
            ephemeral: ephemeral::EphemeralTrees::open(&short_lived_db, &disk)?,
            db,
            short_lived_db,
            write_lock: Mutex::new(()),
            disk,
            log_files,
        })
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        self.short_lived_db.flush()?;
        self.log_files.sync()
    }

    /// The write lock, for a transaction over several trees: only while the disk can take it.
    fn writing(&self) -> Result<std::sync::MutexGuard<'_, ()>, StoreError> {
        self.disk.check()?;
        Ok(self.lock())
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
fn open_db(state_dir: &Path, name: &str, cache: u64) -> Result<sled::Db, StoreError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let opened = sled::Config::new()
            .path(state_dir.join(name))
            // Token endpoints write three records a request; this mode measured a few percent
            // faster for them than the default (LowSpace).
            .mode(sled::Mode::HighThroughput)
            .cache_capacity(cache)
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
            Err(other) => return Err(other.into()),
        }
    }
}

/// Removes both databases under `state_dir` (a restore that failed leaves it empty again).
pub fn remove_databases(state_dir: &Path) {
    for name in [DURABLE_DIR, SHORT_LIVED_DIR] {
        let _ = std::fs::remove_dir_all(state_dir.join(name));
    }
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
fn prepare_format(db: &sled::Db, short_lived_db: &sled::Db) -> Result<(), StoreError> {
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
            migrate::upgrade(db, short_lived_db, found)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_of_the_same_directory_is_refused_plainly() {
        let dir = tempfile::tempdir().unwrap();
        let _first = SledStore::open(dir.path()).unwrap();
        let err = SledStore::open(dir.path()).unwrap_err();
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
        let err = SledStore::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::StoreTooNew { .. }), "{err}");
    }
}

#[cfg(test)]
mod record_tests;
