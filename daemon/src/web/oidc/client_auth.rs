//! Client authentication at the token, revocation and introspection endpoints:
//! `client_secret_basic`, `client_secret_post`, and `none` for public clients.

use super::error::OAuthError;
use crate::context::Context;
use crate::model::Client;
use crate::secrets::{constant_time_eq, token_hash};
use axum::http::HeaderMap;
use base64::Engine;

/// The client credentials a request carried, wherever they were.
#[derive(Debug, Default)]
pub struct Credentials {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// Authenticates the client. A confidential client must present its secret (one way, not
/// both); a public client must present none.
pub async fn authenticate(
    ctx: &Context,
    headers: &HeaderMap,
    form: Credentials,
) -> Result<Client, OAuthError> {
    let basic = basic_credentials(headers)?;
    if basic.is_some() && form.client_secret.is_some() {
        return Err(OAuthError::invalid_request(
            "use one client authentication method, not two",
        ));
    }
    let (client_id, secret) = match basic {
        Some((id, secret)) => {
            if form
                .client_id
                .as_ref()
                .is_some_and(|form_id| *form_id != id)
            {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the authenticated client",
                ));
            }
            (id, Some(secret))
        }
        None => (
            form.client_id
                .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?,
            form.client_secret,
        ),
    };
    let client = ctx
        .store
        .client(&client_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_client("unknown client or wrong secret"))?;
    match (&client.secret_hash, secret) {
        (None, None) => Ok(client),
        (None, Some(_)) => Err(OAuthError::invalid_client("a public client has no secret")),
        (Some(_), None) => Err(OAuthError::invalid_client(
            "this client must authenticate with its secret",
        )),
        (Some(expected), Some(given)) if constant_time_eq(expected, &token_hash(&given)) => {
            Ok(client)
        }
        (Some(_), Some(_)) => Err(OAuthError::invalid_client("unknown client or wrong secret")),
    }
}

/// Authenticates the client of a request whose credentials are in `params` (taken out of them)
/// or in the Authorization header.
pub async fn authenticate_request(
    ctx: &Context,
    headers: &HeaderMap,
    params: &mut super::params::Params,
) -> Result<Client, OAuthError> {
    let credentials = Credentials {
        client_id: params.take("client_id"),
        client_secret: params.take("client_secret"),
    };
    authenticate(ctx, headers, credentials).await
}

/// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || OAuthError::invalid_client("malformed Basic credentials");
    let text = value.to_str().map_err(|_| malformed())?;
    let Some(encoded) = text
        .strip_prefix("Basic ")
        .or_else(|| text.strip_prefix("basic "))
    else {
        return Err(malformed());
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .ok_or_else(malformed)
    };
    Ok(Some((unescape(id)?, unescape(secret)?)))
}
