//! RP-initiated logout 1.0. With a valid `id_token_hint`, the session ends at once and the
//! browser goes to the client's registered `post_logout_redirect_uri`; without one, the user
//! confirms with a CSRF-protected form, so a link alone cannot sign anybody out.

use super::params::Params;
use crate::audit::{AuditAction, AuditDoor, AuditEvent, Outcome};
use crate::tokens::id_token;
use crate::web::{self, PageError, Web, see_other, session, with_cookies};
use axum::extract::rejection::FormRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use std::sync::Arc;

pub async fn get(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, PageError> {
    let params = read(query.ok().map(|Query(q)| q))?;
    let hinted = params
        .get("id_token_hint")
        .and_then(|hint| id_token::verify_own(&web.ctx.tokens, hint));
    let client_id = hinted
        .as_ref()
        .map(|(aud, _)| aud.clone())
        .or_else(|| params.get("client_id").map(str::to_owned));
    let target = redirect_target(
        &web,
        client_id.as_deref(),
        params.get("post_logout_redirect_uri"),
        params.get("state"),
    )
    .await?;
    if hinted.is_some() {
        return end_session(&web, &headers, target).await;
    }
    let guard = web::form_guard(&web, &headers);
    let mut context = tera::Context::new();
    context.insert("csrf", &guard.token);
    context.insert(
        "post_logout_redirect_uri",
        &params.get("post_logout_redirect_uri"),
    );
    context.insert("client_id", &client_id);
    context.insert("state", &params.get("state"));
    Ok(with_cookies(
        web.page(StatusCode::OK, "logout.html", &context),
        guard.set_cookie,
    ))
}

pub async fn post(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, PageError> {
    let params = read(form.ok().map(|Form(f)| f))?;
    if web::check_csrf(&web, &headers, params.get("csrf")).is_none() {
        return Err(PageError::shown(
            StatusCode::FORBIDDEN,
            "Please try again",
            "This form has expired or was not sent from this site. Go back, reload the page and try again.",
        ));
    }
    let target = redirect_target(
        &web,
        params.get("client_id"),
        params.get("post_logout_redirect_uri"),
        params.get("state"),
    )
    .await?;
    end_session(&web, &headers, target).await
}

fn read(pairs: Option<Vec<(String, String)>>) -> Result<Params, PageError> {
    match pairs.map(Params::from_pairs) {
        Some(Ok(params)) => Ok(params),
        _ => Err(PageError::shown(
            StatusCode::BAD_REQUEST,
            "Cannot sign out",
            "The sign-out request could not be read.",
        )),
    }
}

/// Where to send the browser afterwards: a post-logout URI registered for the client, with
/// `state`; or nowhere (the signed-out page). An unregistered URI is refused, never followed.
async fn redirect_target(
    web: &Web,
    client_id: Option<&str>,
    uri: Option<&str>,
    state: Option<&str>,
) -> Result<Option<String>, PageError> {
    let Some(uri) = uri else {
        return Ok(None);
    };
    let refuse = || {
        PageError::shown(
            StatusCode::BAD_REQUEST,
            "Cannot sign out",
            "The application asked to continue to an address that is not registered for it.",
        )
    };
    let client = match client_id {
        Some(id) => web.ctx.store.client(id).await?.ok_or_else(refuse)?,
        None => return Err(refuse()),
    };
    if !client
        .post_logout_redirect_uris
        .iter()
        .any(|registered| registered == uri)
    {
        return Err(refuse());
    }
    let mut url = url::Url::parse(uri).map_err(|_| refuse())?;
    if let Some(state) = state {
        url.query_pairs_mut().append_pair("state", state);
    }
    Ok(Some(url.to_string()))
}

async fn end_session(
    web: &Web,
    headers: &HeaderMap,
    target: Option<String>,
) -> Result<Response, PageError> {
    let user = session::current(web, headers)
        .await
        .ok()
        .flatten()
        .map(|live| live.user);
    let cookie = session::end(web, headers).await?;
    if let Some(user) = user {
        let event = AuditEvent::new(
            web.ctx.clock.unix_now(),
            &user.username,
            AuditAction::SignedOut,
            AuditDoor::Web,
            "web",
            Outcome::Success,
        )
        .subject(user.username);
        web.ctx.record(event).await?;
    }
    let response = match target {
        Some(location) => see_other(&location),
        None => web.page(StatusCode::OK, "logged_out.html", &tera::Context::new()),
    };
    Ok(with_cookies(response, [cookie]))
}
