//! Token revocation (RFC 7009) and introspection (RFC 7662), both client-authenticated.

use super::client_auth;
use super::error::OAuthError;
use super::params::{FormBody, from_form};
use crate::clock::UnixSeconds;
use crate::model::UserId;
use crate::tokens::access;
use crate::web::Web;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

async fn read(
    web: &Web,
    headers: &HeaderMap,
    form: FormBody,
) -> Result<(crate::model::Client, String), OAuthError> {
    let mut params = from_form(form)?;
    let client = client_auth::authenticate_request(&web.ctx, headers, &mut params).await?;
    let token = params
        .take("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    Ok((client, token))
}

/// Revokes an access token, or a refresh token with everything issued alongside it. Unknown
/// tokens and tokens of other clients are answered 200 and left alone, as RFC 7009 says.
pub async fn revoke(State(web): State<Arc<Web>>, headers: HeaderMap, form: FormBody) -> Response {
    let (client, token) = match read(&web, &headers, form).await {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    match access::revoke(&web.ctx.tokens, &client, &token).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => OAuthError::from(e).into_response(),
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
    let (client, token) = match read(&web, &headers, form).await {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    if client.is_public() {
        return OAuthError::invalid_client("public clients may not introspect tokens")
            .into_response();
    }
    match access::live_access_token(&web.ctx.tokens, &token).await {
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
        Err(e) => OAuthError::from(e).into_response(),
    }
}
