//! The token endpoint: `authorization_code` (with PKCE) and `refresh_token` grants.
//!
//! Codes are single use: a second use is refused and revokes everything the first issued.
//! Refresh tokens rotate on every use: presenting a spent one revokes the whole family (RFC
//! 9700 §4.14.2). A wrong PKCE verifier does not use up the code.

use super::client_auth;
use super::error::OAuthError;
use super::grants::{self, Grant};
use super::params::{FormBody, Params, from_form};
use crate::audit::{AuditAction, Outcome};
use crate::context::Context;
use crate::model::grants::{AuthorizationCode, RefreshToken};
use crate::model::{Client, User, UserId};
use crate::secrets::{constant_time_eq, token_hash};
use crate::store::Change;
use crate::web::Web;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;

pub async fn token(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: FormBody,
) -> Response {
    let source = format!(
        "token endpoint {}",
        crate::web::client_addr(&web.ctx.config, peer, &headers)
    );
    match from_form(form).and_then(|params| exchange(&web, &headers, params, &source)) {
        Ok(response) => {
            let mut response = Json(response).into_response();
            response
                .headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(error) => error.into_response(),
    }
}

fn exchange(
    web: &Web,
    headers: &HeaderMap,
    mut params: Params,
    source: &str,
) -> Result<grants::TokenResponse, OAuthError> {
    let client = client_auth::authenticate_request(&web.ctx, headers, &mut params)?;
    match params.get("grant_type") {
        Some("authorization_code") => code_grant(web, &client, &mut params, source),
        Some("refresh_token") => refresh_grant(web, &client, &mut params, source),
        Some(other) => Err(OAuthError::unsupported_grant_type(format!(
            "grant_type `{other}` is not supported"
        ))),
        None => Err(OAuthError::invalid_request("grant_type is required")),
    }
}

fn code_grant(
    web: &Web,
    client: &Client,
    params: &mut Params,
    source: &str,
) -> Result<grants::TokenResponse, OAuthError> {
    let ctx = &web.ctx;
    let now = ctx.clock.unix_now();
    let code = params
        .take("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let verifier = params.take("code_verifier");
    // One atomic read-and-mark, so that of two racing exchanges only one sees the code unused;
    // a request that may not use the code (a wrong verifier, say) leaves it as it was.
    let mut refusal = None;
    let stored = ctx
        .store
        .authorization_codes()
        .update(&token_hash(&code), now, |stored| {
            refusal = if stored.request.client_id != client.id {
                Some("the code was issued to another client")
            } else if params.get("redirect_uri") != Some(stored.request.redirect_uri.as_str()) {
                Some("redirect_uri does not match the authorization request")
            } else {
                pkce_refusal(
                    stored.request.code_challenge.as_deref(),
                    verifier.as_deref(),
                )
            };
            if refusal.is_some() || stored.used {
                return Change::Keep;
            }
            Change::Replace(AuthorizationCode {
                used: true,
                ..stored.clone()
            })
        })?
        .ok_or_else(|| OAuthError::invalid_grant("the code is invalid or has expired"))?;
    if let Some(refusal) = refusal {
        return Err(OAuthError::invalid_grant(refusal));
    }
    let user = user_of(web, stored.authentication.user_id)?;
    let reuse = Reuse {
        ctx,
        family: &stored.family,
        user: user.as_ref(),
        client,
        source,
    };
    reuse.check(
        stored.used,
        AuditAction::CodeReused,
        "the code was already used; the tokens it gave are revoked",
    )?;
    let user = user.ok_or_else(|| OAuthError::invalid_grant("the user can no longer sign in"))?;
    let response = grants::issue_tokens(
        ctx,
        &Grant {
            client,
            user: &user,
            family: &stored.family,
            scopes: &stored.request.scopes,
            refresh_scopes: stored
                .request
                .scopes
                .iter()
                .any(|s| s == grants::OFFLINE_ACCESS)
                .then_some(stored.request.scopes.as_slice()),
            authentication: &stored.authentication,
            nonce: stored.request.nonce.as_deref(),
            code: Some(&code),
        },
    )?;
    grants::audit(
        ctx,
        AuditAction::TokensIssued,
        &user.username,
        client,
        Outcome::Success,
        source,
    )?;
    Ok(response)
}

fn refresh_grant(
    web: &Web,
    client: &Client,
    params: &mut Params,
    source: &str,
) -> Result<grants::TokenResponse, OAuthError> {
    let ctx = &web.ctx;
    let now = ctx.clock.unix_now();
    let token = params
        .take("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let asked: Option<Vec<String>> = params.get("scope").map(|asked| {
        asked
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    });
    // One atomic read-and-mark: a token this request may not use is left as it was.
    let mut refusal = None;
    let stored = ctx
        .store
        .refresh_tokens()
        .update(&token_hash(&token), now, |stored| {
            refusal = if stored.client_id != client.id {
                Some(OAuthError::invalid_grant(
                    "the refresh token was issued to another client",
                ))
            } else if asked
                .as_ref()
                .is_some_and(|asked| asked.iter().any(|s| !stored.scopes.contains(s)))
            {
                Some(OAuthError::invalid_scope(
                    "a refresh cannot widen the granted scope",
                ))
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
        })?
        .ok_or_else(|| OAuthError::invalid_grant("the refresh token is invalid or has expired"))?;
    if let Some(refusal) = refusal {
        return Err(refusal);
    }
    let user = user_of(web, stored.authentication.user_id)?;
    let reuse = Reuse {
        ctx,
        family: &stored.family,
        user: user.as_ref(),
        client,
        source,
    };
    reuse.check(
        stored.used,
        AuditAction::RefreshTokenReused,
        "the refresh token was already used; its family is revoked",
    )?;
    let user = user.ok_or_else(|| OAuthError::invalid_grant("the user can no longer sign in"))?;
    let response = grants::issue_tokens(
        ctx,
        &Grant {
            client,
            user: &user,
            family: &stored.family,
            scopes: asked.as_deref().unwrap_or(&stored.scopes),
            refresh_scopes: Some(&stored.scopes),
            authentication: &stored.authentication,
            nonce: None,
            code: None,
        },
    )?;
    // Counted, not audited: a refresh is routine and frequent (every few minutes for every
    // signed-in application), and recording each one cost an eighth of the grant's time and
    // filled the trail. Sign-ins, code exchanges, reuse and revocation stay audited.
    ctx.metrics.token_refreshed();
    tracing::debug!(user = %user.username, client = %client.name, "tokens refreshed");
    Ok(response)
}

/// What to revoke and report when a single-use code or refresh token turns up a second time.
struct Reuse<'a> {
    ctx: &'a Context,
    family: &'a str,
    user: Option<&'a User>,
    client: &'a Client,
    source: &'a str,
}

impl Reuse<'_> {
    /// `already_used` is what the atomic read-and-mark found. A first use passes; a second
    /// revokes the family and is refused.
    fn check(
        &self,
        already_used: bool,
        action: AuditAction,
        message: &str,
    ) -> Result<(), OAuthError> {
        if !already_used {
            return Ok(());
        }
        grants::revoke_family(self.ctx, self.family)?;
        if let Some(user) = self.user {
            grants::audit(
                self.ctx,
                action,
                &user.username,
                self.client,
                Outcome::Failure,
                self.source,
            )?;
        }
        Err(OAuthError::invalid_grant(message))
    }
}

/// The user, if they still exist and are not disabled.
fn user_of(web: &Web, id: UserId) -> Result<Option<User>, OAuthError> {
    Ok(web.ctx.store.user(id)?.filter(|u| !u.disabled))
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
