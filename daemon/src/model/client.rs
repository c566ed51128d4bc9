//! An OpenID Connect relying party: an application that signs its users in through Postern.

use crate::clock::UnixSeconds;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The ID token signing algorithm a client asked for at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SigningAlg {
    RS256,
    EdDSA,
    ES256,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 3] = [Self::RS256, Self::EdDSA, Self::ES256];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == text)
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// The OAuth `client_id`, generated at registration.
    pub id: String,
    /// The administrator's handle for the client, unique, e.g. "wiki".
    pub name: String,
    /// SHA-256 of the client secret; `None` for a public client (PKCE only).
    #[serde(with = "super::stored_bytes::option_fixed")]
    pub secret_hash: Option<[u8; 32]>,
    /// Compared exactly, byte for byte, with the `redirect_uri` of each request.
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub signing_alg: SigningAlg,
    /// A confidential client registered with `--require-pkce` must send a PKCE challenge.
    /// Clients stored before this was a choice were registered when PKCE was mandatory (so
    /// their relying parties send it) and keep requiring it.
    #[serde(default = "pkce_was_mandatory")]
    pub require_pkce: bool,
    /// A third-party application: users see what it asks for and allow it, once per scope
    /// set, before it gets a code. First-party clients (the default) are trusted by the
    /// administrator who registered them.
    #[serde(default)]
    pub consent: bool,
    /// May use the device authorization grant (RFC 8628).
    #[serde(default)]
    pub device_flow: bool,
    pub created_at: UnixSeconds,
}

fn pkce_was_mandatory() -> bool {
    true
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    /// Whether every authorization request must carry a PKCE challenge: always for a public
    /// client (it has no secret to prove itself with), per registration for a confidential one
    /// (OpenID Connect Core does not require PKCE, and many relying parties send none).
    pub fn requires_pkce(&self) -> bool {
        self.is_public() || self.require_pkce
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("public", &self.is_public())
            .finish_non_exhaustive()
    }
}

/// Accepts what RFC 8252 and the OAuth security BCP allow: https anywhere, http only on
/// loopback, and private-use schemes of native apps (reverse domain names such as
/// `com.example.app:/callback`). No fragments.
pub fn validate_redirect_uri(uri: &str) -> Result<(), super::ValidationError> {
    let error = |message: String| Err(super::ValidationError::new("redirect URI", message));
    let url = match url::Url::parse(uri) {
        Ok(url) => url,
        Err(e) => return error(format!("`{uri}` is not an absolute URL ({e})")),
    };
    if url.fragment().is_some() {
        return error(format!("`{uri}` must not have a #fragment"));
    }
    let loopback = is_loopback_host(&url);
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => error(format!(
            "`{uri}` must use https (plain http only on loopback)"
        )),
        scheme if scheme.contains('.') => Ok(()),
        scheme => error(format!(
            "`{uri}`: scheme `{scheme}` is neither https nor a private-use scheme like com.example.app"
        )),
    }
}

/// Whether a URL points at this machine: `localhost`, 127.0.0.0/8 or ::1.
pub fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_follow_the_oauth_security_rules() {
        for good in [
            "https://app.example.com/callback",
            "http://127.0.0.1:9000/cb",
            "http://localhost/cb",
            "http://[::1]:8000/cb",
            "com.example.app:/oauth",
        ] {
            assert!(validate_redirect_uri(good).is_ok(), "{good}");
        }
        for bad in [
            "/callback",
            "http://app.example.com/cb",
            "https://a.example/cb#x",
            "javascript:alert(1)",
            "ftp://x/y",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn algorithms_parse_by_their_jose_names() {
        assert_eq!(SigningAlg::parse("EdDSA"), Some(SigningAlg::EdDSA));
        assert_eq!(SigningAlg::parse("rs256"), None);
    }
}
