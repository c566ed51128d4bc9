//! "Forgot your password?" (`/forgot`): the user names their account and is told, whatever
//! they typed, that a code was mailed if it matched; with that code (and their app code or a
//! recovery code, when they have a second factor) they choose a new password. The rules are
//! `engine::password_reset`'s.

use super::{PageError, Web, client_addr, csrf, with_cookies};
use crate::engine::EngineError;
use crate::engine::password_reset::{self, Origin};
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

pub async fn show(State(web): State<Arc<Web>>, headers: HeaderMap) -> Result<Response, PageError> {
    if !password_reset::offered(&web.ctx).await? {
        return Err(off());
    }
    Ok(render(&web, &headers, Stage::Ask, "", None, StatusCode::OK))
}

#[derive(Deserialize)]
pub struct ForgotForm {
    csrf: Option<String>,
    action: Option<String>,
    identifier: Option<String>,
    code: Option<String>,
    second_factor: Option<String>,
    password: Option<String>,
    repeat: Option<String>,
}

// Hand-written so codes and passwords never reach a log line.
impl std::fmt::Debug for ForgotForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForgotForm")
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}

pub async fn submit(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<ForgotForm>,
) -> Result<Response, PageError> {
    if csrf::check(&web, &headers, form.csrf.as_deref()).is_none() {
        return Err(PageError::shown(
            StatusCode::FORBIDDEN,
            "Please try again",
            "This form has expired or was not sent from this site. Go back, reload the page and try again.",
        ));
    }
    if !password_reset::offered(&web.ctx).await? {
        return Err(off());
    }
    let identifier = form
        .identifier
        .as_deref()
        .unwrap_or_default()
        .trim()
        .to_owned();
    if identifier.is_empty() || identifier.len() > 320 {
        let error = Some("Enter your username or email address.");
        return Ok(render(
            &web,
            &headers,
            Stage::Ask,
            "",
            error,
            StatusCode::BAD_REQUEST,
        ));
    }
    let address = client_addr(&web.ctx.config, peer, &headers);
    let source = format!("web {address}");
    if form.action.as_deref() != Some("reset") {
        // Looked up and mailed after the answer, so the answer's timing says nothing.
        let ctx = web.ctx.clone();
        let (wanted, source) = (identifier.clone(), source.clone());
        tokio::spawn(async move {
            let origin = Origin {
                address: Some(address),
                source: &source,
            };
            if let Err(e) = password_reset::request(&ctx, &wanted, origin).await {
                tracing::error!(error = %e, "a password reset request failed");
            }
        });
        return Ok(render(
            &web,
            &headers,
            Stage::Code,
            &identifier,
            None,
            StatusCode::OK,
        ));
    }
    let password = form.password.as_deref().unwrap_or_default();
    if password != form.repeat.as_deref().unwrap_or_default() {
        let error = Some("The two passwords differ. Type the same password twice.");
        return Ok(render(
            &web,
            &headers,
            Stage::Code,
            &identifier,
            error,
            StatusCode::BAD_REQUEST,
        ));
    }
    let origin = Origin {
        address: Some(address),
        source: &source,
    };
    let reset = password_reset::complete(
        &web.ctx,
        &identifier,
        form.code.as_deref().unwrap_or_default(),
        form.second_factor.as_deref().unwrap_or_default(),
        password,
        origin,
    )
    .await;
    match reset {
        Ok(()) => Ok(render(
            &web,
            &headers,
            Stage::Done,
            "",
            None,
            StatusCode::OK,
        )),
        Err(EngineError::Refused(message)) => Ok(render(
            &web,
            &headers,
            Stage::Code,
            &identifier,
            Some(&message),
            StatusCode::BAD_REQUEST,
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Clone, Copy)]
enum Stage {
    Ask,
    Code,
    Done,
}

fn render(
    web: &Web,
    headers: &HeaderMap,
    stage: Stage,
    identifier: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let guard = csrf::guard(web, headers);
    let mut context = tera::Context::new();
    context.insert("csrf", &guard.token);
    context.insert("identifier", identifier);
    context.insert("error", &error);
    context.insert(
        "stage",
        match stage {
            Stage::Ask => "ask",
            Stage::Code => "code",
            Stage::Done => "done",
        },
    );
    with_cookies(web.page(status, "forgot.html", &context), guard.set_cookie)
}

fn off() -> PageError {
    PageError::shown(
        StatusCode::NOT_FOUND,
        "Password reset is off",
        "This site does not let users reset their own password. Ask your administrator.",
    )
}
