//! A blocking client for the daemon's sockets: connect, send one frame, read one frame.

use crate::ProtoError;
use crate::admin::{AdminReply, AdminRequest, AdminResponse, BackupInfo};
use crate::frame::{self, FrameError, MAX_REQUEST_FRAME, MAX_RESPONSE_FRAME};
use serde::{Serialize, de::DeserializeOwned};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {}: {source}", path.display())]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Frame(#[from] FrameError),
    #[error("cannot write what the daemon sent: {0}")]
    Output(#[source] std::io::Error),
    /// The daemon answered with an error.
    #[error("{0}")]
    Refused(ProtoError),
}

/// One connection to a daemon socket. Every read and write has a timeout, so a stuck daemon
/// makes the caller fail instead of hanging.
#[derive(Debug)]
pub struct Connection {
    stream: UnixStream,
}

impl Connection {
    pub fn connect(path: &Path, timeout: Duration) -> Result<Self, ClientError> {
        let connect_error = |source| ClientError::Connect {
            path: path.to_owned(),
            source,
        };
        let stream = UnixStream::connect(path).map_err(connect_error)?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|()| stream.set_write_timeout(Some(timeout)))
            .map_err(connect_error)?;
        Ok(Self { stream })
    }

    pub fn send<Q: Serialize>(&mut self, message: &Q) -> Result<(), ClientError> {
        Ok(frame::write_frame(
            &mut self.stream,
            message,
            MAX_REQUEST_FRAME,
        )?)
    }

    pub fn receive<A: DeserializeOwned>(&mut self) -> Result<A, ClientError> {
        Ok(frame::read_frame(&mut self.stream, MAX_RESPONSE_FRAME)?)
    }

    /// Asks for a backup and copies its bytes to `out`. Returns the daemon's description of it
    /// once every byte has arrived.
    pub fn backup(&mut self, out: &mut impl Write) -> Result<BackupInfo, ClientError> {
        let AdminReply::BackupFollows(info) = self.admin(&AdminRequest::Backup)? else {
            return Err(ClientError::Frame(FrameError::Io(std::io::Error::other(
                "the daemon answered a backup request with something else",
            ))));
        };
        let mut left = info.bytes;
        let mut chunk = vec![0u8; 256 * 1024];
        while left > 0 {
            let want = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let read = self
                .stream
                .read(&mut chunk[..want])
                .map_err(FrameError::Io)?;
            if read == 0 {
                return Err(ClientError::Frame(FrameError::Truncated));
            }
            out.write_all(&chunk[..read]).map_err(ClientError::Output)?;
            left -= read as u64;
        }
        Ok(info)
    }

    /// Sends one admin request and returns the daemon's reply, or its refusal as an error.
    pub fn admin(&mut self, request: &AdminRequest) -> Result<AdminReply, ClientError> {
        if let Err(sending) = self.send(request) {
            // The daemon may have refused the connection (and closed it) before the request
            // arrived; its refusal is then waiting to be read, and says more than "broken pipe".
            return match self.receive() {
                Ok(AdminResponse::Err(error)) => Err(ClientError::Refused(error)),
                _ => Err(sending),
            };
        }
        match self.receive()? {
            AdminResponse::Ok(reply) => Ok(reply),
            AdminResponse::Err(error) => Err(ClientError::Refused(error)),
        }
    }
}
