//! The userinfo endpoint (bearer token in the Authorization header).

use super::error::OAuthError;
use crate::tokens::{access, id_token};
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
    match access::live_access_token(&web.ctx.tokens, token).await {
        Ok(Some((access, user))) => Json(id_token::userinfo(&user, &access.scopes)).into_response(),
        Ok(None) => OAuthError::invalid_token("the access token is invalid, expired or revoked")
            .into_response(),
        Err(e) => OAuthError::from(e).into_response(),
    }
}
