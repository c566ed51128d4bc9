//! Passkeys and security keys (WebAuthn credentials) a user registered, and the challenge of a
//! WebAuthn ceremony in progress.

use super::UserId;
use crate::clock::UnixSeconds;
use serde::{Deserialize, Serialize};

/// One registered passkey or security key.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct PasskeyCredential {
    /// The credential id the authenticator chose, base64url: unique across all users, and how
    /// the user and the administrator name it.
    pub id: String,
    /// What the user called it ("YubiKey on my keyring", "phone").
    pub name: String,
    pub created_at: UnixSeconds,
    pub last_used_at: Option<UnixSeconds>,
    /// The authenticator's model, when it said (all zeros is "not said").
    pub aaguid: Option<uuid::Uuid>,
    /// The library's record of it: public key, algorithm, signature counter, backup state.
    pub key: webauthn_rs::prelude::Passkey,
}

impl std::fmt::Debug for PasskeyCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyCredential")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a WebAuthn challenge was issued for. A challenge answers only the ceremony, and the
/// user, it was made for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChallengePurpose {
    /// Adding a passkey to this user's account.
    Register { user_id: UserId },
    /// The second step of this user's sign-in.
    SignIn { user_id: UserId },
    /// A sign-in by passkey alone, by whoever answers.
    Passwordless,
    /// Approving one waiting login of this user (the SHA-256 of its user code, hex): an answer
    /// made for one approval cannot approve another.
    Approval { user_id: UserId, approval: String },
}

/// A challenge sent to a browser and not answered yet: single use (taken from the store when
/// answered) and short-lived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyChallenge {
    pub purpose: ChallengePurpose,
    /// The library's ceremony state (JSON): the challenge and what the answer must match.
    pub state: String,
    pub expires_at: UnixSeconds,
}

impl super::grants::Expiring for PasskeyChallenge {
    fn expires_at(&self) -> UnixSeconds {
        self.expires_at
    }
}

// The library's key compares field by field; equality is an equivalence.
impl Eq for PasskeyCredential {}
