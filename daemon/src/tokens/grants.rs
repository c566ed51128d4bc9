//! Issuing and revoking what a sign-in grants: authorization codes, then access, refresh and
//! ID tokens. All bearer values are random; only their hashes are stored.

use super::Tokens;
use super::access::minted::AccessClaims;
use super::id_token::{self, IdTokenInput};
use super::refresh;
use crate::audit::{AuditAction, AuditDoor, AuditEvent, Outcome};
use crate::model::grants::{
    Authentication, AuthorizationCode, AuthorizationRequest, CurrentRefresh, TokenFamily,
};
use crate::model::{Client, User};
use crate::secrets::{random_token, token_hash};
use crate::store::batch::{Batch, Put, Write, Writes};
use crate::store::{Change, RecordKey, StoreError};

/// Authorization codes live 60 seconds (OAuth 2.0 Security BCP: short-lived, single use).
pub const CODE_LIFETIME: u64 = 60;

/// A token family is made to outlive its newest refresh token by up to this much, so that
/// issuing access tokens in it rewrites it about once an hour rather than every time. Outliving
/// its tokens a little costs nothing: a family without a live token grants nothing.
const FAMILY_SLACK: u64 = 3600;

/// The scope that asks for a refresh token (OpenID Connect Core §11): without it, a sign-in
/// grants tokens that end when the access token does.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// Creates a single-use code for `request` and a new token family for what it will grant.
pub async fn issue_code(
    tokens: &Tokens,
    client: &Client,
    request: AuthorizationRequest,
    authentication: Authentication,
    user: &User,
    batch: &Batch,
) -> Result<String, StoreError> {
    let now = tokens.clock.unix_now();
    if user.id != authentication.user_id {
        return Err(StoreError::Conflict(
            "a code for one user with another's sign-in".into(),
        ));
    }
    let (family, record) = family_of(tokens, client, user);
    let code = random_token();
    let issued = AuthorizationCode {
        request,
        authentication,
        family: family.clone(),
        signing_alg: client.signing_alg,
        used: false,
        expires_at: now + CODE_LIFETIME,
    };
    // The family first, so that where the writes are made one by one, a code never names a
    // family that is not there.
    let mut grant = Writes::default();
    grant.push(Write::Put(Put::TokenFamily(
        RecordKey::bearer(token_hash(&family)),
        record,
    )));
    grant.push(Write::Put(Put::AuthorizationCode(
        RecordKey::bearer(token_hash(&code)),
        issued,
    )));
    batch.write_all(&*tokens.store, grant).await?;
    Ok(code)
}

/// Starts the token family of one grant to `client` for `user` (as the caller read them: if
/// their sessions end meanwhile, the family is born ended); returns its id.
pub async fn new_family(
    tokens: &Tokens,
    client: &Client,
    user: &User,
) -> Result<String, StoreError> {
    let (family, record) = family_of(tokens, client, user);
    tokens
        .store
        .token_families()
        .put(&RecordKey::bearer(token_hash(&family)), &record)
        .await?;
    Ok(family)
}

/// A new token family's id and record, not stored yet.
fn family_of(tokens: &Tokens, client: &Client, user: &User) -> (String, TokenFamily) {
    let now = tokens.clock.unix_now();
    let record = TokenFamily {
        client_id: client.id.clone(),
        user_id: user.id,
        generation: user.session_generation,
        revoked: false,
        refresh: None,
        revoked_access: Vec::new(),
        expires_at: now + family_lifetime(&tokens.lifetimes),
    };
    (random_token(), record)
}

/// How long a new family lives: as long as the first token it may issue.
fn family_lifetime(lifetimes: &crate::config::TokensConfig) -> u64 {
    lifetimes
        .refresh_token_lifetime
        .0
        .max(lifetimes.access_token_lifetime.0)
        .as_secs()
}

/// The token endpoint's answer.
#[derive(Debug, serde::Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub id_token: String,
    pub scope: String,
}

/// What to issue tokens for.
#[derive(Debug)]
pub struct Grant<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    pub family: &'a str,
    /// What the access and ID tokens carry.
    pub scopes: &'a [String],
    pub refresh: RefreshIssue<'a>,
    pub authentication: &'a Authentication,
    pub nonce: Option<&'a str>,
    pub code: Option<&'a str>,
    /// The family as the caller just read it, if it did: then it is written only when its life
    /// must be extended or it gets its first refresh token. (A family revoked after this read
    /// still stops every token issued here: every use of a token checks its family.)
    pub family_read: Option<&'a TokenFamily>,
}

/// Which refresh token a grant hands out.
#[derive(Debug)]
pub enum RefreshIssue<'a> {
    /// None: a code grant without `offline_access`.
    None,
    /// The family's first, with these scopes (a code or device grant with `offline_access`, or
    /// a refresh of a token stored before families held theirs).
    First(&'a [String]),
    /// The one a rotation has just put in the family (a refresh grant).
    Rotated(String),
}

/// Issues access, refresh and ID tokens in `grant.family`, unless the family has been revoked
/// (checked in the same atomic step that extends its life, so a revocation is never missed).
pub async fn issue_tokens(tokens: &Tokens, grant: &Grant<'_>) -> Result<TokenResponse, IssueError> {
    let now = tokens.clock.unix_now();
    let access_lifetime = tokens.lifetimes.access_token_lifetime.0.as_secs();
    let refresh_lifetime = tokens.lifetimes.refresh_token_lifetime.0.as_secs();
    // The family lives at least as long as its newest token: its access tokens are live only
    // while it is.
    let family_lifetime = family_lifetime(&tokens.lifetimes);
    let lives_long_enough = |family: &TokenFamily| family.expires_at >= now + family_lifetime;
    let first = match grant.refresh {
        RefreshIssue::First(scopes) => {
            let token = refresh::new_token(grant.family);
            let current = CurrentRefresh {
                hash: token_hash(&token),
                scopes: scopes.to_vec(),
                authentication: grant.authentication.clone(),
                expires_at: now + refresh_lifetime,
            };
            Some((token, current))
        }
        RefreshIssue::None | RefreshIssue::Rotated(_) => None,
    };
    let family = match grant.family_read {
        Some(family) if first.is_none() && (family.revoked || lives_long_enough(family)) => {
            Some(family.clone())
        }
        read => {
            let key = RecordKey::bearer(token_hash(grant.family));
            let families = tokens.store.token_families();
            let mut extend = |family: &TokenFamily| {
                if family.revoked || (first.is_none() && lives_long_enough(family)) {
                    return Change::Keep;
                }
                Change::Replace(TokenFamily {
                    expires_at: family.expires_at.max(now + family_lifetime + FAMILY_SLACK),
                    refresh: first
                        .as_ref()
                        .map(|(_, current)| current.clone())
                        .or_else(|| family.refresh.clone()),
                    ..family.clone()
                })
            };
            match read {
                Some(seen) => families.update_seen(&key, seen, now, &mut extend).await?,
                None => families.update(&key, now, &mut extend).await?,
            }
        }
    };
    if family.is_none_or(|family| family.revoked) {
        return Err(IssueError::Revoked);
    }
    let access_token = tokens.access_key.mint(&AccessClaims {
        family_key: token_hash(grant.family),
        scopes: grant.scopes.to_vec(),
        issued_at: now,
        expires_at: now + access_lifetime,
    });
    let refresh_token = match &grant.refresh {
        RefreshIssue::None => None,
        RefreshIssue::First(_) => first.map(|(token, _)| token),
        RefreshIssue::Rotated(token) => Some(token.clone()),
    };
    let id_token = id_token::sign(
        tokens,
        &IdTokenInput {
            client: grant.client,
            user: grant.user,
            scopes: grant.scopes,
            authentication: grant.authentication,
            nonce: grant.nonce,
            access_token: &access_token,
            code: grant.code,
        },
    )
    .map_err(IssueError::Signing)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: access_lifetime,
        refresh_token,
        id_token,
        scope: grant.scopes.join(" "),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("ID token signing failed: {0}")]
    Signing(String),
    #[error("the grant has been revoked")]
    Revoked,
}

/// Revokes every token issued from one code (reuse of a code or of a rotated refresh token).
pub async fn revoke_family(tokens: &Tokens, family: &str) -> Result<(), StoreError> {
    let now = tokens.clock.unix_now();
    tokens
        .store
        .token_families()
        .update(&RecordKey::bearer(token_hash(family)), now, &mut |record| {
            Change::Replace(TokenFamily {
                revoked: true,
                ..record.clone()
            })
        })
        .await?;
    Ok(())
}

/// Audit helper for token events, which name the client in the detail.
pub async fn audit(
    tokens: &Tokens,
    action: AuditAction,
    user: &str,
    client: &Client,
    outcome: Outcome,
    source: &str,
) -> Result<(), StoreError> {
    tokens
        .audit
        .record(
            AuditEvent::new(
                tokens.clock.unix_now(),
                format!("client {}", client.name),
                action,
                AuditDoor::Oidc,
                source,
                outcome,
            )
            .subject(user)
            .detail(format!("client {}", client.name)),
        )
        .await
}

impl<'a> RefreshIssue<'a> {
    /// A code or device grant's: a refresh token only for `offline_access` (OpenID Connect
    /// Core §11).
    pub fn offline(scopes: &'a [String]) -> Self {
        if scopes.iter().any(|s| s == OFFLINE_ACCESS) {
            Self::First(scopes)
        } else {
            Self::None
        }
    }
}
