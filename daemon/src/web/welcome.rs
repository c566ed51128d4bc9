//! The welcome page (`/welcome`): an invited user types their username and the code from the
//! invitation, and chooses a password. Opening the page (as a mail scanner does, with any query)
//! changes nothing; only the form's POST accepts the invitation. The sign-in then goes on where
//! a right password leads: enrolment when a role requires a second factor, else signed in.

use super::cookies::Cookie;
use super::login::{new_flow, start_flow};
use super::{PageError, Web, client_addr, csrf, see_other, session, with_cookies};
use crate::engine::EngineError;
use crate::engine::invitations::{self, Origin};
use crate::engine::sign_in::{self, Door, DoorKind, Outcome, Refusal};
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct ShowParams {
    user: Option<String>,
}

pub async fn show(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(params): Query<ShowParams>,
) -> Response {
    render(
        &web,
        &headers,
        params.user.as_deref().unwrap_or_default(),
        None,
        StatusCode::OK,
    )
}

#[derive(Deserialize)]
pub struct WelcomeForm {
    csrf: Option<String>,
    username: Option<String>,
    code: Option<String>,
    password: Option<String>,
    repeat: Option<String>,
}

// Hand-written so the code and password never reach a log line.
impl std::fmt::Debug for WelcomeForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WelcomeForm")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

pub async fn submit(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<WelcomeForm>,
) -> Result<Response, PageError> {
    if csrf::check(&web, &headers, form.csrf.as_deref()).is_none() {
        return Err(PageError::shown(
            StatusCode::FORBIDDEN,
            "Please try again",
            "This form has expired or was not sent from this site. Go back, reload the page and try again.",
        ));
    }
    let username = form.username.as_deref().unwrap_or_default().trim();
    let password = form.password.as_deref().unwrap_or_default();
    if password != form.repeat.as_deref().unwrap_or_default() {
        let error = "The two passwords differ. Type the same password twice.";
        return Ok(render(
            &web,
            &headers,
            username,
            Some(error),
            StatusCode::BAD_REQUEST,
        ));
    }
    let address = client_addr(&web.ctx.config, peer, &headers);
    let source = format!("web {address}");
    let origin = Origin {
        address: Some(address),
        source: &source,
    };
    let code = form.code.as_deref().unwrap_or_default();
    let (user, authentication) =
        match invitations::accept(&web.ctx, username, code, password, origin).await {
            Ok(accepted) => accepted,
            Err(EngineError::Refused(message)) => {
                return Ok(render(
                    &web,
                    &headers,
                    username,
                    Some(&message),
                    StatusCode::BAD_REQUEST,
                ));
            }
            Err(e) => return Err(e.into()),
        };
    // Signed in with the password just chosen: what policy asks next, as after a sign-in.
    let door = Door {
        kind: DoorKind::Web {
            rp_wants_mfa: false,
            rp_wants_phishing_resistant: false,
            fresh_factor: false,
            device_cookie: None,
            browser_cookie: None,
            user_agent: String::new(),
        },
        address: Some(address),
        source,
        batch: crate::store::batch::Batch::now(),
    };
    let guard = csrf::guard(&web, &headers);
    match sign_in::resume(&web.ctx, &door, user, authentication).await? {
        Outcome::Done(finished) => {
            let cookie = session::start(
                &web,
                &headers,
                &finished.user,
                finished.authentication,
                address,
                &door.batch,
            )
            .await?;
            let browser = finished
                .browser
                .map(|b| web.cookies.set(Cookie::Browser, &b.value, Some(b.max_age)));
            Ok(with_cookies(
                see_other("/account"),
                std::iter::once(cookie).chain(browser),
            ))
        }
        Outcome::Next(step) => {
            let mut flow = new_flow(&web, None, guard.browser);
            flow.step = step;
            let flow_id = start_flow(&web, flow).await?;
            Ok(with_cookies(
                see_other(&format!("/login?flow={flow_id}")),
                guard.set_cookie,
            ))
        }
        Outcome::Refused(Refusal::CannotEnrol(message)) => Err(PageError::shown(
            StatusCode::FORBIDDEN,
            "Two-step verification required",
            message,
        )),
        other => Err(PageError::internal(format!(
            "an invitation led to {other:?}"
        ))),
    }
}

fn render(
    web: &Web,
    headers: &HeaderMap,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let guard = csrf::guard(web, headers);
    let mut context = tera::Context::new();
    context.insert("csrf", &guard.token);
    context.insert("username", username);
    context.insert("error", &error);
    with_cookies(web.page(status, "welcome.html", &context), guard.set_cookie)
}
