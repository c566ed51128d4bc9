//! Tokens in use: whether an access token is live (userinfo, introspection), and revoking a
//! token a client holds (RFC 7009).

pub mod minted;

use super::Tokens;
use super::grants;
use super::refresh;
use crate::audit::{AuditAction, Outcome};
use crate::clock::UnixSeconds;
use crate::model::grants::{RevokedAccess, TokenFamily};
use crate::model::{Client, User, UserId};
use crate::secrets::token_hash;
use crate::store::{Change, FamilyGrant, RecordKey, StoreError};
use minted::{AccessClaims, is_minted};

/// A family may remember this many access tokens revoked one by one; a client revoking more
/// within a token's lifetime has its whole grant revoked instead, so the record stays small.
const MAX_REVOKED_ONE_BY_ONE: usize = 16;

/// What a live access token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveAccess {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub issued_at: UnixSeconds,
    pub expires_at: UnixSeconds,
}

/// An access token that is unexpired, unrevoked, of an existing client, for a user who may
/// still sign in and whose sessions have not been ended since (a password reset, "sign out
/// everywhere", an administrator's reset end their access tokens at once, as their refresh
/// tokens).
pub async fn live_access_token(
    tokens: &Tokens,
    token: &str,
) -> Result<Option<(LiveAccess, User)>, StoreError> {
    let now = tokens.clock.unix_now();
    let Some(claims) = claims_of(tokens, token, now).await? else {
        return Ok(None);
    };
    let family_key = RecordKey::bearer(claims.family_key);
    let Some(grant) = tokens.store.family_grant(&family_key, now).await? else {
        return Ok(None);
    };
    let FamilyGrant {
        family,
        client_registered,
        user,
    } = grant;
    if family.revoked || !client_registered || revoked_alone(&family, &token_hash(token)) {
        return Ok(None);
    }
    let current = |u: &User| !u.disabled && u.session_generation == family.generation;
    Ok(user.filter(current).map(|user| {
        let access = LiveAccess {
            client_id: family.client_id,
            scopes: claims.scopes,
            issued_at: claims.issued_at,
            expires_at: claims.expires_at,
        };
        (access, user)
    }))
}

/// What an unexpired access token says: a minted one by its MAC, one stored by an earlier
/// version by its record.
async fn claims_of(
    tokens: &Tokens,
    token: &str,
    now: UnixSeconds,
) -> Result<Option<AccessClaims>, StoreError> {
    if is_minted(token) {
        return Ok(tokens
            .access_key
            .open(token)
            .filter(|claims| claims.expires_at > now));
    }
    let key = RecordKey::bearer(token_hash(token));
    Ok(tokens
        .store
        .access_tokens()
        .get(&key, now)
        .await?
        .map(|stored| AccessClaims {
            family_key: token_hash(&stored.family),
            scopes: stored.scopes,
            issued_at: stored.issued_at,
            expires_at: stored.expires_at,
        }))
}

/// Whether the token with this hash was revoked on its own.
fn revoked_alone(family: &TokenFamily, hash: &[u8; 32]) -> bool {
    family.revoked_access.iter().any(|r| &r.hash == hash)
}

/// Revokes an access token, or a refresh token with everything issued alongside it, if
/// `client` holds it; says whether it did. Unknown tokens and other clients' are left alone.
pub async fn revoke(tokens: &Tokens, client: &Client, token: &str) -> Result<bool, StoreError> {
    let now = tokens.clock.unix_now();
    // A minted access token has a `.` as a refresh token does; its MAC tells them apart.
    let minted = tokens.access_key.open(token);
    let mut revoked_for = None;
    if minted.is_none() {
        revoked_for = revoke_refresh_token(tokens, client, token, now).await?;
    }
    if revoked_for.is_none() {
        revoked_for = revoke_access_token(tokens, client, token, minted, now).await?;
    }
    let Some(user_id) = revoked_for else {
        return Ok(false);
    };
    let username = tokens
        .store
        .user(user_id)
        .await?
        .map(|u| u.username)
        .unwrap_or_default();
    grants::audit(
        tokens,
        AuditAction::TokenRevoked,
        &username,
        client,
        Outcome::Success,
        "revocation endpoint",
    )
    .await?;
    Ok(true)
}

/// Revokes a refresh token of `client` and everything issued alongside it; returns whose it
/// was.
async fn revoke_refresh_token(
    tokens: &Tokens,
    client: &Client,
    token: &str,
    now: UnixSeconds,
) -> Result<Option<UserId>, StoreError> {
    if let Some(family_name) = refresh::family_of(token) {
        // A family is named only inside its refresh tokens: whoever names it held one.
        let family_key = RecordKey::bearer(token_hash(family_name));
        let family = tokens.store.token_families().get(&family_key, now).await?;
        let Some(family) = family.filter(|f| f.client_id == client.id) else {
            return Ok(None);
        };
        grants::revoke_family(tokens, family_name).await?;
        return Ok(Some(family.user_id));
    }
    let key = RecordKey::bearer(token_hash(token));
    let stored = tokens.store.refresh_tokens().get(&key, now).await?;
    let Some(stored) = stored.filter(|r| r.client_id == client.id) else {
        return Ok(None);
    };
    grants::revoke_family(tokens, &stored.family).await?;
    Ok(Some(stored.authentication.user_id))
}

/// Revokes one access token of `client`: a minted one is remembered in its family until it
/// expires, a stored one is removed. Returns whose it was.
async fn revoke_access_token(
    tokens: &Tokens,
    client: &Client,
    token: &str,
    minted: Option<AccessClaims>,
    now: UnixSeconds,
) -> Result<Option<UserId>, StoreError> {
    let Some(claims) = minted.filter(|claims| claims.expires_at > now) else {
        let key = RecordKey::bearer(token_hash(token));
        let Some(stored) = tokens.store.access_tokens().get(&key, now).await? else {
            return Ok(None);
        };
        if stored.client_id != client.id {
            return Ok(None);
        }
        tokens.store.access_tokens().remove(&key).await?;
        return Ok(Some(stored.user_id));
    };
    let revoked = RevokedAccess {
        hash: token_hash(token),
        expires_at: claims.expires_at,
    };
    let mut owner = None;
    tokens
        .store
        .token_families()
        .update(&RecordKey::bearer(claims.family_key), now, &mut |family| {
            owner = None;
            if family.client_id != client.id {
                return Change::Keep;
            }
            owner = Some(family.user_id);
            if family.revoked || revoked_alone(family, &revoked.hash) {
                return Change::Keep;
            }
            let mut revoked_access: Vec<RevokedAccess> = family
                .revoked_access
                .iter()
                .filter(|r| r.expires_at > now)
                .cloned()
                .collect();
            revoked_access.push(revoked.clone());
            let too_many = revoked_access.len() > MAX_REVOKED_ONE_BY_ONE;
            Change::Replace(TokenFamily {
                revoked: too_many,
                revoked_access: if too_many { Vec::new() } else { revoked_access },
                ..family.clone()
            })
        })
        .await?;
    Ok(owner)
}

#[cfg(test)]
mod tests;
