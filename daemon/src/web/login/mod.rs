//! The sign-in pages: `/login` renders the engine's current step and submits answers to it;
//! `/` shows who is signed in.

mod step_page;

use super::cookies::Cookie;
use super::{PageError, Web, client_addr, csrf, see_other, session, with_cookies};
use crate::engine;
use crate::engine::email_code::Sent;
use crate::engine::sign_in::{self, Answer, Door, DoorKind, Finished, Outcome, Refusal};
use crate::model::grants::{LoginFlow, LoginStep};
use crate::store::batch::Batch;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use step_page::{Messages, StepPage, render_step};

/// Stores a new sign-in flow for this browser; returns its id for `/login?flow=`.
pub async fn start_flow(web: &Web, flow: LoginFlow) -> Result<String, crate::store::StoreError> {
    sign_in::flow::start(&web.ctx, &flow).await
}

pub fn new_flow(
    web: &Web,
    request: Option<crate::model::grants::AuthorizationRequest>,
    browser: [u8; 32],
) -> LoginFlow {
    sign_in::flow::new(&web.ctx, request, browser)
}

/// Takes a signed-in user whose session no longer satisfies their policy (a role now requires
/// MFA, or their second factor was reset) through the missing step: the sign-in starts where a
/// right password leads, with the session's password proof, so the user types a code or enrols
/// and is not asked for the password again. When it completes, `request` is answered (or the
/// browser goes to the account page). A remembered browser does not skip this step: it is the
/// step policy now asks for.
pub async fn step_up(
    web: &Arc<Web>,
    headers: &HeaderMap,
    request: Option<crate::model::grants::AuthorizationRequest>,
    live: session::LiveSession,
) -> Result<Response, PageError> {
    let guard = csrf::guard(web, headers);
    // The step itself is answered on /login, where the address counts; this only decides it.
    let door = web_door(web, headers, None, request.as_ref(), true);
    let user = live.user.clone();
    let authentication = live.session.authentication;
    let step = match sign_in::resume(&web.ctx, &door, user, authentication).await? {
        Outcome::Next(step) => step,
        // Policy changed back meanwhile: the session is enough again.
        Outcome::Done(finished) => {
            return Ok(match request {
                Some(request) => {
                    super::oidc::authorize::respond_with_code(
                        web,
                        headers,
                        request,
                        finished.authentication,
                        &finished.user,
                        &door.batch,
                    )
                    .await
                }
                None => see_other("/account"),
            });
        }
        Outcome::Refused(Refusal::CannotEnrol(message)) => {
            return Err(PageError::shown(
                StatusCode::FORBIDDEN,
                "Two-step verification required",
                message,
            ));
        }
        other => return Err(PageError::internal(format!("a step-up led to {other:?}"))),
    };
    let mut flow = new_flow(web, request, guard.browser);
    flow.step = step;
    let flow_id = start_flow(web, flow).await?;
    Ok(with_cookies(
        see_other(&format!("/login?flow={flow_id}")),
        guard.set_cookie,
    ))
}

#[derive(Debug, Deserialize)]
pub struct ShowParams {
    flow: Option<String>,
    /// Sign in, then show this approval (the approval page sent the user here).
    approve: Option<String>,
}

pub async fn show(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(params): Query<ShowParams>,
) -> Result<Response, PageError> {
    let guard = csrf::guard(&web, &headers);
    let flow_id = match params.flow {
        Some(id) => id,
        None => {
            let then_approve = params
                .approve
                .as_deref()
                .and_then(engine::approvals::normalize);
            // Postern's own sign-in page: with a session there is nothing to do.
            if session::current(&web, &headers).await?.is_some() {
                return Ok(see_other(&after_sign_in(then_approve.as_deref())));
            }
            let mut flow = new_flow(&web, None, guard.browser);
            flow.then_approve = then_approve;
            start_flow(&web, flow).await?
        }
    };
    let stored = load_flow(&web, &flow_id, &guard.browser).await?;
    Ok(page_of(&web, guard, &flow_id, &stored.flow).await)
}

/// Starts a sign-in for an OIDC request and shows its first page in the same response, as
/// Keycloak does: a redirect to `/login?flow=` would cost the browser a round trip and the
/// store a read of the flow just written. The form posts to `/login` either way.
pub async fn start_sign_in(
    web: &Web,
    headers: &HeaderMap,
    request: crate::model::grants::AuthorizationRequest,
) -> Response {
    let guard = csrf::guard(web, headers);
    let flow = new_flow(web, Some(request), guard.browser);
    match sign_in::flow::start(&web.ctx, &flow).await {
        Ok(flow_id) => page_of(web, guard, &flow_id, &flow).await,
        Err(e) => PageError::from(e).into_response(),
    }
}

/// The page of `flow`'s current step, untouched by any answer yet: the username filled in
/// from the application's `login_hint`.
async fn page_of(web: &Web, guard: csrf::FormGuard, flow_id: &str, flow: &LoginFlow) -> Response {
    let username = flow
        .request
        .as_ref()
        .and_then(|r| r.login_hint.as_deref())
        .unwrap_or_default();
    let page = StepPage {
        csrf_token: &guard.token,
        flow_id,
        flow,
        user: None,
    };
    let response = render_step(web, &page, username, Messages::default(), StatusCode::OK).await;
    with_cookies(response, guard.set_cookie)
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: Option<String>,
    flow: Option<String>,
    username: Option<String>,
    password: Option<String>,
    code: Option<String>,
    /// "Send a new code" on an email step.
    resend: Option<String>,
    /// "Email me a code" on the sign-in page, instead of the password.
    email_code: Option<String>,
    /// "email" on the TOTP enrolment page: enrol email codes instead.
    choose: Option<String>,
    /// "allow" or "deny" on the consent page.
    consent: Option<String>,
    /// A passkey's answer, and the id of the challenge it answers.
    passkey_challenge: Option<String>,
    passkey_answer: Option<String>,
    /// The name of a passkey added during sign-in.
    passkey_name: Option<String>,
}

// Hand-written so the password and code never reach a log line.
impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// One submitted step of a sign-in, with what every step needs.
pub(super) struct Submission<'a> {
    pub(super) web: &'a Arc<Web>,
    pub(super) headers: &'a HeaderMap,
    pub(super) flow_id: String,
    pub(super) flow: LoginFlow,
    pub(super) csrf_token: String,
    pub(super) address: std::net::IpAddr,
    /// The user the sign-in is about, once an answer has read them.
    pub(super) user: Option<crate::model::User>,
    /// Where the writes that close the answer go (see `submit`).
    pub(super) batch: Batch,
}

impl Submission<'_> {
    async fn render(&self, username: &str, error: Option<&str>, status: StatusCode) -> Response {
        self.render_with(username, error, None, status).await
    }

    async fn render_with(
        &self,
        username: &str,
        error: Option<&str>,
        notice: Option<&str>,
        status: StatusCode,
    ) -> Response {
        let messages = Messages { error, notice };
        let page = StepPage {
            csrf_token: &self.csrf_token,
            flow_id: &self.flow_id,
            flow: &self.flow,
            user: self.user.as_ref(),
        };
        render_step(self.web, &page, username, messages, status).await
    }

    /// This browser as the engine sees it: the relying party's demands, the remembered-device
    /// cookie, where it is.
    fn door(&self) -> Door {
        let request = self.flow.request.as_ref();
        Door {
            batch: self.batch.clone(),
            ..web_door(
                self.web,
                self.headers,
                Some(self.address),
                request,
                request.is_some_and(|r| r.force_login || r.max_age.is_some()),
            )
        }
    }

    /// Renders what the engine decided.
    async fn show(self, outcome: Outcome, username: &str) -> Response {
        let web = self.web;
        match outcome {
            // The engine has stored the flow at its next step.
            Outcome::Next(_) => self.render("", None, StatusCode::OK).await,
            Outcome::Enrolled {
                recovery_codes,
                device,
                step,
            } => {
                let mut context = tera::Context::new();
                context.insert("csrf", &self.csrf_token);
                context.insert("flow", &self.flow_id);
                context.insert("codes", &recovery_codes);
                // After adding a passkey the next step is signing in with it: a page to show,
                // not an answer to send.
                let shows_next = !matches!(step, LoginStep::Enrolled { .. });
                context.insert("continue_to_next_step", &shows_next);
                with_cookies(
                    web.page(StatusCode::OK, "recovery_codes.html", &context),
                    device.map(|d| web.cookies.set(Cookie::Device, &d.value, Some(d.max_age))),
                )
            }
            Outcome::Resent(sent) => {
                let notice = match sent {
                    Sent::To(address) => format!("We sent a new code to {address}."),
                    Sent::TooSoon(seconds) => format!(
                        "A code was sent less than a minute ago. You can ask for another in {seconds} seconds."
                    ),
                    Sent::Failed => {
                        "The email could not be sent. Try again later, or ask your administrator."
                            .into()
                    }
                };
                self.render_with("", None, Some(&notice), StatusCode::OK)
                    .await
            }
            Outcome::Done(finished) => self.finish(*finished).await,
            Outcome::Refused(Refusal::Credentials) => {
                self.render(
                    username,
                    Some("Wrong username or password."),
                    StatusCode::UNAUTHORIZED,
                )
                .await
            }
            Outcome::Refused(Refusal::PasskeyRequired) => {
                self.render(
                    "",
                    Some("Signing in here requires your passkey; codes cannot be used."),
                    StatusCode::BAD_REQUEST,
                )
                .await
            }
            Outcome::Refused(Refusal::Passkey) => {
                self.render(
                    "",
                    Some("The passkey was not accepted. Try again, or use another way."),
                    StatusCode::UNAUTHORIZED,
                )
                .await
            }
            Outcome::Refused(Refusal::Code) => {
                let message = match self.flow.step {
                    LoginStep::SecondFactor { .. } => {
                        "That code is not right, or was already used. Try the newest code."
                    }
                    _ => "That code is not right. Check it and try again, or ask for a new one.",
                };
                self.render("", Some(message), StatusCode::UNAUTHORIZED)
                    .await
            }
            Outcome::Refused(Refusal::CannotEnrol(message))
                if matches!(self.flow.step, LoginStep::Password) =>
            {
                web.error_page(
                    StatusCode::FORBIDDEN,
                    "Two-step verification required",
                    &message,
                )
            }
            Outcome::Refused(Refusal::CannotEnrol(message)) => {
                self.render_with("", Some(&message), None, StatusCode::BAD_REQUEST)
                    .await
            }
            Outcome::Refused(Refusal::MustEnrol) => {
                PageError::internal_response("the web door always enrols")
            }
            // Only PAM waits for an approval.
            Outcome::Refused(
                Refusal::OutOfStep | Refusal::ApprovalPending | Refusal::ApprovalRefused,
            ) => {
                self.render(
                    "",
                    Some("That does not belong on this page. Try again."),
                    StatusCode::BAD_REQUEST,
                )
                .await
            }
        }
    }

    /// All steps done (recorded, and the flow spent, by the engine): the browser gets a fresh
    /// session, and the sign-in goes back to the application (or to Postern's own page).
    async fn finish(self, finished: Finished) -> Response {
        let web = self.web;
        let session = match session::start(
            web,
            self.headers,
            &finished.user,
            finished.authentication.clone(),
            self.address,
            &self.batch,
        )
        .await
        {
            Ok(cookie) => cookie,
            Err(e) => return PageError::from(e).into_response(),
        };
        let response = match self.flow.request {
            Some(request) => {
                super::oidc::authorize::respond_with_code(
                    web,
                    self.headers,
                    request,
                    finished.authentication,
                    &finished.user,
                    &self.batch,
                )
                .await
            }
            None => see_other(&after_sign_in(self.flow.then_approve.as_deref())),
        };
        let device = finished
            .device
            .map(|d| web.cookies.set(Cookie::Device, &d.value, Some(d.max_age)));
        let browser = finished
            .browser
            .map(|b| web.cookies.set(Cookie::Browser, &b.value, Some(b.max_age)));
        with_cookies(
            response,
            std::iter::once(session).chain(device).chain(browser),
        )
    }
}

/// A browser as the engine sees it.
fn web_door(
    web: &Web,
    headers: &HeaderMap,
    address: Option<std::net::IpAddr>,
    request: Option<&crate::model::grants::AuthorizationRequest>,
    fresh_factor: bool,
) -> Door {
    Door {
        kind: DoorKind::Web {
            rp_wants_mfa: request.is_some_and(|r| r.wants_mfa()),
            rp_wants_phishing_resistant: request.is_some_and(|r| r.wants_phishing_resistant()),
            fresh_factor,
            device_cookie: web.cookies.get(headers, Cookie::Device).map(str::to_owned),
            browser_cookie: web.cookies.get(headers, Cookie::Browser).map(str::to_owned),
            user_agent: headers
                .get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("unknown browser")
                .to_owned(),
        },
        source: match address {
            Some(address) => format!("web {address}"),
            None => "web step-up".into(),
        },
        address,
        batch: crate::store::batch::Batch::now(),
    }
}

pub async fn submit(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    // An answer runs to its end even if the browser goes away meanwhile (the server drops a
    // request's handler with its connection): a code it spent is audited, and what it
    // gathered is written, not dropped halfway.
    match tokio::spawn(answer(web, peer, headers, form)).await {
        Ok(response) => response,
        Err(failed) => PageError::internal_response(format!("a sign-in answer failed: {failed}")),
    }
}

/// Checks a submitted form and applies its answer to the sign-in (see `submit`).
async fn answer(web: Arc<Web>, peer: SocketAddr, headers: HeaderMap, form: LoginForm) -> Response {
    let Some(browser) = csrf::check(&web, &headers, form.csrf.as_deref()) else {
        return PageError::shown(
            StatusCode::FORBIDDEN,
            "Please try again",
            "This form has expired or was not sent from this site. Go back, reload the page and sign in again.",
        )
        .into_response();
    };
    let flow_id = form.flow.clone().unwrap_or_default();
    let sign_in::flow::Stored { flow, user: read } = match load_flow(&web, &flow_id, &browser).await
    {
        Ok(stored) => stored,
        Err(error) => return error.into_response(),
    };
    let mut submission = Submission {
        web: &web,
        headers: &headers,
        csrf_token: csrf::guard(&web, &headers).token,
        address: client_addr(&web.ctx.config, peer, &headers),
        flow_id,
        flow,
        user: None,
        batch: Batch::now(),
    };
    let code = form.code.clone().unwrap_or_default();
    let username = form.username.clone().unwrap_or_default().trim().to_owned();
    // What the form says, in the engine's terms; malformed input is answered here.
    let answer = match &submission.flow.step {
        LoginStep::Consent { authentication } => {
            let authentication = authentication.clone();
            return super::consent::answer(submission, form.consent.as_deref(), authentication)
                .await
                .unwrap_or_else(IntoResponse::into_response);
        }
        LoginStep::Password if form.email_code.is_some() => {
            if username.is_empty() || username.len() > 256 {
                return submission
                    .render(
                        &username,
                        Some("Enter your username, then ask for a code."),
                        StatusCode::BAD_REQUEST,
                    )
                    .await;
            }
            Answer::EmailMeACode {
                username: username.clone(),
            }
        }
        LoginStep::EmailedCode { .. } if form.resend.is_some() => Answer::Resend,
        LoginStep::PasswordAfterCode { .. } => {
            let password = form.password.unwrap_or_default();
            if password.is_empty() || password.len() > 1024 {
                return submission
                    .render("", Some("Enter your password."), StatusCode::BAD_REQUEST)
                    .await;
            }
            Answer::Password {
                username: String::new(),
                password,
            }
        }
        LoginStep::Password if form.passkey_answer.is_some() => Answer::Passwordless {
            challenge: form.passkey_challenge.clone().unwrap_or_default(),
            answer: form.passkey_answer.clone().unwrap_or_default(),
        },
        LoginStep::Password => {
            let password = form.password.unwrap_or_default();
            if username.is_empty()
                || password.is_empty()
                || username.len() > 256
                || password.len() > 1024
            {
                return submission
                    .render(
                        &username,
                        Some("Enter your username and password."),
                        StatusCode::BAD_REQUEST,
                    )
                    .await;
            }
            Answer::Password {
                username: username.clone(),
                password,
            }
        }
        LoginStep::SecondFactor { .. } if form.passkey_answer.is_some() => Answer::Passkey {
            challenge: form.passkey_challenge.clone().unwrap_or_default(),
            answer: form.passkey_answer.clone().unwrap_or_default(),
        },
        LoginStep::SecondFactor { .. } | LoginStep::EnrolEmail { .. } if form.resend.is_some() => {
            Answer::Resend
        }
        LoginStep::EnrolTotp { .. } if form.choose.as_deref() == Some("email") => {
            Answer::ChooseEmail
        }
        LoginStep::EnrolTotp { .. } if form.choose.as_deref() == Some("passkey") => {
            Answer::ChoosePasskey
        }
        LoginStep::EnrolPasskey { .. } | LoginStep::EnrolTotp { .. }
            if form.passkey_answer.is_some() =>
        {
            Answer::AddPasskey {
                challenge: form.passkey_challenge.clone().unwrap_or_default(),
                name: form.passkey_name.clone().unwrap_or_default(),
                answer: form.passkey_answer.clone().unwrap_or_default(),
            }
        }
        // Nothing to type on this page but the passkey's name, which comes with its answer.
        LoginStep::EnrolPasskey { .. } => Answer::AddPasskey {
            challenge: String::new(),
            name: form.passkey_name.clone().unwrap_or_default(),
            answer: String::new(),
        },
        LoginStep::Enrolled { .. } => Answer::Continue,
        LoginStep::AwaitingApproval { .. } => {
            return PageError::internal_response("a web flow never waits for an approval");
        }
        LoginStep::SecondFactor { .. }
        | LoginStep::EnrolTotp { .. }
        | LoginStep::EnrolEmail { .. }
        | LoginStep::EmailedCode { .. } => {
            if code.trim().is_empty() || code.len() > 64 {
                return submission
                    .render("", Some("Enter the code."), StatusCode::BAD_REQUEST)
                    .await;
            }
            Answer::Code(code)
        }
    };
    // The writes that close the answer (its audit events, the flow's next step or its end, a
    // finished sign-in's session and grant) are gathered and made together, in one round trip
    // where the store can, once the answer is shown and before the browser sees it.
    let batch = Batch::gathering();
    submission.batch = batch.clone();
    let door = submission.door();
    let resending = matches!(answer, Answer::Resend);
    let advanced = sign_in::flow::advance(
        &web.ctx,
        &door,
        &submission.flow_id,
        &mut submission.flow,
        read,
        answer,
    )
    .await;
    let outcome = match advanced {
        Ok(advanced) => {
            submission.user = advanced.user;
            advanced.outcome
        }
        // What was gathered before the error happened still happened (a code spent and audited).
        Err(e) => return written(&web, &batch, PageError::from(e).into_response()).await,
    };
    let response = match outcome {
        Outcome::Next(step @ LoginStep::EmailedCode { .. }) => {
            // Mailed after the answer, so its timing does not tell whether the account exists.
            let ctx = web.ctx.clone();
            tokio::spawn(async move {
                if let Err(e) = sign_in::emailed_code::deliver(&ctx, &step).await {
                    tracing::error!(error = %e, "a sign-in code could not be sent");
                }
            });
            let notice = resending.then_some(
                "If that account may sign in with a code, a new one is on its way (at most one a minute).",
            );
            submission
                .render_with("", None, notice, StatusCode::OK)
                .await
        }
        outcome => submission.show(outcome, &username).await,
    };
    written(&web, &batch, response).await
}

/// `response`, once the writes `batch` gathered are made; the store's error page if they
/// could not be (the answer did not take effect, so it is not shown as if it had).
async fn written(web: &Web, batch: &Batch, response: Response) -> Response {
    match web.ctx.write_batch(batch).await {
        Ok(()) => response,
        Err(e) => PageError::from(e).into_response(),
    }
}

/// The signed-in landing page is the account page.
/// Where Postern's own sign-in goes when it completes: the approval that sent the user to sign
/// in, or the account page. (A user code, checked, so never elsewhere.)
fn after_sign_in(then_approve: Option<&str>) -> String {
    match then_approve.and_then(engine::approvals::normalize) {
        Some(code) => format!("/approve?code={code}"),
        None => "/account".into(),
    }
}

pub async fn home() -> Response {
    see_other("/account")
}

/// The flow with this id, if it exists and belongs to this browser; otherwise an error page.
async fn load_flow(
    web: &Web,
    flow_id: &str,
    browser: &[u8; 32],
) -> Result<sign_in::flow::Stored, PageError> {
    sign_in::flow::load(&web.ctx, flow_id, browser)
        .await?
        .ok_or_else(|| {
            PageError::shown(
                StatusCode::BAD_REQUEST,
                "This sign-in has expired",
                "Go back to the application you came from and start signing in again.",
            )
        })
}
