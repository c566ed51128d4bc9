//! Binding the daemon's Unix sockets: create the runtime directory, replace a stale socket left
//! by a crash (but never one another daemon is listening on), and set owner and mode.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("another process is already listening on {}; stop it or choose another socket path", path.display())]
    InUse { path: PathBuf },
    #[error("{} exists and is not a socket; remove it or choose another socket path", path.display())]
    NotASocket { path: PathBuf },
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Binds a listening socket at `path` with permission bits `mode`, owned by `group` if given.
pub fn bind(
    path: &Path,
    mode: u32,
    group: Option<&str>,
) -> Result<tokio::net::UnixListener, SocketError> {
    let io = |action, source| SocketError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(|e| io("create the directory for", e))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(SocketError::NotASocket {
                path: path.to_owned(),
            });
        }
        Ok(_) => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(SocketError::InUse {
                    path: path.to_owned(),
                });
            }
            std::fs::remove_file(path).map_err(|e| io("remove the stale socket", e))?;
        }
        Err(_) => {}
    }
    let listener = std::os::unix::net::UnixListener::bind(path).map_err(|e| io("listen on", e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| io("set permissions on", e))?;
    if let Some(group) = group {
        let gid = nix::unistd::Group::from_name(group)
            .ok()
            .flatten()
            .map(|g| g.gid)
            .ok_or_else(|| {
                io(
                    "find the group for",
                    std::io::Error::other(format!("no group `{group}`")),
                )
            })?;
        nix::unistd::chown(path, None, Some(gid))
            .map_err(|e| io("change the group of", e.into()))?;
    }
    listener
        .set_nonblocking(true)
        .map_err(|e| io("configure", e))?;
    tokio::net::UnixListener::from_std(listener).map_err(|e| io("register", e))
}

/// Removes the socket file at shutdown, so nothing connects to a daemon that is gone.
pub fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "could not remove socket file");
        }
    }
}

/// Accepts connections until `shutdown` is cancelled, running `handle` for each as a task on
/// `tracker`, so the caller can wait for conversations in flight to finish.
pub async fn accept_until<F, Fut>(
    listener: tokio::net::UnixListener,
    name: &'static str,
    shutdown: tokio_util::sync::CancellationToken,
    tracker: tokio_util::task::TaskTracker,
    mut handle: F,
) where
    F: FnMut(tokio::net::UnixStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tracker.spawn(handle(stream));
                }
                Err(e) => {
                    // Out of file descriptors, usually: back off instead of spinning.
                    tracing::warn!(socket = name, error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
        }
    }
}
