//! The refresh grant: a refresh token exchanged for new tokens, and rotated.
//!
//! A refresh token is `FAMILY.SECRET`: the name of the token family it belongs to and a random
//! secret. The family record holds the hash of its one live token, and rotation replaces that
//! hash in the same atomic step that checks it, so a family stays one record however often it
//! is refreshed (keeping every spent token for reuse detection made the store grow with every
//! refresh). Presenting any other token of a live family, by the client it belongs to, is
//! reuse (RFC 9700 §4.14.2): the family is revoked, so the thief and the victim both lose it.
//! A family's name reaches a client only inside its refresh tokens, so only someone who held
//! one can name it.
//!
//! Tokens issued before families held theirs (one record per token, no `.`) are honoured once
//! and replaced by a family-held one, so an upgrade signs no one out.

use super::Tokens;
use super::exchange::{ExchangeError, Reuse, family_and_user};
use super::grants::{self, Grant, RefreshIssue, TokenResponse};
use crate::audit::AuditAction;
use crate::clock::UnixSeconds;
use crate::model::grants::{Authentication, CurrentRefresh, RefreshToken, TokenFamily};
use crate::model::{Client, User};
use crate::secrets::{constant_time_eq, random_token, token_hash};
use crate::store::{Change, RecordKey};

/// A refresh token presented by an authenticated client.
#[derive(Debug)]
pub struct RefreshExchange<'a> {
    pub client: &'a Client,
    pub refresh_token: &'a str,
    /// The scopes asked for (`scope`), which may only narrow the granted ones.
    pub scopes: Option<Vec<String>>,
    pub source: &'a str,
}

/// A new refresh token of `family`.
pub fn new_token(family: &str) -> String {
    format!("{family}.{}", random_token())
}

/// The family a refresh token names, if it has the family-held shape.
pub fn family_of(token: &str) -> Option<&str> {
    token
        .split_once('.')
        .map(|(family, _)| family)
        .filter(|family| !family.is_empty())
}

/// Rotates a refresh token: the presented one is spent, new tokens are issued in its family.
pub async fn refresh(
    tokens: &Tokens,
    request: &RefreshExchange<'_>,
) -> Result<TokenResponse, ExchangeError> {
    match family_of(request.refresh_token) {
        Some(family) => rotate(tokens, request, family).await,
        None => refresh_stored_token(tokens, request).await,
    }
}

/// What a family's record says of a presented token.
#[derive(Debug, Clone, Copy)]
enum Verdict {
    /// It is the live token: rotate.
    Live,
    /// It is not, but names the family: reuse of a spent token.
    Reused,
    Refused(Refusal),
}

/// Why a token was refused without being spent.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    Grant(&'static str),
    Scope(&'static str),
}

impl From<Refusal> for ExchangeError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Grant(message) => ExchangeError::InvalidGrant(message),
            Refusal::Scope(message) => ExchangeError::InvalidScope(message),
        }
    }
}

const UNKNOWN: Refusal = Refusal::Grant("the refresh token is invalid or has expired");

fn judge(
    family: &TokenFamily,
    presented: &[u8; 32],
    request: &RefreshExchange<'_>,
    now: UnixSeconds,
) -> Verdict {
    // Checks that leave the token as it was come first: another client's request, or one for
    // a wider scope, must not be able to spend or revoke what it may not use.
    if family.client_id != request.client.id {
        return Verdict::Refused(Refusal::Grant(
            "the refresh token was issued to another client",
        ));
    }
    let Some(current) = family.refresh.as_ref().filter(|c| c.expires_at > now) else {
        return Verdict::Refused(UNKNOWN);
    };
    if widens(request.scopes.as_deref(), &current.scopes) {
        return Verdict::Refused(Refusal::Scope("a refresh cannot widen the granted scope"));
    }
    if family.revoked {
        return Verdict::Refused(UNKNOWN);
    }
    if constant_time_eq(presented, &current.hash) {
        Verdict::Live
    } else {
        Verdict::Reused
    }
}

fn widens(asked: Option<&[String]>, granted: &[String]) -> bool {
    asked.is_some_and(|asked| asked.iter().any(|s| !granted.contains(s)))
}

/// `family` with `next` as its live token, for another refresh lifetime.
fn rotated(family: &TokenFamily, next: [u8; 32], now: UnixSeconds, lifetime: u64) -> TokenFamily {
    let refresh = family.refresh.clone().map(|current| CurrentRefresh {
        hash: next,
        expires_at: now + lifetime,
        ..current
    });
    TokenFamily {
        expires_at: family.expires_at.max(now + lifetime),
        refresh,
        ..family.clone()
    }
}

async fn rotate(
    tokens: &Tokens,
    request: &RefreshExchange<'_>,
    family_name: &str,
) -> Result<TokenResponse, ExchangeError> {
    let now = tokens.clock.unix_now();
    let lifetime = tokens.lifetimes.refresh_token_lifetime.0.as_secs();
    let presented = token_hash(request.refresh_token);
    let next = new_token(family_name);
    let next_hash = token_hash(&next);
    // One atomic read-judge-write: of two requests racing with the same token, one rotates and
    // the other finds it spent.
    let mut verdict = Verdict::Refused(UNKNOWN);
    let before = tokens
        .store
        .token_families()
        .update(
            &RecordKey::bearer(token_hash(family_name)),
            now,
            &mut |family| {
                verdict = judge(family, &presented, request, now);
                match verdict {
                    Verdict::Live => Change::Replace(rotated(family, next_hash, now, lifetime)),
                    Verdict::Reused => Change::Replace(TokenFamily {
                        revoked: true,
                        ..family.clone()
                    }),
                    Verdict::Refused(_) => Change::Keep,
                }
            },
        )
        .await?
        .ok_or(UNKNOWN)?;
    if let Verdict::Refused(refusal) = verdict {
        return Err(refusal.into());
    }
    let user = tokens
        .store
        .user(before.user_id)
        .await?
        .filter(|u| !u.disabled);
    Reuse {
        tokens,
        family: family_name,
        user: user.as_ref(),
        client: request.client,
        source: request.source,
    }
    .check(
        matches!(verdict, Verdict::Reused),
        AuditAction::RefreshTokenReused,
        "the refresh token was already used; its family is revoked",
    )
    .await?;
    let after = rotated(&before, next_hash, now, lifetime);
    let current = after.refresh.as_ref().ok_or(UNKNOWN)?;
    issue(
        tokens,
        request,
        Issue {
            family_name,
            family: Some(&after),
            user,
            scopes: &current.scopes,
            authentication: &current.authentication,
            refresh: RefreshIssue::Rotated(next),
        },
    )
    .await
}

/// A token stored as its own record by an earlier version: spent once, then replaced by a
/// family-held one.
async fn refresh_stored_token(
    tokens: &Tokens,
    request: &RefreshExchange<'_>,
) -> Result<TokenResponse, ExchangeError> {
    let now = tokens.clock.unix_now();
    let client = request.client;
    // One atomic read-and-mark: a token this request may not use is left as it was.
    let mut refusal: Option<Refusal> = None;
    let stored: RefreshToken = tokens
        .store
        .refresh_tokens()
        .update(
            &RecordKey::bearer(token_hash(request.refresh_token)),
            now,
            &mut |stored| {
                refusal = if stored.client_id != client.id {
                    Some(Refusal::Grant(
                        "the refresh token was issued to another client",
                    ))
                } else if widens(request.scopes.as_deref(), &stored.scopes) {
                    Some(Refusal::Scope("a refresh cannot widen the granted scope"))
                } else {
                    None
                };
                if refusal.is_some() || stored.used {
                    return Change::Keep;
                }
                Change::Replace(RefreshToken {
                    used: true,
                    ..stored.clone()
                })
            },
        )
        .await?
        .ok_or(UNKNOWN)?;
    if let Some(refusal) = refusal {
        return Err(refusal.into());
    }
    let (family, user) =
        family_and_user(tokens, &stored.family, stored.authentication.user_id).await?;
    Reuse {
        tokens,
        family: &stored.family,
        user: user.as_ref(),
        client,
        source: request.source,
    }
    .check(
        stored.used,
        AuditAction::RefreshTokenReused,
        "the refresh token was already used; its family is revoked",
    )
    .await?;
    issue(
        tokens,
        request,
        Issue {
            family_name: &stored.family,
            family: family.as_ref(),
            user,
            scopes: &stored.scopes,
            authentication: &stored.authentication,
            refresh: RefreshIssue::First(&stored.scopes),
        },
    )
    .await
}

/// A refresh that passed: what to issue from it.
struct Issue<'a> {
    family_name: &'a str,
    family: Option<&'a TokenFamily>,
    /// The family's user, unless they are gone or disabled.
    user: Option<User>,
    /// What the refresh token grants; the access token may ask for fewer.
    scopes: &'a [String],
    authentication: &'a Authentication,
    refresh: RefreshIssue<'a>,
}

async fn issue(
    tokens: &Tokens,
    request: &RefreshExchange<'_>,
    issue: Issue<'_>,
) -> Result<TokenResponse, ExchangeError> {
    let user = issue.user.ok_or(ExchangeError::InvalidGrant(
        "the user can no longer sign in",
    ))?;
    if issue
        .family
        .is_some_and(|f| f.generation != user.session_generation)
    {
        return Err(ExchangeError::InvalidGrant(
            "the user's sessions were ended (a password reset, say); sign in again",
        ));
    }
    let response = grants::issue_tokens(
        tokens,
        &Grant {
            client: request.client,
            user: &user,
            family: issue.family_name,
            scopes: request.scopes.as_deref().unwrap_or(issue.scopes),
            refresh: issue.refresh,
            authentication: issue.authentication,
            nonce: None,
            code: None,
            family_read: issue.family,
        },
    )
    .await?;
    // Counted, not audited: a refresh is routine and frequent (every few minutes for every
    // signed-in application), and recording each one cost an eighth of the grant's time and
    // filled the trail. Sign-ins, code exchanges, reuse and revocation stay audited.
    tokens.metrics.token_refreshed();
    tracing::debug!(user = %user.username, client = %request.client.name, "tokens refreshed");
    Ok(response)
}

#[cfg(test)]
mod tests;
