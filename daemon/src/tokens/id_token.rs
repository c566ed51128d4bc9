//! ID tokens and the claims of users: what scopes reveal, signed with the client's algorithm.

use super::Tokens;
use super::keys::LoadedKey;
use crate::model::grants::Authentication;
use crate::model::{Client, User};
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessToken, AdditionalClaims, Audience, AuthenticationContextClass,
    AuthenticationMethodReference, AuthorizationCode, EndUserEmail, EndUserName, EndUserUsername,
    IdToken, IdTokenClaims, Nonce, StandardClaims, SubjectIdentifier,
};
use serde::{Deserialize, Serialize};

/// Claims Postern adds to the standard ones: the user's roles as `groups`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PosternClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

impl AdditionalClaims for PosternClaims {}

pub type PosternIdToken = IdToken<
    PosternClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// What an ID token is about, beyond the user.
#[derive(Debug)]
pub struct IdTokenInput<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    pub scopes: &'a [String],
    pub authentication: &'a Authentication,
    pub nonce: Option<&'a str>,
    pub access_token: &'a str,
    pub code: Option<&'a str>,
}

pub fn sign(tokens: &Tokens, input: &IdTokenInput<'_>) -> Result<String, String> {
    let now = tokens.clock.unix_now();
    let lifetime = tokens.lifetimes.id_token_lifetime.0.as_secs();
    let claims = IdTokenClaims::new(
        tokens.issuer.clone(),
        vec![Audience::new(input.client.id.clone())],
        time(now + lifetime)?,
        time(now)?,
        standard_claims(input.user, input.scopes),
        PosternClaims {
            groups: has(input.scopes, "groups").then(|| input.user.roles.iter().cloned().collect()),
        },
    )
    .set_auth_time(Some(time(input.authentication.auth_time)?))
    .set_nonce(input.nonce.map(|n| Nonce::new(n.to_owned())))
    .set_auth_method_refs(Some(
        input
            .authentication
            .amr
            .iter()
            .map(|m| AuthenticationMethodReference::new(m.clone()))
            .collect(),
    ))
    .set_auth_context_ref(Some(AuthenticationContextClass::new(
        input.authentication.acr().to_owned(),
    )));
    let keys = tokens.keys.current();
    let (_, key) = keys
        .active
        .get(&input.client.signing_alg)
        .ok_or_else(|| format!("no active {} key", input.client.signing_alg))?;
    let access_token = AccessToken::new(input.access_token.to_owned());
    let code = input.code.map(|c| AuthorizationCode::new(c.to_owned()));
    let token = match key.as_ref() {
        LoadedKey::Rsa(k) => PosternIdToken::new(
            claims,
            k,
            key.jose_alg(),
            Some(&access_token),
            code.as_ref(),
        ),
        LoadedKey::EdDsa(k) => PosternIdToken::new(
            claims,
            k,
            key.jose_alg(),
            Some(&access_token),
            code.as_ref(),
        ),
        LoadedKey::Es256(k) => PosternIdToken::new(
            claims,
            k,
            key.jose_alg(),
            Some(&access_token),
            code.as_ref(),
        ),
    }
    .map_err(|e| e.to_string())?;
    Ok(token.to_string())
}

/// The standard claims a set of scopes reveals: `profile` gives names, `email` the address.
pub fn standard_claims(user: &User, scopes: &[String]) -> StandardClaims<CoreGenderClaim> {
    let mut claims = StandardClaims::new(SubjectIdentifier::new(user.id.to_string()));
    if has(scopes, "profile") {
        claims = claims
            .set_preferred_username(Some(EndUserUsername::new(user.username.clone())))
            .set_name(
                user.display_name
                    .clone()
                    .map(|n| EndUserName::new(n).into()),
            );
    }
    if has(scopes, "email") {
        claims = claims
            .set_email(Some(EndUserEmail::new(user.email.clone())))
            .set_email_verified(Some(user.email_verified));
    }
    claims
}

/// The userinfo response: the same claims as the ID token's, as plain JSON.
pub fn userinfo(user: &User, scopes: &[String]) -> serde_json::Value {
    let mut value = serde_json::to_value(standard_claims(user, scopes)).unwrap_or_default();
    if has(scopes, "groups") {
        value["groups"] = serde_json::json!(user.roles.iter().collect::<Vec<_>>());
    }
    value
}

/// Checks that `token` is an ID token Postern signed (with a published key), whether or not it
/// has expired, and returns its audience and subject. Used for `id_token_hint` at logout.
pub fn verify_own(tokens: &Tokens, token: &str) -> Option<(String, String)> {
    use base64::Engine;
    use openidconnect::JsonWebKey;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let (header_text, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: serde_json::Value =
        serde_json::from_slice(&engine.decode(header_text).ok()?).ok()?;
    let keys = tokens.keys.current();
    let key = keys.published_key(header["kid"].as_str()?)?;
    let message = format!("{header_text}.{payload}");
    key.verification_key()
        .verify_signature(
            &key.jose_alg(),
            message.as_bytes(),
            &engine.decode(signature).ok()?,
        )
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&engine.decode(payload).ok()?).ok()?;
    if claims["iss"].as_str()? != tokens.issuer.as_str() {
        return None;
    }
    let audience = match &claims["aud"] {
        serde_json::Value::String(a) => a.clone(),
        serde_json::Value::Array(list) => list.first()?.as_str()?.to_owned(),
        _ => return None,
    };
    Some((audience, claims["sub"].as_str()?.to_owned()))
}

pub fn has(scopes: &[String], scope: &str) -> bool {
    scopes.iter().any(|s| s == scope)
}

fn time(seconds: u64) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp(seconds as i64, 0).ok_or_else(|| "time out of range".to_owned())
}
