//! What an access token says, and the MAC that vouches for it.
//!
//! An access token is `PAYLOAD.MAC`, both base64url: the payload names the token family the
//! token was issued in (by the family's record key, never its name, which only refresh tokens
//! carry), its scopes and its lifetime; the MAC is HMAC-SHA256 under a key derived from the
//! master key, so every daemon sharing the key file checks tokens any of them issued. Nothing
//! is stored per token: the store holds one family record per grant however many access
//! tokens it issues (one record per token made the store grow with every refresh until the
//! tokens expired). Whether a token may still be used is its family's record's to say:
//! revoked, and which of its tokens were revoked one by one.

use crate::clock::UnixSeconds;
use crate::secrets::MasterKey;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The payload's first byte: bump it when the layout changes.
const LAYOUT: u8 = 1;
/// Layout, family key, issued at, expires at, nonce; then the scopes.
const FIXED: usize = 1 + 32 + 8 + 8 + 16;
/// Longer than any token this daemon mints (scopes are limited at the authorize endpoint);
/// anything longer is refused before it is decoded.
const MAX_TOKEN_CHARS: usize = 4096;

/// What an access token grants, as its MAC vouches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    /// The record key of its token family (`token_hash` of the family's name).
    pub family_key: [u8; 32],
    pub scopes: Vec<String>,
    pub issued_at: UnixSeconds,
    pub expires_at: UnixSeconds,
}

/// The key that mints and checks access tokens.
#[derive(Clone)]
pub struct AccessTokenKey([u8; 32]);

impl std::fmt::Debug for AccessTokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessTokenKey(..)")
    }
}

impl AccessTokenKey {
    pub fn derive(master: &MasterKey) -> Self {
        Self(master.derive("access token"))
    }

    /// A new token saying `claims`; a random nonce makes every token distinct.
    pub fn mint(&self, claims: &AccessClaims) -> String {
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        let mut payload = Vec::with_capacity(FIXED + 64);
        payload.push(LAYOUT);
        payload.extend_from_slice(&claims.family_key);
        payload.extend_from_slice(&claims.issued_at.to_be_bytes());
        payload.extend_from_slice(&claims.expires_at.to_be_bytes());
        payload.extend_from_slice(&nonce);
        payload.extend_from_slice(claims.scopes.join(" ").as_bytes());
        let mac = self.mac(&payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(mac)
        )
    }

    /// What `token` says, if this key minted it; `None` for anything else (a token of another
    /// key, a changed byte, garbage). Expiry is the caller's to check.
    pub fn open(&self, token: &str) -> Option<AccessClaims> {
        if token.len() > MAX_TOKEN_CHARS {
            return None;
        }
        let (payload, mac) = token.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        // `verify_slice` compares in constant time.
        self.mac(&payload).verify_slice(&mac).ok()?;
        if payload.len() < FIXED || payload[0] != LAYOUT {
            return None;
        }
        let number = |at: usize| {
            let bytes: [u8; 8] = payload[at..at + 8].try_into().ok()?;
            Some(u64::from_be_bytes(bytes))
        };
        let scopes = std::str::from_utf8(&payload[FIXED..]).ok()?;
        Some(AccessClaims {
            family_key: payload[1..33].try_into().ok()?,
            issued_at: number(33)?,
            expires_at: number(41)?,
            scopes: scopes
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        })
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"postern access token ");
        mac.update(payload);
        mac
    }
}

/// Whether `token` has the shape of a minted token rather than of the random ones earlier
/// versions issued and stored one by one (43 base64url characters, no `.`).
pub fn is_minted(token: &str) -> bool {
    token.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> AccessClaims {
        AccessClaims {
            family_key: [7; 32],
            scopes: vec!["openid".into(), "profile".into()],
            issued_at: 1_000,
            expires_at: 1_600,
        }
    }

    #[test]
    fn a_minted_token_opens_to_what_it_was_minted_with_and_each_is_distinct() {
        let key = AccessTokenKey::derive(&MasterKey::for_tests());
        let (one, two) = (key.mint(&claims()), key.mint(&claims()));
        assert_ne!(one, two);
        assert!(is_minted(&one));
        assert_eq!(key.open(&one), Some(claims()));
        assert_eq!(key.open(&two), Some(claims()));
        let no_scopes = AccessClaims {
            scopes: Vec::new(),
            ..claims()
        };
        assert_eq!(key.open(&key.mint(&no_scopes)), Some(no_scopes));
    }

    #[test]
    fn a_changed_byte_another_key_or_garbage_opens_to_nothing() {
        let key = AccessTokenKey::derive(&MasterKey::for_tests());
        let token = key.mint(&claims());
        for at in [0, 10, token.len() / 2, token.len() - 1] {
            let mut bytes = token.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).unwrap();
            assert_eq!(key.open(&changed), None, "byte {at} changed");
        }
        let other = AccessTokenKey(MasterKey::for_tests().derive("another purpose"));
        assert_eq!(other.open(&token), None);
        let (payload, _) = token.split_once('.').unwrap();
        for garbage in [
            "",
            ".",
            "a.b",
            payload,
            &format!("{payload}."),
            &"x".repeat(5000),
        ] {
            assert_eq!(key.open(garbage), None, "{garbage:.40}");
        }
        assert!(!is_minted(&crate::secrets::random_token()));
    }
}
