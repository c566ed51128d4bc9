//! The userinfo endpoint (bearer token in the Authorization header), and the access-token
//! lookup shared with introspection.

use super::error::OAuthError;
use super::grants;
use super::id_token;
use crate::model::User;
use crate::model::grants::AccessToken;
use crate::secrets::token_hash;
use crate::web::Web;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

pub async fn userinfo(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = bearer else {
        let mut error = OAuthError::invalid_token("send the access token as Authorization: Bearer");
        error.www_authenticate = Some("Bearer realm=\"postern\"".into());
        return error.into_response();
    };
    match live_access_token(&web, token) {
        Ok(Some((access, user))) => Json(id_token::userinfo(&user, &access.scopes)).into_response(),
        Ok(None) => OAuthError::invalid_token("the access token is invalid, expired or revoked")
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// An access token that is unexpired, unrevoked, of an existing client, for a user who may
/// still sign in.
pub fn live_access_token(
    web: &Web,
    token: &str,
) -> Result<Option<(AccessToken, User)>, OAuthError> {
    let ctx = &web.ctx;
    let Some(access) = ctx
        .store
        .access_tokens()
        .get(&token_hash(token), ctx.clock.unix_now())?
    else {
        return Ok(None);
    };
    if !grants::family_is_live(ctx, &access.family)?
        || !ctx.store.client_exists(&access.client_id)?
    {
        return Ok(None);
    }
    Ok(ctx
        .store
        .user(access.user_id)?
        .filter(|u| !u.disabled)
        .map(|user| (access, user)))
}
