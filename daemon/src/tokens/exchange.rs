//! The code grant of the token endpoint, without HTTP: an authorization code (with PKCE)
//! exchanged for tokens (the refresh grant is in [`super::refresh`]), and the device grant's
//! tokens once approved.
//!
//! Codes are single use: a second use is refused and revokes everything the first issued. A
//! request that may not use a code (another client's, a wrong PKCE verifier) leaves it unused.

use super::Tokens;
use super::grants::{self, Grant, IssueError, TokenResponse};
use crate::audit::{AuditAction, AuditEvent, Outcome};
use crate::model::grants::{AuthorizationCode, TokenFamily};
use crate::model::{Client, User, UserId};
use crate::secrets::{constant_time_eq, token_hash};
use crate::store::swaps::Swap;
use crate::store::{Change, RecordKey, StoreError};
use base64::Engine;
use sha2::{Digest, Sha256};

/// Why an exchange was refused, or failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// RFC 6749 `invalid_grant`: the code or token is unknown, spent, expired, another
    /// client's, or its PKCE does not hold.
    #[error("{0}")]
    InvalidGrant(&'static str),
    /// RFC 6749 `invalid_scope`.
    #[error("{0}")]
    InvalidScope(&'static str),
    #[error(transparent)]
    Issue(#[from] IssueError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An authorization code presented by an authenticated client.
#[derive(Debug)]
pub struct CodeExchange<'a> {
    pub client: &'a Client,
    pub code: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
    /// For the audit trail: "token endpoint 192.0.2.1".
    pub source: &'a str,
}

/// Exchanges a code for tokens.
pub async fn exchange_code(
    tokens: &Tokens,
    request: &CodeExchange<'_>,
) -> Result<TokenResponse, ExchangeError> {
    let now = tokens.clock.unix_now();
    let key = RecordKey::bearer(token_hash(request.code));
    let invalid = || ExchangeError::InvalidGrant("the code is invalid or has expired");
    // The code with its family and user: one read.
    let found = tokens
        .store
        .code_grant(&key, now)
        .await?
        .ok_or_else(invalid)?;
    if let Some(response) = exchange_as_read(tokens, request, &key, &found).await? {
        return Ok(response);
    }
    // Anything else (a refusal, a code used before, a user who can no longer sign in, a code
    // spent by another exchange since the read): one atomic mark of the code as used, so that
    // of two racing exchanges only one sees it unused; a request that may not use the code (a
    // wrong verifier, say) leaves it as it was.
    let mut refusal = None;
    let stored = tokens
        .store
        .authorization_codes()
        .update_seen(&key, &found.code, now, &mut |stored| {
            refusal = refusal_of(stored, request);
            if refusal.is_some() || stored.used {
                return Change::Keep;
            }
            Change::Replace(AuthorizationCode {
                used: true,
                ..stored.clone()
            })
        })
        .await?
        .ok_or_else(invalid)?;
    if let Some(refusal) = refusal {
        return Err(ExchangeError::InvalidGrant(refusal));
    }
    let (family, user) = (found.family, found.user.filter(|u| !u.disabled));
    let reuse = Reuse {
        tokens,
        family: &stored.family,
        user: user.as_ref(),
        client: request.client,
        source: request.source,
    };
    reuse
        .check(
            stored.used,
            AuditAction::CodeReused,
            "the code was already used; the tokens it gave are revoked",
        )
        .await?;
    let user = user.ok_or(ExchangeError::InvalidGrant(
        "the user can no longer sign in",
    ))?;
    let grant = code_grant_of(request, &stored, &user, family.as_ref());
    let response = grants::issue_tokens(tokens, &grant).await?;
    tokens
        .audit
        .record(tokens_issued(tokens, request, &user))
        .await?;
    Ok(response)
}

/// The common case in one step of the store: the code as read is unused, may be used by this
/// request, and its user may sign in. The code is marked used in the same step that gives its
/// family the first refresh token and records the tokens, each only if the one before held.
/// `None` when it is not that case, or the code changed since the read: nothing was written.
async fn exchange_as_read(
    tokens: &Tokens,
    request: &CodeExchange<'_>,
    key: &RecordKey,
    found: &crate::store::CodeGrant,
) -> Result<Option<TokenResponse>, ExchangeError> {
    let code = &found.code;
    let user = found.user.as_ref().filter(|u| !u.disabled);
    let (Some(user), false, None) = (user, code.used, refusal_of(code, request)) else {
        return Ok(None);
    };
    let spend = Swap::AuthorizationCode {
        key: *key,
        seen: code.clone(),
        next: AuthorizationCode {
            used: true,
            ..code.clone()
        },
    };
    let grant = code_grant_of(request, code, user, found.family.as_ref());
    let issued = tokens_issued(tokens, request, user);
    Ok(grants::issue_tokens_spending(tokens, &grant, spend, issued).await?)
}

/// The event of a code's tokens, issued to `user`.
fn tokens_issued(tokens: &Tokens, request: &CodeExchange<'_>, user: &User) -> AuditEvent {
    let (action, outcome) = (AuditAction::TokensIssued, Outcome::Success);
    let (client, source) = (request.client, request.source);
    grants::event(tokens, action, &user.username, client, outcome, source)
}

/// What a code grants: tokens in its family, for what it was asked with.
fn code_grant_of<'a>(
    request: &'a CodeExchange<'a>,
    code: &'a AuthorizationCode,
    user: &'a User,
    family: Option<&'a TokenFamily>,
) -> Grant<'a> {
    let scopes = &code.request.scopes;
    Grant {
        client: request.client,
        user,
        family: &code.family,
        scopes,
        refresh: grants::RefreshIssue::offline(scopes),
        authentication: &code.authentication,
        nonce: code.request.nonce.as_deref(),
        code: Some(request.code),
        family_read: family,
    }
}

/// Why `request` may not use `code`, if it may not.
fn refusal_of(code: &AuthorizationCode, request: &CodeExchange<'_>) -> Option<&'static str> {
    if code.request.client_id != request.client.id {
        Some("the code was issued to another client")
    } else if request.redirect_uri != Some(code.request.redirect_uri.as_str()) {
        Some("redirect_uri does not match the authorization request")
    } else {
        pkce_refusal(
            code.request.code_challenge.as_deref(),
            request.code_verifier,
        )
    }
}

/// Issues the tokens of an approved device authorization (RFC 8628): a new family, for the
/// user who allowed it, with the proof of their sign-in on the approval page.
pub async fn issue_for_device(
    tokens: &Tokens,
    client: &Client,
    scopes: &[String],
    authentication: &crate::model::grants::Authentication,
    source: &str,
) -> Result<TokenResponse, ExchangeError> {
    let user = tokens
        .store
        .user(authentication.user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or(ExchangeError::InvalidGrant(
            "the user can no longer sign in",
        ))?;
    let family = grants::new_family(tokens, client, &user).await?;
    let response = grants::issue_tokens(
        tokens,
        &Grant {
            client,
            user: &user,
            family: &family,
            scopes,
            refresh: grants::RefreshIssue::offline(scopes),
            authentication,
            nonce: None,
            code: None,
            family_read: None,
        },
    )
    .await?;
    grants::audit(
        tokens,
        AuditAction::TokensIssued,
        &user.username,
        client,
        Outcome::Success,
        source,
    )
    .await?;
    Ok(response)
}

/// What to revoke and report when a single-use code or refresh token turns up a second time.
pub(super) struct Reuse<'a> {
    pub tokens: &'a Tokens,
    pub family: &'a str,
    pub user: Option<&'a User>,
    pub client: &'a Client,
    pub source: &'a str,
}

impl Reuse<'_> {
    /// `already_used` is what the atomic read-and-mark found. A first use passes; a second
    /// revokes the family and is refused.
    pub async fn check(
        &self,
        already_used: bool,
        action: AuditAction,
        message: &'static str,
    ) -> Result<(), ExchangeError> {
        if !already_used {
            return Ok(());
        }
        grants::revoke_family(self.tokens, self.family).await?;
        if let Some(user) = self.user {
            grants::audit(
                self.tokens,
                action,
                &user.username,
                self.client,
                Outcome::Failure,
                self.source,
            )
            .await?;
        }
        Err(ExchangeError::InvalidGrant(message))
    }
}

/// The grant's token family, and its user if they still exist and are not disabled: one
/// question to the store.
pub(super) async fn family_and_user(
    tokens: &Tokens,
    family: &str,
    id: UserId,
) -> Result<(Option<TokenFamily>, Option<User>), StoreError> {
    let key = RecordKey::bearer(token_hash(family));
    let now = tokens.clock.unix_now();
    let (family, user) = tokens.store.family_and_user(&key, id, now).await?;
    Ok((family, user.filter(|u| !u.disabled)))
}

/// Why a code exchange's PKCE does not hold, if it does not. A code issued with a challenge
/// needs its verifier; a code issued without one must not be shown a verifier, or an attacker
/// who injected a stolen code could pass it off as PKCE-protected (RFC 9700 §2.1.1, PKCE
/// downgrade).
fn pkce_refusal(challenge: Option<&str>, verifier: Option<&str>) -> Option<&'static str> {
    match (challenge, verifier) {
        (Some(_), None) => Some("code_verifier is required (PKCE)"),
        (Some(challenge), Some(v)) if !pkce_matches(v, challenge) => {
            Some("code_verifier does not match the code_challenge")
        }
        (None, Some(_)) => {
            Some("code_verifier was sent, but the authorization request had no code_challenge")
        }
        (Some(_), Some(_)) | (None, None) => None,
    }
}

/// RFC 7636 S256: BASE64URL(SHA256(verifier)) == challenge, compared in constant time.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'));
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    well_formed && constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_follows_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK",
            challenge
        ));
        assert!(!pkce_matches("short", challenge));
    }

    #[test]
    fn a_challenge_needs_its_verifier_and_no_challenge_takes_no_verifier() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(pkce_refusal(Some(challenge), Some(verifier)), None);
        assert_eq!(pkce_refusal(None, None), None);
        assert!(pkce_refusal(Some(challenge), None).is_some());
        assert!(pkce_refusal(Some(challenge), Some(&verifier.replace('d', "e"))).is_some());
        assert!(
            pkce_refusal(None, Some(verifier)).is_some(),
            "PKCE downgrade"
        );
    }
}
