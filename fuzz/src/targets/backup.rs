//! Backup files as `posternd restore` reads them: a marker, a JSON header, records, and a
//! checksum. A damaged or hostile file is refused with a reason before anything is written.

use postern_daemon::store::backup;
use postern_daemon::store::sled_backend::SledStore;

/// A real backup of a small store.
pub fn seeds() -> Vec<Vec<u8>> {
    let Ok(dir) = tempfile::tempdir() else {
        return Vec::new();
    };
    let Ok(store) = SledStore::open(dir.path()) else {
        return Vec::new();
    };
    let _ = store.insert_role(&postern_daemon::model::Role {
        name: "staff".into(),
        require_mfa: true,
        api_access: false,
        require_phishing_resistant: false,
    });
    let _ = store.insert_user(&super::records::user());
    let mut out = Vec::new();
    match store.write_backup(&mut out, 1) {
        Ok(_) => vec![out],
        Err(_) => Vec::new(),
    }
}

pub const DICTIONARY: &[&[u8]] = &[
    b"\x00",
    b"\x01",
    b"\x02",
    b"\xff\xff\xff\xff",
    b"\"backup_format\"",
    b"\"store_format\"",
    b"users",
    b"signing_keys",
];

pub fn run(input: &[u8]) -> Result<(), String> {
    let mut records = 0u64;
    let read = backup::read_from(std::io::Cursor::new(input), |_, _, _| {
        records += 1;
        Ok(())
    });
    if let Ok(summary) = read {
        if summary.records != records {
            return Err(format!(
                "the summary says {} records, {records} were read",
                summary.records
            ));
        }
    }
    Ok(())
}
