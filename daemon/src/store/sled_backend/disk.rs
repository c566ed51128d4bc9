//! Keeps sled away from a full or read-only disk.
//!
//! sled cannot take back a write its log failed to store: the failure is sticky for the open
//! database (every later write fails, while reads go on answering from memory with records the
//! disk never got). So every write first asks [`DiskGuard::check`], which refuses it, with the
//! reason, while the state directory's filesystem is read-only or has less than
//! `store.min_free` left; writes resume by themselves once space is freed.
//!
//! If the disk fills anyway (another process took the last space between the check and the
//! write), sled's I/O error is recorded here and the daemon stops (see `serve`), so that its
//! service manager starts it again from what the disk holds.

use super::StoreError;
use nix::sys::statvfs::{FsFlags, statvfs};
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The first I/O error sled reported in this process, if any.
static IO_FAILURE: OnceLock<String> = OnceLock::new();

/// Remembers a sled I/O error (sled refuses every write after one) and says what it was.
pub(super) fn note_failure(io: &std::io::Error) -> String {
    use std::io::ErrorKind;
    // sled wraps some errors again, and then their text is a debug dump: name the kind.
    let said = match io.kind() {
        ErrorKind::StorageFull => "no space left on device".to_owned(),
        ErrorKind::ReadOnlyFilesystem => "read-only filesystem".to_owned(),
        _ => io.to_string(),
    };
    let _ = IO_FAILURE.set(said.clone());
    said
}

/// The I/O error that left the open databases unable to write, if one did.
pub fn io_failure() -> Option<&'static str> {
    IO_FAILURE.get().map(String::as_str)
}

#[derive(Debug)]
pub(super) struct DiskGuard {
    dir: PathBuf,
    min_free: u64,
}

impl DiskGuard {
    pub(super) fn new(dir: PathBuf, min_free: u64) -> Arc<Self> {
        Arc::new(Self { dir, min_free })
    }

    /// Whether a write may go ahead. One `statvfs`, a microsecond: cheap enough for every write,
    /// and never stale, so a disk that filled a moment ago is seen.
    pub(super) fn check(&self) -> Result<(), StoreError> {
        let refuse = |why: String| Err(StoreError::CannotWrite(why));
        if let Some(error) = io_failure() {
            return refuse(format!(
                "an earlier write to {} failed ({error}); posternd must restart",
                self.dir.display()
            ));
        }
        let stat = match statvfs(&self.dir) {
            Ok(stat) => stat,
            Err(e) => return refuse(format!("cannot read {}: {e}", self.dir.display())),
        };
        if stat.flags().contains(FsFlags::ST_RDONLY) {
            return refuse(format!(
                "the state directory {} is on a read-only filesystem",
                self.dir.display()
            ));
        }
        let free = stat.blocks_available().saturating_mul(stat.fragment_size());
        if free < self.min_free {
            return refuse(format!(
                "the disk of the state directory {} has {} free, less than store.min_free ({}); free some space",
                self.dir.display(),
                human(free),
                human(self.min_free)
            ));
        }
        Ok(())
    }
}

/// "3.2 MiB": for messages only.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The log files of both databases, opened by us to `fdatasync` them.
///
/// sled makes its log writes durable with `sync_file_range`, which leaves the file's size and
/// block map to the filesystem's next journal commit (seconds later on ext4; sled's own
/// `fsync` comes every half second): a power cut, or a filesystem turned read-only, in between
/// loses writes sled called flushed. `fdatasync` through a handle of our own closes that gap
/// (it syncs the file, whichever handle asks).
#[derive(Debug, Clone)]
pub(super) struct LogFiles(Arc<[std::fs::File]>);

impl LogFiles {
    /// sled keeps each database's log in a file named `db` in its directory.
    pub(super) fn open(database_dirs: &[PathBuf]) -> Result<Self, StoreError> {
        let files = database_dirs
            .iter()
            .map(|dir| std::fs::File::open(dir.join("db")).map_err(|e| describe(dir, &e)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(files.into()))
    }

    /// Blocks until the files are on the disk; call after sled's own flush.
    pub(super) fn sync(&self) -> Result<(), StoreError> {
        for file in self.0.iter() {
            file.sync_data()
                .map_err(|e| StoreError::CannotWrite(note_failure(&e)))?;
        }
        Ok(())
    }
}

fn describe(dir: &std::path::Path, error: &std::io::Error) -> StoreError {
    StoreError::Db(format!("cannot open {}: {error}", dir.join("db").display()))
}

/// A sled tree whose writes ask the [`DiskGuard`] first. Reads go straight to sled (through
/// `Deref`); multi-tree transactions take the guard through `SledStore::writing`.
#[derive(Debug, Clone)]
pub(super) struct Tree {
    inner: sled::Tree,
    disk: Arc<DiskGuard>,
}

impl Tree {
    pub(super) fn open(
        db: &sled::Db,
        name: &str,
        disk: &Arc<DiskGuard>,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            inner: db.open_tree(name)?,
            disk: disk.clone(),
        })
    }

    pub(super) fn insert(
        &self,
        key: impl AsRef<[u8]>,
        value: impl Into<sled::IVec>,
    ) -> Result<Option<sled::IVec>, StoreError> {
        self.disk.check()?;
        Ok(self.inner.insert(key, value)?)
    }

    pub(super) fn remove(&self, key: impl AsRef<[u8]>) -> Result<Option<sled::IVec>, StoreError> {
        self.disk.check()?;
        Ok(self.inner.remove(key)?)
    }

    pub(super) fn compare_and_swap(
        &self,
        key: impl AsRef<[u8]>,
        old: Option<impl AsRef<[u8]>>,
        new: Option<impl Into<sled::IVec>>,
    ) -> Result<Result<(), sled::CompareAndSwapError>, StoreError> {
        self.disk.check()?;
        Ok(self.inner.compare_and_swap(key, old, new)?)
    }
}

impl Deref for Tree {
    type Target = sled::Tree;

    fn deref(&self) -> &sled::Tree {
        &self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_plainly() {
        assert_eq!(human(512), "512 bytes");
        assert_eq!(human(3 << 20), "3.0 MiB");
        assert_eq!(human(1536), "1.5 KiB");
    }

    #[test]
    fn a_reserve_larger_than_the_disk_refuses_writes_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let guard = DiskGuard::new(dir.path().to_owned(), u64::MAX);
        let err = guard.check().unwrap_err().to_string();
        assert!(
            err.contains("less than store.min_free") && err.contains("free some space"),
            "{err}"
        );
        assert!(DiskGuard::new(dir.path().to_owned(), 0).check().is_ok());
    }

    /// Needs root to mount; CI runs as root.
    #[test]
    fn a_read_only_mount_refuses_writes_whatever_the_reserve() {
        use std::process::Command;
        if !nix::unistd::Uid::effective().is_root() {
            assert!(std::env::var_os("CI").is_none(), "CI runs as root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let mount = |options: &str| {
            let status = Command::new("mount")
                .args(["-t", "tmpfs", "-o", options, "tmpfs"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "mount -o {options}");
        };
        mount("size=1m");
        mount("remount,ro");
        let err = DiskGuard::new(dir.path().to_owned(), 0).check();
        let _ = Command::new("umount").arg(dir.path()).status();
        let err = err.unwrap_err().to_string();
        assert!(err.contains("read-only filesystem"), "{err}");
    }
}
