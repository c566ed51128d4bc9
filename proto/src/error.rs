//! Errors that cross a socket: a stable machine-readable code and a message for people.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Stable error codes. Clients branch on these; the message is for display only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame could not be read or parsed as a request.
    BadFrame,
    /// The frame's length prefix exceeds the size limit.
    FrameTooLarge,
    /// The peer's credentials do not allow this socket or request.
    PermissionDenied,
    NotFound,
    AlreadyExists,
    /// A value failed validation; the message says which and why.
    InvalidInput,
    /// The request contradicts the current state (e.g. deleting a role still held by users).
    Conflict,
    /// Something went wrong inside the daemon; details are in its log, not here.
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtoError {
    pub code: ErrorCode,
    pub message: String,
}

impl ProtoError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProtoError {}
