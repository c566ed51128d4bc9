//! Validation of names and addresses. Usernames double as Linux login names (through the PAM
//! module), so they follow the portable subset that `useradd` accepts, compared without case.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ValidationError {}

const USERNAME_MAX: usize = 32;

/// The key under which usernames are unique: `Alice` and `alice` are the same user.
pub fn normalize_username(username: &str) -> String {
    username.to_ascii_lowercase()
}

pub fn validate_username(username: &str) -> Result<(), ValidationError> {
    let error = |message: &str| Err(ValidationError::new("username", message));
    if username.is_empty() {
        return error("must not be empty");
    }
    if username.len() > USERNAME_MAX {
        return error("must be at most 32 characters");
    }
    let mut chars = username.chars();
    if !chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
    {
        return error("must start with a letter or an underscore");
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return error("may contain only letters, digits, '.', '_' and '-'");
    }
    Ok(())
}

pub fn validate_role_name(name: &str) -> Result<(), ValidationError> {
    let error = |message: &str| Err(ValidationError::new("role", message));
    if name.is_empty() || name.len() > 64 {
        return error("must be 1 to 64 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return error("must start with a lowercase letter");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
    {
        return error("may contain only lowercase letters, digits, '_' and '-'");
    }
    Ok(())
}

/// A deliberately plain check: one `@`, a non-empty local part, a dotted domain, no spaces or
/// control characters. Whether the mailbox exists is proved by the email code, not by syntax.
pub fn validate_email(email: &str) -> Result<(), ValidationError> {
    let error = |message: &str| Err(ValidationError::new("email", message));
    if email.len() > 254 {
        return error("must be at most 254 characters");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return error("must not contain spaces or control characters");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return error("must look like name@example.com");
    };
    let labels_ok = domain.split('.').count() >= 2
        && domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if local.is_empty() || local.len() > 64 || domain.contains('@') || !labels_ok {
        return error("must look like name@example.com");
    }
    Ok(())
}

pub fn validate_display_name(name: &str) -> Result<(), ValidationError> {
    if name.trim().is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "display name",
            "must be 1 to 128 printable characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_login_name_rules() {
        for good in ["alice", "Bob", "_svc", "j.doe", "a-b_c9"] {
            assert!(validate_username(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "9lives",
            "-x",
            "al ice",
            "al/ice",
            "élodie",
            "root:0",
            &"a".repeat(33),
        ] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
        assert_eq!(normalize_username("Alice"), normalize_username("aLICE"));
    }

    #[test]
    fn role_names_are_lowercase_identifiers() {
        assert!(validate_role_name("staff-admins").is_ok());
        for bad in ["", "Staff", "1st", "a b"] {
            assert!(validate_role_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn email_addresses_need_a_local_part_and_a_dotted_domain() {
        for good in ["a@example.com", "first.last+tag@mail.example.org"] {
            assert!(validate_email(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a",
            "a@",
            "@example.com",
            "a@localhost",
            "a@b@c.com",
            "a b@c.com",
            "a@-x.com",
            "a@x..com",
        ] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_names_are_printable() {
        assert!(validate_display_name("Alice Liddell").is_ok());
        assert!(validate_display_name(" ").is_err());
        assert!(validate_display_name("a\u{7}b").is_err());
    }
}
