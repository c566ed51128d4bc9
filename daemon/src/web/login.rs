//! The sign-in pages: `/login` renders the engine's current step and submits answers to it;
//! `/` shows who is signed in.

use super::{Web, client_addr, csrf, see_other, session, with_cookies};
use crate::engine::{self, PasswordAttempt, PasswordVerdict};
use crate::model::grants::{LoginFlow, LoginStep};
use crate::secrets::{random_token, token_hash};
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// A sign-in must be finished within this time after it starts.
const FLOW_LIFETIME: u64 = 15 * 60;

/// Creates a sign-in flow for this browser; returns its id (the only place it exists in clear).
pub fn start_flow(web: &Web, flow: LoginFlow) -> Result<String, crate::store::StoreError> {
    let id = random_token();
    web.ctx.store.login_flows().put(&token_hash(&id), &flow)?;
    Ok(id)
}

pub fn new_flow(
    web: &Web,
    request: Option<crate::model::grants::AuthorizationRequest>,
    browser: [u8; 32],
) -> LoginFlow {
    let now = web.ctx.clock.unix_now();
    LoginFlow {
        request,
        step: LoginStep::Password,
        browser,
        created_at: now,
        expires_at: now + FLOW_LIFETIME,
    }
}

#[derive(Debug, Deserialize)]
pub struct ShowParams {
    flow: Option<String>,
}

pub async fn show(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(params): Query<ShowParams>,
) -> Response {
    let guard = csrf::guard(&web, &headers);
    let flow_id = match params.flow {
        Some(id) => id,
        None => {
            // Postern's own sign-in page: with a session there is nothing to do.
            match session::current(&web, &headers) {
                Ok(Some(_)) => return see_other("/"),
                Ok(None) => {}
                Err(e) => return web.internal_error(e),
            }
            match start_flow(&web, new_flow(&web, None, guard.browser)) {
                Ok(id) => id,
                Err(e) => return web.internal_error(e),
            }
        }
    };
    let flow = match load_flow(&web, &flow_id, &guard.browser) {
        Ok(flow) => flow,
        Err(response) => return *response,
    };
    let username = flow
        .request
        .as_ref()
        .and_then(|r| r.login_hint.clone())
        .unwrap_or_default();
    let response = render_login(
        &web,
        &guard.token,
        &flow_id,
        &flow,
        &username,
        None,
        StatusCode::OK,
    );
    with_cookies(response, guard.set_cookie)
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: Option<String>,
    flow: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

// Hand-written so the password never reaches a log line.
impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

pub async fn submit(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let Some(browser) = csrf::check(&web, &headers, form.csrf.as_deref()) else {
        return web.error_page(
            StatusCode::FORBIDDEN,
            "Please try again",
            "This form has expired or was not sent from this site. Go back, reload the page and sign in again.",
        );
    };
    let flow_id = form.flow.unwrap_or_default();
    let flow = match load_flow(&web, &flow_id, &browser) {
        Ok(flow) => flow,
        Err(response) => return *response,
    };
    let token = csrf::guard(&web, &headers).token;
    let username = form.username.unwrap_or_default().trim().to_owned();
    let password = form.password.unwrap_or_default();
    if username.is_empty() || password.is_empty() || username.len() > 256 || password.len() > 1024 {
        let message = "Enter your username and password.";
        return render_login(
            &web,
            &token,
            &flow_id,
            &flow,
            &username,
            Some(message),
            StatusCode::BAD_REQUEST,
        );
    }

    let address = client_addr(&web.ctx.config, peer, &headers);
    let ctx = web.ctx.clone();
    let attempt_username = username.clone();
    let verdict = tokio::task::spawn_blocking(move || {
        engine::check_password(
            &ctx,
            &PasswordAttempt {
                username: &attempt_username,
                password: &password,
                address: Some(address),
                source: format!("web {address}"),
            },
        )
    })
    .await;
    let (user, authentication) = match verdict {
        Ok(Ok(PasswordVerdict::Accepted {
            user,
            authentication,
        })) => (user, authentication),
        Ok(Ok(PasswordVerdict::Rejected)) => {
            let message = "Wrong username or password.";
            return render_login(
                &web,
                &token,
                &flow_id,
                &flow,
                &username,
                Some(message),
                StatusCode::UNAUTHORIZED,
            );
        }
        Ok(Err(e)) => return web.internal_error(e),
        Err(e) => return web.internal_error(e),
    };

    // Signed in: the flow is spent, the browser gets a fresh session.
    if let Err(e) = web.ctx.store.login_flows().remove(&token_hash(&flow_id)) {
        return web.internal_error(e);
    }
    let cookie = match session::start(&web, &headers, authentication.clone()) {
        Ok(cookie) => cookie,
        Err(e) => return web.internal_error(e),
    };
    if let Err(e) =
        engine::record_sign_in(&web.ctx, &user, &authentication, format!("web {address}"))
    {
        return web.internal_error(e);
    }
    let response = match flow.request {
        Some(request) => crate::oidc::authorize::respond_with_code(&web, request, authentication),
        None => see_other("/"),
    };
    with_cookies(response, [cookie])
}

pub async fn home(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let (_, user) = match session::current(&web, &headers) {
        Ok(Some(found)) => found,
        Ok(None) => return see_other("/login"),
        Err(e) => return web.internal_error(e),
    };
    let guard = csrf::guard(&web, &headers);
    let mut context = tera::Context::new();
    context.insert("username", &user.username);
    context.insert("display_name", &user.display_name);
    context.insert("csrf", &guard.token);
    with_cookies(
        web.page(StatusCode::OK, "signed_in.html", &context),
        guard.set_cookie,
    )
}

/// The flow with this id, if it exists and belongs to this browser; otherwise an error page.
fn load_flow(web: &Web, flow_id: &str, browser: &[u8; 32]) -> Result<LoginFlow, Box<Response>> {
    let now = web.ctx.clock.unix_now();
    let found = web
        .ctx
        .store
        .login_flows()
        .get(&token_hash(flow_id), now)
        .map_err(|e| Box::new(web.internal_error(e)))?;
    match found {
        Some(flow) if crate::secrets::constant_time_eq(&flow.browser, browser) => Ok(flow),
        _ => Err(Box::new(web.error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired",
            "Go back to the application you came from and start signing in again.",
        ))),
    }
}

fn render_login(
    web: &Web,
    csrf_token: &str,
    flow_id: &str,
    flow: &LoginFlow,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let client_name = flow
        .request
        .as_ref()
        .and_then(|r| web.ctx.store.client(&r.client_id).ok().flatten())
        .map(|c| c.name);
    let mut context = tera::Context::new();
    context.insert("csrf", csrf_token);
    context.insert("flow", flow_id);
    context.insert("username", username);
    context.insert("client_name", &client_name);
    context.insert("error", &error);
    web.page(status, "login.html", &context)
}
