//! The token core, below HTTP: authorization codes, the code and refresh grants with rotation
//! and reuse detection, minted access tokens with their checks and revocation, ID tokens, and
//! the signing keys. The OIDC endpoints (`web::oidc`) turn requests into these calls and their
//! results into responses; no token rule lives in a handler.

pub mod access;
pub mod exchange;
pub mod grants;
pub mod id_token;
pub mod keys;
pub mod refresh;
#[cfg(test)]
mod testing;

use crate::audit::AuditTrail;
use crate::clock::Clock;
use crate::config::TokensConfig;
use crate::metrics::Metrics;
use crate::store::SharedStore;
use std::sync::Arc;

/// What the token core works with, and nothing more of the daemon.
#[derive(Debug)]
pub struct Tokens {
    pub store: SharedStore,
    pub clock: Arc<dyn Clock>,
    pub audit: AuditTrail,
    pub metrics: Arc<Metrics>,
    /// The signing keys; rotated and reloaded through the admin door.
    pub keys: keys::KeyRing,
    /// Mints and checks access tokens (derived from the master key, so shared by every daemon
    /// that shares the key file).
    pub access_key: access::minted::AccessTokenKey,
    pub issuer: openidconnect::IssuerUrl,
    pub lifetimes: TokensConfig,
}
