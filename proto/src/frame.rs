//! Framing: a big-endian `u32` byte count, then that many bytes of JSON.
//!
//! Both sides enforce a size limit before allocating, so a hostile or broken peer cannot make the
//! other side read an unbounded frame. The daemon reads frames with tokio and reuses
//! [`body_len`] and [`decode_body`]; blocking clients use [`read_frame`] and [`write_frame`].

use serde::{Serialize, de::DeserializeOwned};
use std::io::{self, Read, Write};

/// Largest request a client may send. Requests are small: a name, a password, a code.
pub const MAX_REQUEST_FRAME: u32 = 64 * 1024;
/// Largest response the daemon sends: listings of many users or audit events.
pub const MAX_RESPONSE_FRAME: u32 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: u32, limit: u32 },
    #[error("the connection closed in the middle of a frame")]
    Truncated,
    #[error("the connection closed")]
    Closed,
    #[error("no frame arrived within the idle limit")]
    Idle,
    #[error("the frame did not arrive in time")]
    Slow,
    #[error("the frame is not a valid message: {0}")]
    Malformed(#[source] serde_json::Error),
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
}

/// Checks a frame's length prefix against `limit` and returns the body length.
pub fn body_len(header: [u8; 4], limit: u32) -> Result<usize, FrameError> {
    let size = u32::from_be_bytes(header);
    if size > limit {
        return Err(FrameError::TooLarge { size, limit });
    }
    Ok(size as usize)
}

pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    serde_json::from_slice(body).map_err(FrameError::Malformed)
}

/// Serialises `message` with its length prefix, refusing to produce a frame over `limit`.
pub fn encode<T: Serialize>(message: &T, limit: u32) -> Result<Vec<u8>, FrameError> {
    let body = serde_json::to_vec(message).map_err(FrameError::Malformed)?;
    let size = u32::try_from(body.len()).unwrap_or(u32::MAX);
    if size > limit {
        return Err(FrameError::TooLarge { size, limit });
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&size.to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

pub fn write_frame<W: Write, T: Serialize>(
    writer: &mut W,
    message: &T,
    limit: u32,
) -> Result<(), FrameError> {
    writer.write_all(&encode(message, limit)?)?;
    writer.flush()?;
    Ok(())
}

pub fn read_frame<R: Read, T: DeserializeOwned>(
    reader: &mut R,
    limit: u32,
) -> Result<T, FrameError> {
    let mut header = [0u8; 4];
    read_exact_or(reader, &mut header, FrameError::Closed)?;
    let mut body = vec![0u8; body_len(header, limit)?];
    read_exact_or(reader, &mut body, FrameError::Truncated)?;
    decode_body(&body)
}

/// Like `read_exact`, but an end of stream before the first byte is `at_start`, and after it
/// `Truncated`, so callers can tell a clean close from a cut-off frame.
fn read_exact_or<R: Read>(
    reader: &mut R,
    buf: &mut [u8],
    at_start: FrameError,
) -> Result<(), FrameError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Err(at_start),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::io::Cursor;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Ping {
        n: u32,
    }

    #[test]
    fn a_frame_round_trips() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &Ping { n: 7 }, MAX_REQUEST_FRAME).unwrap();
        assert_eq!(&wire[..4], &(wire.len() as u32 - 4).to_be_bytes());
        let back: Ping = read_frame(&mut Cursor::new(wire), MAX_REQUEST_FRAME).unwrap();
        assert_eq!(back, Ping { n: 7 });
    }

    #[test]
    fn an_oversized_prefix_is_refused_before_reading_the_body() {
        let wire = (MAX_REQUEST_FRAME + 1).to_be_bytes().to_vec();
        let err = read_frame::<_, Ping>(&mut Cursor::new(wire), MAX_REQUEST_FRAME).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn encoding_refuses_a_message_over_the_limit() {
        let err = encode(&"x".repeat(100), 10).unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { limit: 10, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_cut_off_body_is_truncated_and_an_empty_stream_is_closed() {
        let mut wire = 10u32.to_be_bytes().to_vec();
        wire.extend_from_slice(b"{\"n\"");
        let err = read_frame::<_, Ping>(&mut Cursor::new(wire), MAX_REQUEST_FRAME).unwrap_err();
        assert!(matches!(err, FrameError::Truncated), "{err}");
        let err = read_frame::<_, Ping>(&mut Cursor::new(vec![]), MAX_REQUEST_FRAME).unwrap_err();
        assert!(matches!(err, FrameError::Closed), "{err}");
        let err = read_frame::<_, Ping>(&mut Cursor::new(vec![0, 0]), MAX_REQUEST_FRAME);
        assert!(matches!(err, Err(FrameError::Truncated)));
    }

    #[test]
    fn garbage_is_malformed() {
        let mut wire = 5u32.to_be_bytes().to_vec();
        wire.extend_from_slice(b"hello");
        let err = read_frame::<_, Ping>(&mut Cursor::new(wire), MAX_REQUEST_FRAME).unwrap_err();
        assert!(matches!(err, FrameError::Malformed(_)), "{err}");
    }
}
