//! The backup file: a consistent copy of every durable record, in one self-checking file that
//! either backend writes and either backend restores.
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

use super::StoreError;
use super::sled_backend::FORMAT_VERSION;
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

/// The sections of a backup, named after the sled trees they began as, each keyed as there:
///
/// | section | key | value |
/// |---|---|---|
/// | `users` | user id (16 bytes) | user record |
/// | `usernames` | case-folded username | user id |
/// | `role_members` | role, NUL, user id | empty |
/// | `roles` | role name | role record |
/// | `settings` | `site` | site settings record |
/// | `audit`, `mail_log` | big-endian u64 id, in time order | event / mail record |
/// | `clients` | client id | client record |
/// | `client_names` | client name | client id |
/// | `signing_keys` | kid | signing key record |
/// | `counters` | `users` | big-endian u64 |
/// | `consents` | user id, then client id | consent record |
///
/// Every one is backed up, and a backup may hold no other. Records are the codec's bytes
/// (`store::codec`).
pub const DURABLE_TREES: &[&str] = &[
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

/// Writes the backup file's frame: the marker and header, then records, then the count and
/// checksum.
pub struct BackupWriter<W: Write> {
    out: Hashing<W>,
    header: BackupHeader,
    records: u64,
}

impl<W: Write> BackupWriter<W> {
    pub fn new(out: W, created_at: u64) -> Result<Self, BackupError> {
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
        Ok(Self {
            out,
            header,
            records: 0,
        })
    }

    /// One record of section `tree` (one of [`DURABLE_TREES`]).
    pub fn record(&mut self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), BackupError> {
        debug_assert!(DURABLE_TREES.contains(&tree));
        let out = &mut self.out;
        out.write_all(&[RECORD])?;
        out.write_all(&(tree.len() as u16).to_be_bytes())?;
        out.write_all(tree.as_bytes())?;
        out.write_all(&len_u32(key.len())?.to_be_bytes())?;
        out.write_all(key)?;
        out.write_all(&len_u32(value.len())?.to_be_bytes())?;
        out.write_all(value)?;
        self.records += 1;
        Ok(())
    }

    pub fn finish(self) -> Result<BackupSummary, BackupError> {
        let mut out = self.out;
        out.write_all(&[END])?;
        out.write_all(&self.records.to_be_bytes())?;
        let (mut inner, digest) = out.finish();
        inner.write_all(&digest)?;
        inner.flush()?;
        Ok(BackupSummary {
            header: self.header,
            records: self.records,
        })
    }
}

impl<W: Write> std::fmt::Debug for BackupWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupWriter")
            .field("records", &self.records)
            .finish_non_exhaustive()
    }
}

/// Checks a backup file from end to end (layout, limits, checksum) without writing anything.
pub fn verify(file: &Path) -> Result<BackupSummary, BackupError> {
    read(file, |_, _, _| Ok(()))
}

/// Reads a backup, handing each record to `each` and checking the trailer and checksum.
pub fn read<F>(file: &Path, each: F) -> Result<BackupSummary, BackupError>
where
    F: FnMut(&str, &[u8], &[u8]) -> Result<(), BackupError>,
{
    read_from(BufReader::new(std::fs::File::open(file)?), each)
}

/// As [`read`], from any reader (the fuzzer feeds it bytes).
pub fn read_from<R: Read, F>(reader: R, mut each: F) -> Result<BackupSummary, BackupError>
where
    F: FnMut(&str, &[u8], &[u8]) -> Result<(), BackupError>,
{
    let damaged = |what: &str| BackupError::Damaged(what.to_owned());
    let mut input = Hashing::new(reader);
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
