//! Reading request frames from the daemon's Unix sockets under two deadlines: how long a
//! connection may wait before a frame starts (idle), and how long a frame may take to arrive
//! once it has. A client that sends half a frame, or a byte a second, is cut off instead of
//! holding its connection (and a task) for good.

use postern_proto::frame::{self, FrameError};
use serde::de::DeserializeOwned;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Between frames: the wait for a frame's first byte.
    pub idle: Duration,
    /// From a frame's first byte to its last.
    pub frame: Duration,
}

/// Reads one frame of at most `limit` bytes and decodes it. `Idle` and `Slow` say which
/// deadline passed; `Closed` is a clean end between frames.
pub async fn read<T: DeserializeOwned>(
    stream: &mut UnixStream,
    limit: u32,
    deadlines: Deadlines,
) -> Result<T, FrameError> {
    let mut header = [0u8; 4];
    let first = tokio::time::timeout(deadlines.idle, stream.read(&mut header[..1]))
        .await
        .map_err(|_| FrameError::Idle)?;
    match first {
        Ok(0) => return Err(FrameError::Closed),
        Ok(_) => {}
        Err(e) => return Err(FrameError::Io(e)),
    }
    let rest = async {
        read_exact(stream, &mut header[1..]).await?;
        let mut body = vec![0u8; frame::body_len(header, limit)?];
        read_exact(stream, &mut body).await?;
        Ok::<_, FrameError>(body)
    };
    let body = tokio::time::timeout(deadlines.frame, rest)
        .await
        .map_err(|_| FrameError::Slow)??;
    frame::decode_body(&body)
}

async fn read_exact(stream: &mut UnixStream, buf: &mut [u8]) -> Result<(), FrameError> {
    match stream.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(FrameError::Truncated),
        Err(e) => Err(FrameError::Io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    const SHORT: Deadlines = Deadlines {
        idle: Duration::from_millis(300),
        frame: Duration::from_millis(300),
    };

    #[tokio::test]
    async fn a_whole_frame_is_read_and_a_clean_close_is_closed() {
        let (mut client, mut server) = UnixStream::pair().unwrap();
        let bytes = frame::encode(&"hello", 1024).unwrap();
        client.write_all(&bytes).await.unwrap();
        let text: String = read(&mut server, 1024, SHORT).await.unwrap();
        assert_eq!(text, "hello");
        drop(client);
        assert!(matches!(
            read::<String>(&mut server, 1024, SHORT).await,
            Err(FrameError::Closed)
        ));
    }

    #[tokio::test]
    async fn half_a_frame_runs_out_of_time_and_silence_is_idle() {
        let (mut client, mut server) = UnixStream::pair().unwrap();
        assert!(matches!(
            read::<String>(&mut server, 1024, SHORT).await,
            Err(FrameError::Idle)
        ));
        let bytes = frame::encode(&"hello", 1024).unwrap();
        client.write_all(&bytes[..6]).await.unwrap();
        assert!(matches!(
            read::<String>(&mut server, 1024, SHORT).await,
            Err(FrameError::Slow)
        ));
    }

    #[tokio::test]
    async fn an_oversized_frame_is_refused_before_its_body() {
        let (mut client, mut server) = UnixStream::pair().unwrap();
        client.write_all(&2048u32.to_be_bytes()).await.unwrap();
        assert!(matches!(
            read::<String>(&mut server, 1024, SHORT).await,
            Err(FrameError::TooLarge { size: 2048, .. })
        ));
    }
}
