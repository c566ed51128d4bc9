//! The wire protocol of Postern's local Unix sockets.
//!
//! `posternd` owns the database; everything else (the `postern` CLI, and the PAM module) talks to
//! it through length-prefixed JSON frames defined here. The crate has no async runtime and no
//! storage so that the PAM module, loaded into sshd, links as little as possible.

pub mod admin;
pub mod client;
pub mod error;
pub mod frame;
pub mod pam;
pub mod secret;

pub use error::{ErrorCode, ProtoError};
pub use secret::Secret;
