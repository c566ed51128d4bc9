//! The authorization endpoint. Checks the client and redirect URI first (errors about those
//! are shown as a page, never redirected); every later error goes back to the client's
//! redirect URI (RFC 6749 §4.1.2.1). With a live session that satisfies the request, a code
//! is issued at once (single sign-on); otherwise the browser is sent to sign in.

use super::params::Params;
use crate::model::grants::{Authentication, AuthorizationRequest};
use crate::model::{Client, User};
use crate::store::batch::Batch;
use crate::tokens::grants;
use crate::web::{self, PageError, Web, see_other, session};
use axum::extract::rejection::FormRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

pub async fn get(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    authorize(&web, &headers, query.ok().map(|Query(q)| q)).await
}

pub async fn post(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    authorize(&web, &headers, form.ok().map(|Form(f)| f)).await
}

async fn authorize(
    web: &Arc<Web>,
    headers: &HeaderMap,
    pairs: Option<Vec<(String, String)>>,
) -> Response {
    let bad_request = |message: &str| {
        web.error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in link is not valid",
            message,
        )
    };
    let mut params = match pairs.map(Params::from_pairs) {
        Some(Ok(params)) => params,
        Some(Err(message)) => return bad_request(&message),
        None => return bad_request("The request's parameters could not be read."),
    };
    let Some(client_id) = params.take("client_id") else {
        return bad_request("The application did not say who it is (no client_id).");
    };
    let client = match web.ctx.store.client(&client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return bad_request("The application is not registered with Postern."),
        Err(e) => return PageError::from(e).into_response(),
    };
    let Some(redirect_uri) = params.take("redirect_uri") else {
        return bad_request("The application did not say where to return (no redirect_uri).");
    };
    if !client.redirect_uris.contains(&redirect_uri) {
        return bad_request(
            "The application asked to return to an address that is not registered for it.",
        );
    }
    let state = params.take("state");
    let fail = |error: &str, description: &str| {
        error_redirect(web, &redirect_uri, error, description, state.as_deref())
    };

    if params.get("request").is_some() {
        return fail("request_not_supported", "request objects are not supported");
    }
    if params.get("request_uri").is_some() {
        return fail("request_uri_not_supported", "request_uri is not supported");
    }
    match params.get("response_mode") {
        None | Some("query") => {}
        Some(other) => {
            return fail(
                "invalid_request",
                &format!("response_mode `{other}` is not supported; use query"),
            );
        }
    }
    match params.get("response_type") {
        Some("code") => {}
        None => return fail("invalid_request", "response_type is required"),
        Some(_) => {
            return fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            );
        }
    }
    let scopes: Vec<String> = params
        .get("scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if !scopes.iter().any(|s| s == "openid") {
        return fail("invalid_scope", "scope must include openid");
    }
    let code_challenge = match check_pkce(&client, &mut params) {
        Ok(challenge) => challenge,
        Err(description) => return fail("invalid_request", description),
    };
    let prompts: Vec<String> = params
        .get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let prompt_none = prompts.iter().any(|p| p == "none");
    if prompt_none && prompts.len() > 1 {
        return fail(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        );
    }
    let max_age = match params.get("max_age").map(str::parse::<u64>) {
        None => None,
        Some(Ok(age)) => Some(age),
        Some(Err(_)) => {
            return fail(
                "invalid_request",
                "max_age must be a whole number of seconds",
            );
        }
    };
    let request = AuthorizationRequest {
        client_id,
        redirect_uri: redirect_uri.clone(),
        scopes,
        state: state.clone(),
        nonce: params.take("nonce"),
        code_challenge,
        max_age,
        force_login: prompts.iter().any(|p| p == "login"),
        prompt_consent: prompts.iter().any(|p| p == "consent"),
        prompt_none,
        acr_values: params
            .get("acr_values")
            .unwrap_or("")
            .split(' ')
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect(),
        login_hint: params.take("login_hint"),
    };

    let now = web.ctx.clock.unix_now();
    let live_session = match session::current(web, headers).await {
        Ok(found) => found,
        Err(e) => return PageError::from(e).into_response(),
    };
    if let Some(live) = live_session {
        let authentication = &live.session.authentication;
        let fresh_enough = request
            .max_age
            .is_none_or(|age| now.saturating_sub(authentication.auth_time) <= age);
        let strong_enough = authentication.satisfies(&request);
        if fresh_enough && strong_enough && !request.force_login {
            // Policy changed since the session began (a role now requires MFA, a reset):
            // the missing step comes before any code.
            if live.needs_second_factor {
                if prompt_none {
                    return fail(
                        "interaction_required",
                        "the user must complete a second factor first",
                    );
                }
                return crate::web::step_up(web, headers, Some(request), live)
                    .await
                    .unwrap_or_else(IntoResponse::into_response);
            }
            let now = &Batch::now();
            return respond_with_code(
                web,
                headers,
                request,
                authentication.clone(),
                &live.user,
                now,
            )
            .await;
        }
    }
    if prompt_none {
        return fail("login_required", "the user is not signed in");
    }
    web::start_sign_in(web, headers, request).await
}

/// The request's PKCE challenge. Public clients, and confidential ones registered with
/// `--require-pkce`, must send one; a challenge that is sent is always checked, and only S256
/// is accepted (`plain` would put the verifier in the browser's history).
fn check_pkce(client: &Client, params: &mut Params) -> Result<Option<String>, &'static str> {
    let Some(challenge) = params.take("code_challenge") else {
        if params.get("code_challenge_method").is_some() {
            return Err("code_challenge_method was sent without a code_challenge");
        }
        return if client.requires_pkce() {
            Err("PKCE is required: send code_challenge with code_challenge_method=S256")
        } else {
            Ok(None)
        };
    };
    if params.get("code_challenge_method") != Some("S256") {
        return Err("code_challenge_method must be S256");
    }
    if challenge.len() != 43
        || !challenge
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("code_challenge must be a base64url SHA-256 (43 characters)");
    }
    Ok(Some(challenge))
}

/// Answers a completed sign-in: asks the user first when a third-party client needs their
/// consent (or, with `prompt=none`, answers `consent_required`), then issues a code and sends
/// the browser back to the client.
pub async fn respond_with_code(
    web: &Web,
    headers: &HeaderMap,
    request: AuthorizationRequest,
    authentication: Authentication,
    user: &User,
    batch: &Batch,
) -> Response {
    let client = match client_of(web, &request).await {
        Ok(client) => client,
        Err(error) => return error.into_response(),
    };
    match crate::engine::consent::needed(&web.ctx, &client, authentication.user_id, &request).await
    {
        Ok(false) => redirect_with_code(web, &client, request, authentication, user, batch).await,
        Ok(true) if request.prompt_none => error_redirect(
            web,
            &request.redirect_uri,
            "consent_required",
            "the user has not allowed this application what it asks for",
            request.state.as_deref(),
        ),
        Ok(true) => crate::web::ask_consent(web, headers, request, authentication).await,
        Err(e) => PageError::from(e).into_response(),
    }
}

/// The client a request is for, or the page saying it is gone.
pub async fn client_of(web: &Web, request: &AuthorizationRequest) -> Result<Client, PageError> {
    web.ctx
        .store
        .client(&request.client_id)
        .await?
        .ok_or_else(|| {
            PageError::shown(
                StatusCode::BAD_REQUEST,
                "Application removed",
                "The application you came from is no longer registered.",
            )
        })
}

/// Issues a code for a completed (and, for a third-party client, allowed) sign-in and sends the
/// browser back to the client.
pub async fn redirect_with_code(
    web: &Web,
    client: &Client,
    request: AuthorizationRequest,
    authentication: Authentication,
    user: &User,
    batch: &Batch,
) -> Response {
    let redirect_uri = request.redirect_uri.clone();
    let state = request.state.clone();
    match grants::issue_code(
        &web.ctx.tokens,
        client,
        request,
        authentication,
        user,
        batch,
    )
    .await
    {
        Ok(code) => {
            let mut pairs = vec![("code", code.as_str()), ("iss", web.ctx.issuer.as_str())];
            if let Some(state) = state.as_deref() {
                pairs.push(("state", state));
            }
            redirect_with(&redirect_uri, &pairs)
        }
        Err(e) => PageError::from(e).into_response(),
    }
}

/// An error sent back to the client's (registered) redirect URI.
pub fn error_redirect(
    web: &Web,
    redirect_uri: &str,
    error: &str,
    description: &str,
    state: Option<&str>,
) -> Response {
    let mut pairs = vec![
        ("error", error),
        ("error_description", description),
        ("iss", web.ctx.issuer.as_str()),
    ];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    redirect_with(redirect_uri, &pairs)
}

/// A 303 to a registered redirect URI with parameters added to its query.
fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(url) => url,
        // Registered URIs were validated as URLs; this cannot happen for a stored client.
        Err(_) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "invalid redirect URI").into_response();
        }
    };
    url.query_pairs_mut().extend_pairs(pairs.iter().copied());
    see_other(url.as_str())
}
