//! RFC 8628, the device authorization grant, for registered clients allowed it
//! (`postern client add --device-flow`): `/device_authorization` hands out a device code and
//! a user code; the user allows the client on the approval page (`/approve`, signed in as
//! usual); the client polls the token endpoint with the device code. The waiting, approving
//! and polling are `engine::approvals`'.

use super::client_auth;
use super::error::OAuthError;
use super::params::{FormBody, Params, from_form};
use crate::engine::approvals::{self, Poll};
use crate::model::Client;
use crate::model::device::ApprovalRequest;
use crate::tokens::exchange;
use crate::tokens::grants::TokenResponse;
use crate::web::Web;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// What `/device_authorization` answers (RFC 8628 §3.2).
#[derive(Debug, Serialize)]
struct DeviceAuthorizationResponse {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: String,
    expires_in: u64,
    interval: u64,
}

pub async fn authorize(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    form: FormBody,
) -> Response {
    let answer = match from_form(form) {
        Ok(params) => start(&web, &headers, params).await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(response) => {
            let mut response = Json(response).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => error.into_response(),
    }
}

async fn start(
    web: &Web,
    headers: &HeaderMap,
    mut params: Params,
) -> Result<DeviceAuthorizationResponse, OAuthError> {
    let client = client_auth::authenticate_request(&web.ctx, headers, &mut params).await?;
    if !client.device_flow {
        return Err(OAuthError::unauthorized_client(
            "this client may not use the device authorization grant",
        ));
    }
    let scopes: Vec<String> = params
        .get("scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(OAuthError::invalid_scope("scope must include openid"));
    }
    let started = approvals::start(
        &web.ctx,
        ApprovalRequest::Client {
            client_id: client.id.clone(),
            scopes,
        },
    )
    .await
    .map_err(OAuthError::server_error)?;
    let verification_uri = format!("{}/approve", web.ctx.issuer);
    Ok(DeviceAuthorizationResponse {
        verification_uri_complete: format!(
            "{verification_uri}?code={}",
            started.user_code.replace('-', "")
        ),
        verification_uri,
        device_code: started.device_code,
        user_code: started.user_code,
        expires_in: started.expires_in,
        interval: started.interval,
    })
}

/// The token endpoint's device code grant (RFC 8628 §3.4, §3.5).
pub async fn device_code_grant(
    web: &Web,
    client: &Client,
    params: &mut Params,
    source: &str,
) -> Result<TokenResponse, OAuthError> {
    let device_code = params
        .take("device_code")
        .ok_or_else(|| OAuthError::invalid_request("device_code is required"))?;
    if !client.device_flow {
        return Err(OAuthError::unauthorized_client(
            "this client may not use the device authorization grant",
        ));
    }
    let polled = approvals::poll(&web.ctx, &device_code, Some(&client.id))
        .await
        .map_err(OAuthError::server_error)?;
    match polled {
        Poll::Pending => Err(OAuthError::device_poll(
            "authorization_pending",
            "the user has not allowed it yet",
        )),
        Poll::SlowDown => Err(OAuthError::device_poll(
            "slow_down",
            "polling too fast: wait five seconds longer between requests",
        )),
        Poll::Denied => Err(OAuthError::device_poll(
            "access_denied",
            "the user denied the request",
        )),
        Poll::Expired => Err(OAuthError::device_poll(
            "expired_token",
            "the device code expired or was already used; start again",
        )),
        Poll::Approved {
            request: ApprovalRequest::Client { scopes, .. },
            authentication,
        } => Ok(exchange::issue_for_device(
            &web.ctx.tokens,
            client,
            &scopes,
            &authentication,
            source,
        )
        .await?),
        Poll::Approved { .. } => Err(OAuthError::invalid_grant("not a device code")),
    }
}
