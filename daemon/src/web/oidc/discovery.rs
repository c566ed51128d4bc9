//! Discovery (`/.well-known/openid-configuration`) and the JWKS, built with openidconnect's
//! provider metadata types so field names and shapes are right.

use crate::web::{PageError, Web};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use openidconnect::core::{
    CoreClaimName, CoreGrantType, CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType,
    CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, JsonWebKeySetUrl, ProviderMetadata, ResponseTypes, Scope,
    TokenUrl, UserInfoUrl,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExtraMetadata {
    code_challenge_methods_supported: Vec<String>,
    device_authorization_endpoint: String,
    end_session_endpoint: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    authorization_response_iss_parameter_supported: bool,
    acr_values_supported: Vec<String>,
    prompt_values_supported: Vec<String>,
    claims_parameter_supported: bool,
    request_parameter_supported: bool,
    request_uri_parameter_supported: bool,
    revocation_endpoint_auth_methods_supported: Vec<String>,
    introspection_endpoint_auth_methods_supported: Vec<String>,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

pub async fn configuration(State(web): State<Arc<Web>>) -> Response {
    // The document depends only on the issuer, fixed for the daemon's life: built once.
    match web.discovery_document.get_or_init(|| metadata(&web)) {
        Ok(json) => cacheable(json.clone(), "application/json"),
        Err(e) => PageError::internal_response(e),
    }
}

pub async fn jwks(State(web): State<Arc<Web>>) -> Response {
    cacheable(
        web.ctx.tokens.keys.current().jwks_json.clone(),
        "application/json",
    )
}

/// Discovery and keys change rarely; let clients cache them for a few minutes (less than a
/// retired key's remaining life, so a rotation is seen in time).
fn cacheable(body: String, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// How clients authenticate at the token, revocation and introspection endpoints (`none`:
/// public clients, which prove the code with PKCE instead).
const CLIENT_AUTH_METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "none"];

fn metadata(web: &Web) -> Result<String, String> {
    let issuer = &web.ctx.issuer;
    let url = |path: &str| format!("{issuer}{path}");
    let fail = |e: openidconnect::url::ParseError| e.to_string();
    let metadata = ProviderMetadata::<
        ExtraMetadata,
        openidconnect::core::CoreAuthDisplay,
        openidconnect::core::CoreClientAuthMethod,
        CoreClaimName,
        openidconnect::core::CoreClaimType,
        CoreGrantType,
        openidconnect::core::CoreJweContentEncryptionAlgorithm,
        openidconnect::core::CoreJweKeyManagementAlgorithm,
        openidconnect::core::CoreJsonWebKey,
        CoreResponseMode,
        openidconnect::core::CoreResponseType,
        CoreSubjectIdentifierType,
    >::new(
        issuer.clone(),
        AuthUrl::new(url("/authorize")).map_err(fail)?,
        JsonWebKeySetUrl::new(url("/jwks")).map_err(fail)?,
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        vec![
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            CoreJwsSigningAlgorithm::EdDsa,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        ],
        ExtraMetadata {
            code_challenge_methods_supported: vec!["S256".into()],
            device_authorization_endpoint: url("/device_authorization"),
            end_session_endpoint: url("/logout"),
            revocation_endpoint: url("/revoke"),
            introspection_endpoint: url("/introspect"),
            authorization_response_iss_parameter_supported: true,
            acr_values_supported: vec![
                crate::model::grants::ACR_PASSWORD.into(),
                crate::model::grants::ACR_MFA.into(),
                crate::model::grants::ACR_PHISHING_RESISTANT.into(),
            ],
            prompt_values_supported: ["none", "login", "consent"].map(String::from).to_vec(),
            claims_parameter_supported: false,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            // Both endpoints authenticate clients as the token endpoint does.
            revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS
                .map(String::from)
                .to_vec(),
            introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS
                .map(String::from)
                .to_vec(),
        },
    )
    .set_token_endpoint(Some(TokenUrl::new(url("/token")).map_err(fail)?))
    .set_userinfo_endpoint(Some(UserInfoUrl::new(url("/userinfo")).map_err(fail)?))
    .set_grant_types_supported(Some(vec![
        CoreGrantType::AuthorizationCode,
        CoreGrantType::RefreshToken,
        CoreGrantType::DeviceCode,
    ]))
    .set_response_modes_supported(Some(vec![CoreResponseMode::Query]))
    .set_scopes_supported(Some(
        ["openid", "profile", "email", "groups", "offline_access"]
            .into_iter()
            .map(|s| Scope::new(s.into()))
            .collect(),
    ))
    .set_token_endpoint_auth_methods_supported(Some(vec![
        openidconnect::core::CoreClientAuthMethod::ClientSecretBasic,
        openidconnect::core::CoreClientAuthMethod::ClientSecretPost,
        openidconnect::core::CoreClientAuthMethod::None,
    ]))
    .set_claims_supported(Some(
        [
            CoreClaimName::new("sub".into()),
            CoreClaimName::new("iss".into()),
            CoreClaimName::new("aud".into()),
            CoreClaimName::new("exp".into()),
            CoreClaimName::new("iat".into()),
            CoreClaimName::new("auth_time".into()),
            CoreClaimName::new("nonce".into()),
            CoreClaimName::new("amr".into()),
            CoreClaimName::new("acr".into()),
            CoreClaimName::new("name".into()),
            CoreClaimName::new("preferred_username".into()),
            CoreClaimName::new("email".into()),
            CoreClaimName::new("email_verified".into()),
            CoreClaimName::new("groups".into()),
        ]
        .to_vec(),
    ));
    serde_json::to_string(&metadata).map_err(|e| e.to_string())
}
