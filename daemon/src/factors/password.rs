//! Passwords, stored as Argon2id hashes (PHC strings) with the crate's recommended parameters
//! (19 MiB, 2 passes, 1 lane: OWASP's minimum for Argon2id).

use crate::model::ValidationError;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

/// Longer inputs are refused so that hashing cost stays bounded.
const MAX_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Checks a new password against the site's policy (length only, as NIST SP 800-63B advises:
/// no composition rules).
pub fn check_policy(password: &str, min_length: u32) -> Result<(), ValidationError> {
    let length = password.chars().count();
    if length < min_length as usize {
        return Err(ValidationError::new(
            "password",
            format!("must be at least {min_length} characters"),
        ));
    }
    if password.len() > MAX_BYTES {
        return Err(ValidationError::new(
            "password",
            "must be at most 1024 bytes",
        ));
    }
    if password.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "password",
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Hashes with a fresh random salt. Takes ~10 ms in release: call it off the async runtime.
pub fn hash(password: &str) -> Result<String, HashError> {
    let hash: PasswordHash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| HashError(e.to_string()))?;
    Ok(hash.to_string())
}

/// Whether `password` matches `stored`. The comparison inside is constant-time; a malformed
/// stored hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    password.len() <= MAX_BYTES
        && Argon2::default()
            .verify_password(password.as_bytes(), stored)
            .is_ok()
}

/// Spends the same time as checking a real hash, for an account that does not exist, so that
/// response times do not reveal which usernames exist. Always false.
pub fn verify_against_nothing(password: &str) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("postern timing equaliser").unwrap_or_default());
    let _ = verify(password, dummy);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_only_its_own_password() {
        let stored = hash("correct horse battery").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse batterY", &stored));
        assert!(!verify("anything", "not a hash"));
        assert_ne!(
            stored,
            hash("correct horse battery").unwrap(),
            "salts differ"
        );
    }

    #[test]
    fn the_policy_counts_characters_not_bytes() {
        assert!(check_policy("ééééééé", 8).is_err());
        assert!(check_policy("éééééééé", 8).is_ok());
        assert!(check_policy("short", 8).is_err());
        assert!(check_policy(&"x".repeat(2000), 8).is_err());
        assert!(check_policy("tab\there ok", 8).is_err());
    }
}
