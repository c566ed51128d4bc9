//! The consent page of third-party clients: a step of the sign-in flow, bound to the browser
//! like every other; what needs consent is the engine's rule (`engine::consent`).

use super::login::{Submission, new_flow, start_flow};
use super::{PageError, Web, csrf, see_other, with_cookies};
use crate::engine;
use crate::model::grants::{Authentication, LoginStep};
use crate::store::batch::Batch;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

/// Asks the signed-in user to allow a third-party client what it asks for: a flow at the
/// consent step, bound to this browser, answered on `/login`.
pub async fn ask_consent(
    web: &Web,
    headers: &HeaderMap,
    request: crate::model::grants::AuthorizationRequest,
    authentication: Authentication,
) -> Response {
    let guard = csrf::guard(web, headers);
    let mut flow = new_flow(web, Some(request), guard.browser);
    flow.step = LoginStep::Consent { authentication };
    match start_flow(web, flow).await {
        Ok(flow_id) => with_cookies(
            see_other(&format!("/login?flow={flow_id}")),
            guard.set_cookie,
        ),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// The user's answer on the consent page: allowed, the grant is remembered and the code
/// issued; anything else goes back to the client as `access_denied`.
pub(super) async fn answer(
    submission: Submission<'_>,
    answer: Option<&str>,
    authentication: Authentication,
) -> Result<Response, PageError> {
    let web = submission.web;
    let Some(request) = submission.flow.request.clone() else {
        return Err(PageError::internal(
            "a consent step without an authorization request",
        ));
    };
    engine::sign_in::flow::end(&web.ctx, &Batch::now(), &submission.flow_id).await?;
    let client = super::oidc::authorize::client_of(web, &request).await?;
    if answer != Some("allow") {
        return Ok(super::oidc::authorize::error_redirect(
            web,
            &request.redirect_uri,
            "access_denied",
            "the user did not allow the application what it asked for",
            request.state.as_deref(),
        ));
    }
    let user = web
        .ctx
        .store
        .user(authentication.user_id)
        .await?
        .ok_or_else(|| PageError::internal("the user vanished during consent"))?;
    let source = format!("web {}", submission.address);
    engine::consent::allow(&web.ctx, &user, &client, &request.scopes, &source).await?;
    Ok(super::oidc::authorize::redirect_with_code(
        web,
        &client,
        request,
        authentication,
        &user,
        &Batch::now(),
    )
    .await)
}
