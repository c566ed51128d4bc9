//! A person (or service account) who signs in.

use crate::clock::UnixSeconds;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// A user's stable identifier: never reused, never changes when the username does. It is the
/// OIDC `sub`, so relying parties can key their accounts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub uuid::Uuid);

impl UserId {
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4())
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    /// As the user or administrator wrote it; unique without regard to case.
    pub username: String,
    pub email: String,
    pub display_name: Option<String>,
    /// Argon2id hash in PHC string format.
    pub password_hash: String,
    pub roles: BTreeSet<String>,
    pub disabled: bool,
    pub created_at: UnixSeconds,
    pub password_changed_at: UnixSeconds,
    pub last_login_at: Option<UnixSeconds>,
    /// Whether the user proved the address: they typed a code mailed to it, or an
    /// administrator said so. Reset when the address changes.
    #[serde(default)]
    pub email_verified: bool,
    /// Raised to end every session the user has (an administrator disabled the account); a
    /// session carries the generation it began in.
    #[serde(default)]
    pub session_generation: u64,
    /// The second factor, once enrolled (or when an administrator set a method to enrol).
    #[serde(default)]
    pub mfa: Option<super::mfa::MfaEnrolment>,
    /// Invited and not yet arrived: no password yet (an empty hash), and the invitation was
    /// (last) sent then.
    #[serde(default)]
    pub invited_at: Option<UnixSeconds>,
    /// Browsers the user has signed in with (`engine::known_browsers`), most recent last.
    #[serde(default)]
    pub known_browsers: Vec<KnownBrowser>,
}

/// A browser a user signed in with: a hash of its `postern_browser` cookie, never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownBrowser {
    pub hash: String,
    pub last_seen: UnixSeconds,
}

// Hand-written so the password hash never reaches a log line.
impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("roles", &self.roles)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
impl User {
    /// A plain user for unit tests: no password, roles or second factor; tests set what they
    /// need with struct update syntax.
    pub fn for_tests(username: &str) -> Self {
        Self {
            id: UserId::random(),
            username: username.into(),
            email: format!("{}@example.com", username.to_lowercase()),
            display_name: None,
            password_hash: String::new(),
            roles: BTreeSet::new(),
            disabled: false,
            created_at: 1,
            password_changed_at: 1,
            last_login_at: None,
            email_verified: false,
            session_generation: 0,
            mfa: None,
            invited_at: None,
            known_browsers: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_show_the_password_hash() {
        let user = User {
            password_hash: "$argon2id$secret".into(),
            ..User::for_tests("alice")
        };
        assert!(!format!("{user:?}").contains("argon2id"));
    }
}
