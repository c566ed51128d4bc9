//! How records are laid out in every backend: one version byte, then JSON. The version lets a
//! newer daemon migrate old records, and lets an older daemon refuse records it cannot read
//! instead of misreading them. Both backends store the same bytes, so moving a store from one
//! to the other copies records as they are.

use crate::store::StoreError;
use serde::{Serialize, de::DeserializeOwned};

pub trait Record: Serialize + DeserializeOwned {
    /// Names the record kind in error messages.
    const KIND: &'static str;
    /// Bump when the serialised shape changes, and teach `decode` the old shape.
    const VERSION: u8 = 1;

    /// What the record points at, for a backend that can follow it without reading the
    /// record (a SQL join).
    fn links(&self) -> Links {
        Links::default()
    }
}

/// The records a short-lived record points at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    /// The key of its token family (`token_hash` of the family's name).
    pub family: Option<[u8; 32]>,
    pub client_id: Option<String>,
    pub user_id: Option<crate::model::UserId>,
}

impl Record for crate::model::User {
    const KIND: &'static str = "user";
    /// 2: byte fields are base64 (store format 3).
    const VERSION: u8 = 2;
}
impl Record for crate::model::Role {
    const KIND: &'static str = "role";
}
impl Record for crate::model::SiteSettings {
    const KIND: &'static str = "site settings";
}
impl Record for crate::model::Client {
    const KIND: &'static str = "client";
    /// 2: the secret hash is base64 (store format 3).
    const VERSION: u8 = 2;
}
impl Record for crate::model::signing_key::SigningKeyRecord {
    const KIND: &'static str = "signing key";
    /// 2: the sealed key is base64 (store format 3).
    const VERSION: u8 = 2;
}
impl Record for crate::model::consent::ConsentGrant {
    const KIND: &'static str = "consent";
}
impl Record for crate::model::audit::AuditEvent {
    const KIND: &'static str = "audit event";
}
impl Record for crate::model::mail::MailRecord {
    const KIND: &'static str = "mail record";
}

/// The short-lived kinds. Version 2 of a kind: its byte fields are base64 (store format 3).
macro_rules! short_lived_records {
    ($($kind:ty = $name:literal $(, version $version:literal)?;)*) => {$(
        impl Record for $kind {
            const KIND: &'static str = $name;
            $(const VERSION: u8 = $version;)?
        }
    )*};
}

short_lived_records! {
    crate::model::grants::Session = "session";
    crate::model::grants::RefreshToken = "refresh token";
    crate::model::grants::RememberedDevice = "remembered device";
    crate::model::grants::EmailCode = "email code", version 2;
    crate::model::grants::RememberedHost = "remembered host";
    crate::model::grants::FailureWindow = "failure window";
    crate::model::passkey::PasskeyChallenge = "passkey challenge";
    crate::model::device::DeviceAuthorization = "device authorization";
}

impl Record for crate::model::grants::LoginFlow {
    const KIND: &'static str = "login flow";
    /// 2: byte fields are base64 (store format 3).
    const VERSION: u8 = 2;

    fn links(&self) -> Links {
        Links {
            user_id: self.step.user_id(),
            ..Links::default()
        }
    }
}

impl Record for crate::model::grants::TokenFamily {
    const KIND: &'static str = "token family";

    fn links(&self) -> Links {
        Links {
            family: None,
            client_id: Some(self.client_id.clone()),
            user_id: Some(self.user_id),
        }
    }
}

impl Record for crate::model::grants::AuthorizationCode {
    const KIND: &'static str = "authorization code";

    fn links(&self) -> Links {
        Links {
            family: Some(crate::secrets::token_hash(&self.family)),
            client_id: Some(self.request.client_id.clone()),
            user_id: Some(self.authentication.user_id),
        }
    }
}

impl Record for crate::model::grants::AccessToken {
    const KIND: &'static str = "access token";

    fn links(&self) -> Links {
        Links {
            family: Some(crate::secrets::token_hash(&self.family)),
            client_id: Some(self.client_id.clone()),
            user_id: Some(self.user_id),
        }
    }
}

pub fn encode<T: Record>(record: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![T::VERSION];
    serde_json::to_writer(&mut bytes, record).map_err(|e| StoreError::Corrupt {
        kind: T::KIND,
        message: e.to_string(),
    })?;
    Ok(bytes)
}

pub fn decode<T: Record>(bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |message: String| StoreError::Corrupt {
        kind: T::KIND,
        message,
    };
    let (&version, body) = bytes
        .split_first()
        .ok_or_else(|| corrupt("empty record".into()))?;
    if version > T::VERSION {
        return Err(StoreError::RecordTooNew {
            kind: T::KIND,
            found: version,
            supported: T::VERSION,
        });
    }
    if version == 0 {
        return Err(corrupt("version 0 was never written".into()));
    }
    serde_json::from_slice(body).map_err(|e| corrupt(e.to_string()))
}

/// A big-endian `u64` stored as 8 bytes (counters, log keys); anything else is corrupt.
pub(crate) fn be_u64(bytes: &[u8], kind: &'static str) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt {
            kind,
            message: format!("{} bytes instead of 8", bytes.len()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;

    #[test]
    fn records_round_trip_with_a_version_byte() {
        let role = Role {
            name: "staff".into(),
            require_mfa: true,
            api_access: false,
            require_phishing_resistant: false,
        };
        let bytes = encode(&role).unwrap();
        assert_eq!(bytes[0], 1);
        assert_eq!(decode::<Role>(&bytes).unwrap(), role);
    }

    #[test]
    fn newer_and_damaged_records_are_refused() {
        let mut bytes = encode(&Role {
            name: "x".into(),
            require_mfa: false,
            api_access: false,
            require_phishing_resistant: false,
        })
        .unwrap();
        bytes[0] = 9;
        assert!(matches!(
            decode::<Role>(&bytes),
            Err(StoreError::RecordTooNew { found: 9, .. })
        ));
        assert!(matches!(
            decode::<Role>(b"\x01{"),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            decode::<Role>(b""),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
