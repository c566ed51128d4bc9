//! Token revocation (RFC 7009) and introspection (RFC 7662), both client-authenticated.

use super::client_auth;
use super::error::OAuthError;
use super::grants;
use super::params::{FormBody, from_form};
use super::userinfo::live_access_token;
use crate::audit::{AuditAction, Outcome};
use crate::clock::UnixSeconds;
use crate::model::UserId;
use crate::secrets::token_hash;
use crate::web::Web;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

fn read(
    web: &Web,
    headers: &HeaderMap,
    form: FormBody,
) -> Result<(crate::model::Client, String), OAuthError> {
    let mut params = from_form(form)?;
    let client = client_auth::authenticate_request(&web.ctx, headers, &mut params)?;
    let token = params
        .take("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    Ok((client, token))
}

/// Revokes an access token, or a refresh token with everything issued alongside it. Unknown
/// tokens and tokens of other clients are answered 200 and left alone, as RFC 7009 says.
pub async fn revoke(State(web): State<Arc<Web>>, headers: HeaderMap, form: FormBody) -> Response {
    let (client, token) = match read(&web, &headers, form) {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let ctx = &web.ctx;
    let now = ctx.clock.unix_now();
    let key = token_hash(&token);
    let outcome = (|| -> Result<Option<crate::model::UserId>, OAuthError> {
        if let Some(refresh) = ctx.store.refresh_tokens().get(&key, now)? {
            if refresh.client_id == client.id {
                grants::revoke_family(ctx, &refresh.family)?;
                return Ok(Some(refresh.authentication.user_id));
            }
        }
        if let Some(access) = ctx.store.access_tokens().get(&key, now)? {
            if access.client_id == client.id {
                ctx.store.access_tokens().remove(&key)?;
                return Ok(Some(access.user_id));
            }
        }
        Ok(None)
    })();
    match outcome {
        Ok(Some(user_id)) => {
            let username = ctx
                .store
                .user(user_id)
                .ok()
                .flatten()
                .map(|u| u.username)
                .unwrap_or_default();
            if let Err(e) = grants::audit(
                ctx,
                AuditAction::TokenRevoked,
                &username,
                &client,
                Outcome::Success,
                "revocation endpoint",
            ) {
                return OAuthError::from(e).into_response();
            }
            StatusCode::OK.into_response()
        }
        Ok(None) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

/// RFC 7662 §2.2 for an active token.
#[derive(serde::Serialize)]
struct ActiveToken<'a> {
    active: bool,
    scope: String,
    client_id: &'a str,
    username: &'a str,
    token_type: &'static str,
    exp: UnixSeconds,
    iat: UnixSeconds,
    sub: UserId,
    iss: &'a str,
}

/// Says whether an access token is active, and for whom. Only confidential clients may ask.
pub async fn introspect(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    form: FormBody,
) -> Response {
    let (client, token) = match read(&web, &headers, form) {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    if client.is_public() {
        return OAuthError::invalid_client("public clients may not introspect tokens")
            .into_response();
    }
    match live_access_token(&web, &token) {
        Ok(Some((access, user))) => Json(ActiveToken {
            active: true,
            scope: access.scopes.join(" "),
            client_id: &access.client_id,
            username: &user.username,
            token_type: "Bearer",
            exp: access.expires_at,
            iat: access.issued_at,
            sub: user.id,
            iss: &web.ctx.issuer,
        })
        .into_response(),
        Ok(None) => Json(serde_json::json!({ "active": false })).into_response(),
        Err(e) => e.into_response(),
    }
}
