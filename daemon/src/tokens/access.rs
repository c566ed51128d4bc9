//! Tokens in use: whether an access token is live (userinfo, introspection), and revoking a
//! token a client holds (RFC 7009).

use super::Tokens;
use super::grants;
use super::refresh;
use crate::audit::{AuditAction, Outcome};
use crate::model::grants::AccessToken;
use crate::model::{Client, User};
use crate::secrets::token_hash;
use crate::store::{RecordKey, StoreError};

/// An access token that is unexpired, unrevoked, of an existing client, for a user who may
/// still sign in.
pub async fn live_access_token(
    tokens: &Tokens,
    token: &str,
) -> Result<Option<(AccessToken, User)>, StoreError> {
    let key = RecordKey::bearer(token_hash(token));
    let Some(grant) = tokens
        .store
        .access_grant(&key, tokens.clock.unix_now())
        .await?
    else {
        return Ok(None);
    };
    let family_live = grant.family.is_some_and(|f| !f.revoked);
    if !family_live || !grant.client_registered {
        return Ok(None);
    }
    Ok(grant
        .user
        .filter(|u| !u.disabled)
        .map(|user| (grant.token, user)))
}

/// Revokes an access token, or a refresh token with everything issued alongside it, if
/// `client` holds it; says whether it did. Unknown tokens and other clients' are left alone.
pub async fn revoke(tokens: &Tokens, client: &Client, token: &str) -> Result<bool, StoreError> {
    let now = tokens.clock.unix_now();
    let key = RecordKey::bearer(token_hash(token));
    let mut revoked_for = None;
    if let Some(family_name) = refresh::family_of(token) {
        // A family is named only inside its refresh tokens: whoever names it held one.
        let family_key = RecordKey::bearer(token_hash(family_name));
        if let Some(family) = tokens.store.token_families().get(&family_key, now).await? {
            if family.client_id == client.id {
                grants::revoke_family(tokens, family_name).await?;
                revoked_for = Some(family.user_id);
            }
        }
    } else if let Some(refresh) = tokens.store.refresh_tokens().get(&key, now).await? {
        if refresh.client_id == client.id {
            grants::revoke_family(tokens, &refresh.family).await?;
            revoked_for = Some(refresh.authentication.user_id);
        }
    }
    if revoked_for.is_none() {
        if let Some(access) = tokens.store.access_tokens().get(&key, now).await? {
            if access.client_id == client.id {
                tokens.store.access_tokens().remove(&key).await?;
                revoked_for = Some(access.user_id);
            }
        }
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
