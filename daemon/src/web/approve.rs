//! The approval page (`/approve`): a person types the code their terminal or command-line tool
//! shows, sees what is waiting (the login's user, host, service, address and time, or the
//! client and what it asks for), and approves it (a login with its user's passkey, a client as
//! the signed-in user) or denies it. The rules are `engine::approvals`'.

use super::{PageError, Web, client_addr, csrf, pages, session, with_cookies};
use crate::engine::approvals;
use crate::engine::passkeys::Origin;
use crate::model::device::{ApprovalRequest, DeviceAuthorization};
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct ShowParams {
    code: Option<String>,
}

pub async fn show(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<ShowParams>,
) -> Result<Response, PageError> {
    let page = Page::new(&web, &headers, peer);
    match params.code {
        Some(code) => page.lookup(&code).await,
        None => Ok(page.render(&Shown::EnterCode { error: None }).await),
    }
}

#[derive(Deserialize)]
pub struct ApproveForm {
    csrf: Option<String>,
    action: Option<String>,
    code: Option<String>,
    passkey_challenge: Option<String>,
    passkey_answer: Option<String>,
}

// Hand-written so a passkey's answer never reaches a log line.
impl std::fmt::Debug for ApproveForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApproveForm")
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}

pub async fn submit(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<ApproveForm>,
) -> Result<Response, PageError> {
    if csrf::check(&web, &headers, form.csrf.as_deref()).is_none() {
        return Err(PageError::shown(
            StatusCode::FORBIDDEN,
            "Please try again",
            "This form has expired or was not sent from this site. Go back, reload the page and try again.",
        ));
    }
    let page = Page::new(&web, &headers, peer);
    let code = form.code.clone().unwrap_or_default();
    let source = format!("web {}", page.address);
    let origin = Origin {
        address: Some(page.address),
        door: crate::audit::AuditDoor::Web,
        source: &source,
    };
    match form.action.as_deref() {
        Some("passkey") => {
            let approved = approvals::approve_with_passkey(
                &web.ctx,
                &code,
                form.passkey_challenge.as_deref().unwrap_or_default(),
                form.passkey_answer.as_deref().unwrap_or_default(),
                &origin,
            )
            .await?;
            if approved {
                return Ok(page
                    .render(&Shown::Done {
                        message: "Login approved. Go back to your terminal: press Enter there.",
                    })
                    .await);
            }
            page.lookup_with_error(
                &code,
                "The passkey was not accepted, or this login is no longer waiting.",
            )
            .await
        }
        Some("allow") => {
            let Some(live) = session::current(&web, &headers).await? else {
                return page.lookup(&code).await;
            };
            if live.needs_second_factor {
                return page.lookup(&code).await;
            }
            let approved = approvals::approve_as(
                &web.ctx,
                &code,
                &live.session.authentication,
                &live.user.username,
                &origin,
            )
            .await?;
            if approved {
                return Ok(page
                    .render(&Shown::Done {
                        message: "Allowed. Go back to your device: it is signed in.",
                    })
                    .await);
            }
            page.lookup_with_error(&code, "This request is no longer waiting.")
                .await
        }
        Some("deny") => {
            let subject = session::current(&web, &headers)
                .await?
                .map(|live| live.user.username)
                .unwrap_or_default();
            approvals::deny(&web.ctx, &code, &subject, &origin).await?;
            Ok(page
                .render(&Shown::Done {
                    message: "Denied. Nothing was signed in. If you did not start it, tell your administrator.",
                })
                .await)
        }
        _ => page.lookup(&code).await,
    }
}

/// What the page shows.
enum Shown<'a> {
    EnterCode {
        error: Option<&'a str>,
    },
    Waiting {
        code: String,
        waiting: Box<DeviceAuthorization>,
        error: Option<&'a str>,
    },
    Done {
        message: &'a str,
    },
}

struct Page<'a> {
    web: &'a Arc<Web>,
    headers: &'a HeaderMap,
    address: std::net::IpAddr,
}

impl<'a> Page<'a> {
    fn new(web: &'a Arc<Web>, headers: &'a HeaderMap, peer: SocketAddr) -> Self {
        let address = client_addr(&web.ctx.config, peer, headers);
        Self {
            web,
            headers,
            address,
        }
    }

    async fn lookup(&self, code: &str) -> Result<Response, PageError> {
        self.lookup_with_error(code, "").await
    }

    /// Shows the approval `code` names, or asks for the code again.
    async fn lookup_with_error(&self, code: &str, error: &str) -> Result<Response, PageError> {
        let error = (!error.is_empty()).then_some(error);
        let found = match approvals::find(&self.web.ctx, code, Some(self.address)).await {
            Ok(found) => found,
            Err(crate::engine::EngineError::Refused(message)) => {
                return Ok(self
                    .render_with(
                        &Shown::EnterCode { error: None },
                        Some(&message),
                        StatusCode::TOO_MANY_REQUESTS,
                    )
                    .await);
            }
            Err(e) => return Err(e.into()),
        };
        Ok(match found {
            Some(waiting) => {
                self.render(&Shown::Waiting {
                    code: approvals::normalize(code).unwrap_or_default(),
                    waiting: Box::new(waiting),
                    error,
                })
                .await
            }
            None => {
                let error = error.unwrap_or(
                    "That code is not valid, or it expired. Check it against your terminal.",
                );
                self.render_with(
                    &Shown::EnterCode { error: None },
                    Some(error),
                    StatusCode::BAD_REQUEST,
                )
                .await
            }
        })
    }

    async fn render(&self, shown: &Shown<'_>) -> Response {
        let error = match shown {
            Shown::EnterCode { error } | Shown::Waiting { error, .. } => *error,
            Shown::Done { .. } => None,
        };
        self.render_with(shown, error, StatusCode::OK).await
    }

    async fn render_with(
        &self,
        shown: &Shown<'_>,
        error: Option<&str>,
        status: StatusCode,
    ) -> Response {
        let guard = csrf::guard(self.web, self.headers);
        let mut context = tera::Context::new();
        context.insert("csrf", &guard.token);
        context.insert("error", &error);
        match shown {
            Shown::EnterCode { .. } => context.insert("stage", "enter"),
            Shown::Done { message } => {
                context.insert("stage", "done");
                context.insert("message", message);
            }
            Shown::Waiting { code, waiting, .. } => {
                context.insert("stage", "waiting");
                context.insert("code", code);
                context.insert("started_at", &crate::clock::format_unix(waiting.created_at));
                if let Err(response) = self.describe(&mut context, code, waiting).await {
                    return response;
                }
            }
        }
        with_cookies(
            self.web.page(status, "approve.html", &context),
            guard.set_cookie,
        )
    }

    /// Puts what waits into the page: a login with a passkey challenge, or a client.
    async fn describe(
        &self,
        context: &mut tera::Context,
        code: &str,
        waiting: &DeviceAuthorization,
    ) -> Result<(), Response> {
        match &waiting.request {
            ApprovalRequest::Login {
                username,
                service,
                host,
                remote_host,
                ..
            } => {
                context.insert("kind", "login");
                context.insert("username", username);
                context.insert("service", service);
                context.insert("host", host);
                context.insert("remote_host", remote_host);
                match approvals::start_passkey(&self.web.ctx, code, waiting).await {
                    Ok(started) => pages::offer_passkey(context, Some(&started)),
                    Err(e) => return Err(PageError::from(e).into_response()),
                }
            }
            ApprovalRequest::Client { client_id, scopes } => {
                context.insert("kind", "client");
                context.insert("client_id", client_id);
                context.insert("scopes", scopes);
                let user = match session::current(self.web, self.headers).await {
                    Ok(Some(live)) if !live.needs_second_factor => Some(live.user.username),
                    _ => None,
                };
                context.insert("signed_in_as", &user);
            }
        }
        Ok(())
    }
}
