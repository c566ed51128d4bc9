//! The things a user proves they know or have. Each factor hashes, checks and never logs.

pub mod passkey;
pub mod password;
pub mod recovery;
pub mod totp;
