//! Sign-ins approved on another device (RFC 8628's device authorization): an SSH login that
//! waits for its user's passkey on the approval page, or a command-line client that waits for
//! a signed-in user to allow it.

use super::UserId;
use super::grants::Authentication;
use crate::clock::UnixSeconds;
use serde::{Deserialize, Serialize};

/// One pending approval, found by its user code (the short code a person types) and polled
/// with its device code (that code and a secret only the waiting side holds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAuthorization {
    /// SHA-256 of the device code's secret part, hex.
    pub secret_hash: String,
    pub request: ApprovalRequest,
    pub state: ApprovalState,
    pub created_at: UnixSeconds,
    pub expires_at: UnixSeconds,
    /// Seconds a client waits between polls; raised by five on each `slow_down`.
    pub interval: u64,
    /// When the waiting side last asked; `None` before it did.
    pub last_polled_at: Option<UnixSeconds>,
}

/// What is waiting for approval, as the approval page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApprovalRequest {
    /// A PAM login of this user (its password already checked), to be approved with one of
    /// their passkeys.
    Login {
        user_id: UserId,
        username: String,
        service: String,
        /// The machine the login is on (this daemon's host name).
        host: String,
        remote_host: Option<String>,
    },
    /// A registered client asking for tokens (RFC 8628), to be allowed by a signed-in user.
    Client {
        client_id: String,
        scopes: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApprovalState {
    Pending,
    /// Approved with this proof: for a login, the passkey's (`mfa`, `hwk`/`swk`, `user`); for a
    /// client, the approving user's session.
    Approved {
        authentication: Authentication,
    },
    Denied,
}

impl super::grants::Expiring for DeviceAuthorization {
    fn expires_at(&self) -> UnixSeconds {
        self.expires_at
    }
}
