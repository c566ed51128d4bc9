//! `postern backup FILE`: streams a backup from the daemon into a file that appears only once
//! it is complete and on disk.

use anyhow::{Context, bail};
use postern_proto::client::Connection;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub fn run(connection: &mut Connection, file: &Path, overwrite: bool) -> anyhow::Result<String> {
    if file.exists() && !overwrite {
        bail!(
            "{} already exists; choose another name, or pass --force to replace it",
            file.display()
        );
    }
    let mut partial_name = file.as_os_str().to_owned();
    partial_name.push(".partial");
    let partial = Path::new(&partial_name);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        // The backup holds password hashes and sealed secrets: owner only.
        .mode(0o600)
        .open(partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let received = {
        let mut buffered = std::io::BufWriter::new(&mut out);
        connection.backup(&mut buffered).and_then(|reply| {
            buffered
                .flush()
                .map_err(postern_proto::client::ClientError::Output)?;
            Ok(reply)
        })
    }
    .and_then(|reply| {
        out.sync_all()
            .map_err(postern_proto::client::ClientError::Output)?;
        Ok(reply)
    });
    let info = match received {
        Ok(info) => info,
        Err(e) => {
            let _ = std::fs::remove_file(partial);
            return Err(e.into());
        }
    };
    std::fs::rename(partial, file)
        .with_context(|| format!("cannot move the backup into {}", file.display()))?;
    Ok(format!(
        "wrote {} ({} bytes, {} records, store format {}); keep the daemon's key file (secrets.key_file) with it, stored apart",
        file.display(),
        info.bytes,
        info.records,
        info.store_format
    ))
}
