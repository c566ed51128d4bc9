//! Issuing and revoking what a sign-in grants: authorization codes, then access, refresh and
//! ID tokens. All bearer values are random; only their hashes are stored.

use super::Tokens;
use super::access::minted::AccessClaims;
use super::id_token::{self, IdTokenInput};
use super::refresh;
use crate::audit::{AuditAction, AuditDoor, AuditEvent, Outcome};
use crate::clock::UnixSeconds;
use crate::model::grants::{
    Authentication, AuthorizationCode, AuthorizationRequest, CurrentRefresh, TokenFamily,
};
use crate::model::{Client, User};
use crate::secrets::{random_token, token_hash};
use crate::store::batch::{Batch, Put, Write, Writes};
use crate::store::swaps::Swap;
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
    let first = first_refresh(tokens, grant, now);
    let mut extend = |family: &TokenFamily| extended(tokens, family, first.as_ref(), now);
    let family = match grant.family_read {
        Some(read) if matches!(extend(read), Change::Keep) => Some(read.clone()),
        read => {
            let key = RecordKey::bearer(token_hash(grant.family));
            let families = tokens.store.token_families();
            match read {
                Some(seen) => families.update_seen(&key, seen, now, &mut extend).await?,
                None => families.update(&key, now, &mut extend).await?,
            }
        }
    };
    if family.is_none_or(|family| family.revoked) {
        return Err(IssueError::Revoked);
    }
    mint(tokens, grant, first, now)
}

/// Issues tokens as [`issue_tokens`] does, with `code` (the exchanged code, marked used) and
/// `issued` (the event that records the tokens) made in the same step as the family's change,
/// each only if the one before held: one statement where the store can. `None` when the code
/// was no longer as the caller read it (another exchange spent it): nothing was issued.
pub async fn issue_tokens_spending(
    tokens: &Tokens,
    grant: &Grant<'_>,
    code: Swap,
    issued: AuditEvent,
) -> Result<Option<TokenResponse>, IssueError> {
    let now = tokens.clock.unix_now();
    let first = first_refresh(tokens, grant, now);
    let mut extend = |family: &TokenFamily| extended(tokens, family, first.as_ref(), now);
    let key = RecordKey::bearer(token_hash(grant.family));
    // Without a live family as read, the code is spent and nothing issued.
    let live = grant.family_read.filter(|family| !family.revoked);
    let mut swaps = vec![code];
    if let Some(read) = live
        && let Change::Replace(next) = extend(read)
    {
        swaps.push(Swap::TokenFamily {
            key,
            seen: read.clone(),
            next,
        });
    }
    let all = swaps.len();
    // Signed before the step that makes them count, so that the event is stored with it.
    let response = live
        .map(|_| mint(tokens, grant, first.clone(), now))
        .transpose()?;
    let events = response.iter().map(|_| issued.clone()).collect();
    let held = tokens.store.swap_and_record(now, swaps, events).await?;
    match response {
        _ if held == 0 => Ok(None),
        None => Err(IssueError::Revoked),
        Some(response) if held == all => {
            tokens.audit.noted(&issued);
            Ok(Some(response))
        }
        Some(response) => {
            // The family changed since it was read (revoked, or extended by another grant):
            // its change made again from what it is now.
            let family = tokens
                .store
                .token_families()
                .update(&key, now, &mut extend)
                .await?;
            if family.is_none_or(|family| family.revoked) {
                return Err(IssueError::Revoked);
            }
            tokens.audit.record(issued).await?;
            Ok(Some(response))
        }
    }
}

/// The first refresh token of the grant's family, when the grant gives one.
fn first_refresh(
    tokens: &Tokens,
    grant: &Grant<'_>,
    now: UnixSeconds,
) -> Option<(String, CurrentRefresh)> {
    let RefreshIssue::First(scopes) = grant.refresh else {
        return None;
    };
    let token = refresh::new_token(grant.family);
    let current = CurrentRefresh {
        hash: token_hash(&token),
        scopes: scopes.to_vec(),
        authentication: grant.authentication.clone(),
        expires_at: now + tokens.lifetimes.refresh_token_lifetime.0.as_secs(),
    };
    Some((token, current))
}

/// What `family` becomes when a grant issues in it: the family lives at least as long as its
/// newest token (its access tokens are live only while it is), and holds its first refresh
/// token. Kept as it is when revoked, or when it lives long enough and gets no first token.
fn extended(
    tokens: &Tokens,
    family: &TokenFamily,
    first: Option<&(String, CurrentRefresh)>,
    now: UnixSeconds,
) -> Change<TokenFamily> {
    let family_lifetime = family_lifetime(&tokens.lifetimes);
    let lives_long_enough = family.expires_at >= now + family_lifetime;
    if family.revoked || (first.is_none() && lives_long_enough) {
        return Change::Keep;
    }
    Change::Replace(TokenFamily {
        expires_at: family.expires_at.max(now + family_lifetime + FAMILY_SLACK),
        refresh: first
            .map(|(_, current)| current.clone())
            .or_else(|| family.refresh.clone()),
        ..family.clone()
    })
}

/// The tokens of a grant whose family is live: the access token, the refresh token it hands
/// out, and the signed ID token.
fn mint(
    tokens: &Tokens,
    grant: &Grant<'_>,
    first: Option<(String, CurrentRefresh)>,
    now: UnixSeconds,
) -> Result<TokenResponse, IssueError> {
    let access_lifetime = tokens.lifetimes.access_token_lifetime.0.as_secs();
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
    let event = event(tokens, action, user, client, outcome, source);
    tokens.audit.record(event).await
}

/// A token event, not recorded yet.
pub fn event(
    tokens: &Tokens,
    action: AuditAction,
    user: &str,
    client: &Client,
    outcome: Outcome,
    source: &str,
) -> AuditEvent {
    AuditEvent::new(
        tokens.clock.unix_now(),
        format!("client {}", client.name),
        action,
        AuditDoor::Oidc,
        source,
        outcome,
    )
    .subject(user)
    .detail(format!("client {}", client.name))
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
