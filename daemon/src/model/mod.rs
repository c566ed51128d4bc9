//! What Postern knows about: users, roles and the site's settings, and the rules for their
//! names. Plain data with validation; storage lives in `store`, policy in the engine.

pub mod audit;
mod client;
pub mod consent;
pub mod device;
pub mod duration;
pub mod grants;
pub mod mail;
pub mod mfa;
mod names;
pub mod passkey;
mod role;
mod settings;
pub mod signing_key;
pub mod stored_bytes;
mod user;

pub use client::{Client, SigningAlg, is_loopback_host, validate_redirect_uri};
pub use names::{
    ValidationError, normalize_username, validate_display_name, validate_email, validate_role_name,
    validate_username,
};
pub use role::Role;
pub use settings::{MfaMethod, SiteSettings};
pub use user::{KnownBrowser, User, UserId};
