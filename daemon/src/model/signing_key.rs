//! ID token signing keys as stored; loading, signing and rotating them is `oidc::keys`'s job.

use super::SigningAlg;
use crate::clock::UnixSeconds;
use serde::{Deserialize, Serialize};

/// A signing key as stored: the private part sealed with the master key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: SigningAlg,
    #[serde(with = "super::stored_bytes::vec")]
    pub sealed_private: Vec<u8>,
    pub created_at: UnixSeconds,
    pub retired_at: Option<UnixSeconds>,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}
