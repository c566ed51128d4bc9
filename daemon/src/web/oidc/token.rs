//! The token endpoint: `authorization_code` (with PKCE), `refresh_token` and (RFC 8628)
//! device code grants. The rules
//! (single use, rotation, reuse detection, PKCE) are `tokens::exchange`'s; this turns the form
//! into its calls and its answers into JSON or an OAuth error.

use super::client_auth;
use super::error::OAuthError;
use super::params::{FormBody, Params, from_form};
use crate::model::Client;
use crate::tokens::exchange::{self, CodeExchange};
use crate::tokens::grants::TokenResponse;
use crate::tokens::refresh::{self, RefreshExchange};
use crate::web::Web;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
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
    let answer = match from_form(form) {
        Ok(params) => exchange(&web, &headers, params, &source).await,
        Err(e) => Err(e),
    };
    match answer {
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

async fn exchange(
    web: &Web,
    headers: &HeaderMap,
    mut params: Params,
    source: &str,
) -> Result<TokenResponse, OAuthError> {
    let client = client_auth::authenticate_request(&web.ctx, headers, &mut params).await?;
    match params.get("grant_type") {
        Some("authorization_code") => code_grant(web, &client, &mut params, source).await,
        Some("refresh_token") => refresh_grant(web, &client, &mut params, source).await,
        Some(super::device::GRANT_TYPE) => {
            super::device::device_code_grant(web, &client, &mut params, source).await
        }
        Some(other) => Err(OAuthError::unsupported_grant_type(format!(
            "grant_type `{other}` is not supported"
        ))),
        None => Err(OAuthError::invalid_request("grant_type is required")),
    }
}

async fn code_grant(
    web: &Web,
    client: &Client,
    params: &mut Params,
    source: &str,
) -> Result<TokenResponse, OAuthError> {
    let code = params
        .take("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let code_verifier = params.take("code_verifier");
    let request = CodeExchange {
        client,
        code: &code,
        redirect_uri: params.get("redirect_uri"),
        code_verifier: code_verifier.as_deref(),
        source,
    };
    Ok(exchange::exchange_code(&web.ctx.tokens, &request).await?)
}

async fn refresh_grant(
    web: &Web,
    client: &Client,
    params: &mut Params,
    source: &str,
) -> Result<TokenResponse, OAuthError> {
    let refresh_token = params
        .take("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let scopes = params.get("scope").map(|asked| {
        asked
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    });
    let request = RefreshExchange {
        client,
        refresh_token: &refresh_token,
        scopes,
        source,
    };
    Ok(refresh::refresh(&web.ctx.tokens, &request).await?)
}
