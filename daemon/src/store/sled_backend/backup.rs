//! Backups: a consistent copy of every durable tree, in one self-checking file.
//!
//! Layout (integers big-endian):
//!
//! ```text
//! MAGIC
//! u32 header length, header JSON (backup format, store format, posternd version, time)
//! per record: 0x01, u16 tree-name length, tree name, u32 key length, key, u32 value length, value
//! 0x00, u64 record count, 32-byte SHA-256 of every byte before it
//! ```
//!
//! Values are copied as stored, so secrets stay hashed or sealed with the master key: a backup
//! is useless without the key file, and the key file must be kept (apart) with it. Short-lived
//! records (sessions, tokens, codes, remembered devices) are not backed up: after a restore,
//! people sign in again.

use super::{FORMAT_KEY, FORMAT_VERSION, SledStore, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

const MAGIC: &[u8] = b"POSTERN-BACKUP\n";
/// Bump when the layout above changes.
const BACKUP_FORMAT: u32 = 1;
const RECORD: u8 = 1;
const END: u8 = 0;
/// Bounds what a damaged or hostile file can make the reader allocate.
const MAX_HEADER: u32 = 64 * 1024;
const MAX_KEY: u32 = 64 * 1024;
const MAX_VALUE: u32 = 64 * 1024 * 1024;

/// The trees that hold what an administrator cannot recreate. Every one is backed up, and a
/// backup may hold no other.
pub(super) const DURABLE_TREES: &[&str] = &[
    "users",
    "usernames",
    "role_members",
    "roles",
    "settings",
    "audit",
    "clients",
    "client_names",
    "signing_keys",
    "mail_log",
    "counters",
    "consents",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BackupHeader {
    pub backup_format: u32,
    pub store_format: u32,
    pub posternd_version: String,
    pub created_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    pub header: BackupHeader,
    pub records: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("cannot read or write the backup: {0}")]
    Io(#[from] io::Error),
    #[error("this is not a Postern backup, or it is damaged: {0}")]
    Damaged(String),
    #[error(
        "the backup has backup format {found}, newer than this posternd reads ({supported}); restore it with a newer posternd"
    )]
    BackupTooNew { found: u32, supported: u32 },
    #[error(
        "the backup holds a store of format {found}, newer than this posternd reads ({supported}); restore it with a newer posternd"
    )]
    StoreTooNew { found: u32, supported: u32 },
    #[error(
        "the state directory {} is not empty; restore only into a new, empty state directory",
        .0.display()
    )]
    NotEmpty(std::path::PathBuf),
    #[error(transparent)]
    Store(#[from] StoreError),
}

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
        let header = BackupHeader {
            backup_format: BACKUP_FORMAT,
            store_format: FORMAT_VERSION,
            posternd_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at,
        };
        let mut out = Hashing::new(out);
        out.write_all(MAGIC)?;
        let header_json = serde_json::to_vec(&header)
            .map_err(|e| BackupError::Damaged(format!("header: {e}")))?;
        out.write_all(&len_u32(header_json.len())?.to_be_bytes())?;
        out.write_all(&header_json)?;
        let mut records = 0u64;
        for name in DURABLE_TREES {
            let tree = self.db.open_tree(name)?;
            for entry in tree.iter() {
                let (key, value) = entry?;
                out.write_all(&[RECORD])?;
                out.write_all(&(name.len() as u16).to_be_bytes())?;
                out.write_all(name.as_bytes())?;
                out.write_all(&len_u32(key.len())?.to_be_bytes())?;
                out.write_all(&key)?;
                out.write_all(&len_u32(value.len())?.to_be_bytes())?;
                out.write_all(&value)?;
                records += 1;
            }
        }
        out.write_all(&[END])?;
        out.write_all(&records.to_be_bytes())?;
        let (mut inner, digest) = out.finish();
        inner.write_all(&digest)?;
        inner.flush()?;
        Ok(BackupSummary { header, records })
    }
}

/// Checks a backup file from end to end (layout, limits, checksum) without writing anything.
pub fn verify(file: &Path) -> Result<BackupSummary, BackupError> {
    read(file, |_, _, _| Ok(()))
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
        let _ = std::fs::remove_dir_all(state_dir.join("db"));
    }
    Ok((summary, loaded?))
}

fn load(state_dir: &Path, file: &Path, store_format: u32) -> Result<SledStore, BackupError> {
    {
        let db = sled::Config::new().path(state_dir.join("db")).open()?;
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

/// Reads a backup, handing each record to `each` and checking the trailer and checksum.
fn read<F>(file: &Path, mut each: F) -> Result<BackupSummary, BackupError>
where
    F: FnMut(&str, &[u8], &[u8]) -> Result<(), BackupError>,
{
    let damaged = |what: &str| BackupError::Damaged(what.to_owned());
    let mut input = Hashing::new(BufReader::new(std::fs::File::open(file)?));
    let mut magic = vec![0u8; MAGIC.len()];
    input
        .read_exact(&mut magic)
        .map_err(|_| damaged("too short"))?;
    if magic != MAGIC {
        return Err(damaged("it does not start with the Postern backup marker"));
    }
    let header_bytes = input.read_chunk(MAX_HEADER, "header")?;
    let header: BackupHeader = serde_json::from_slice(&header_bytes)
        .map_err(|e| BackupError::Damaged(format!("header: {e}")))?;
    if header.backup_format > BACKUP_FORMAT {
        return Err(BackupError::BackupTooNew {
            found: header.backup_format,
            supported: BACKUP_FORMAT,
        });
    }
    if header.store_format > FORMAT_VERSION {
        return Err(BackupError::StoreTooNew {
            found: header.store_format,
            supported: FORMAT_VERSION,
        });
    }
    let mut records = 0u64;
    loop {
        match input.read_u8()? {
            RECORD => {
                let name_len = u16::from_be_bytes(input.read_array()?);
                let mut name = vec![0u8; usize::from(name_len)];
                input.read_exact(&mut name).map_err(truncated)?;
                let name = std::str::from_utf8(&name)
                    .ok()
                    .filter(|name| DURABLE_TREES.contains(name))
                    .ok_or_else(|| damaged("a record names a tree a backup cannot hold"))?
                    .to_owned();
                let key = input.read_chunk(MAX_KEY, "key")?;
                let value = input.read_chunk(MAX_VALUE, "value")?;
                each(&name, &key, &value)?;
                records += 1;
            }
            END => break,
            _ => return Err(damaged("unknown entry type")),
        }
    }
    let counted = u64::from_be_bytes(input.read_array()?);
    let (mut rest, digest) = input.finish();
    let mut stored = [0u8; 32];
    rest.read_exact(&mut stored).map_err(truncated)?;
    if counted != records {
        return Err(damaged("the record count does not match"));
    }
    if !crate::secrets::constant_time_eq(&stored, &digest) {
        return Err(damaged("the checksum does not match"));
    }
    if rest.read(&mut [0u8; 1])? != 0 {
        return Err(damaged("there are bytes after the end"));
    }
    Ok(BackupSummary { header, records })
}

fn truncated(_: io::Error) -> BackupError {
    BackupError::Damaged("it ends too early".into())
}

fn len_u32(len: usize) -> Result<u32, BackupError> {
    u32::try_from(len).map_err(|_| BackupError::Damaged("a record is too large".into()))
}

/// A reader or writer that hashes every byte passing through it, for the trailer.
struct Hashing<T> {
    inner: T,
    hash: Sha256,
}

impl<T> Hashing<T> {
    fn new(inner: T) -> Self {
        Self {
            inner,
            hash: Sha256::new(),
        }
    }

    fn finish(self) -> (T, [u8; 32]) {
        (self.inner, self.hash.finalize().into())
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.hash.update(&bytes[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Hashing<R> {
    fn read_array<const N: usize>(&mut self) -> Result<[u8; N], BackupError> {
        let mut bytes = [0u8; N];
        self.read_exact(&mut bytes).map_err(truncated)?;
        Ok(bytes)
    }

    fn read_u8(&mut self) -> Result<u8, BackupError> {
        Ok(self.read_array::<1>()?[0])
    }

    /// A length-prefixed chunk, refused before allocation if longer than `max`.
    fn read_chunk(&mut self, max: u32, what: &str) -> Result<Vec<u8>, BackupError> {
        let len = u32::from_be_bytes(self.read_array()?);
        if len > max {
            return Err(BackupError::Damaged(format!(
                "a {what} claims {len} bytes, more than {max}"
            )));
        }
        let mut bytes = vec![0u8; len as usize];
        self.read_exact(&mut bytes).map_err(truncated)?;
        Ok(bytes)
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hash.update(&buf[..read]);
        Ok(read)
    }
}
