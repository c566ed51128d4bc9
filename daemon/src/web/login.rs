//! The sign-in pages: `/login` renders the engine's current step and submits answers to it;
//! `/` shows who is signed in.

use super::cookies::Cookie;
use super::{Web, client_addr, csrf, see_other, session, with_cookies};
use crate::engine::email_code::Sent;
use crate::engine::{
    self, CodeVerdict, Demands, EngineError, NameMatch, PasswordAttempt, PasswordVerdict, Progress,
};
use crate::model::grants::{Authentication, CodePurpose, LoginFlow, LoginStep};
use crate::secrets::{random_token, token_hash};
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// A sign-in must be finished within this time after it starts: longer than an emailed code
/// lives (15 minutes by default), so a slow email does not also expire the page.
const FLOW_LIFETIME: u64 = 30 * 60;

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
) -> Response {
    let guard = csrf::guard(web, headers);
    let ctx = web.ctx.clone();
    let rp_wants_mfa = request.as_ref().is_some_and(|r| r.wants_mfa());
    let user = live.user.clone();
    let authentication = live.session.authentication;
    let progress = tokio::task::spawn_blocking(move || {
        let demands = Demands {
            rp_wants_mfa,
            fresh_factor: true,
            device_cookie: None,
            can_enrol: true,
            source: "web step-up",
        };
        engine::after_password(&ctx, &user, authentication, &demands)
    })
    .await;
    let step = match progress {
        Ok(Ok(Progress::Next(step))) => step,
        // Policy changed back meanwhile: the session is enough again.
        Ok(Ok(Progress::Done(authentication) | Progress::Remembered { authentication, .. })) => {
            return match request {
                Some(request) => {
                    crate::oidc::authorize::respond_with_code(web, headers, request, authentication)
                }
                None => see_other("/account"),
            };
        }
        Ok(Ok(Progress::MustEnrol)) => return web.internal_error("the web door always enrols"),
        Ok(Err(EngineError::CannotEnrol(message))) => {
            return web.error_page(
                StatusCode::FORBIDDEN,
                "Two-step verification required",
                &message,
            );
        }
        Ok(Err(e)) => return web.internal_error(e),
        Err(e) => return web.internal_error(e),
    };
    let mut flow = new_flow(web, request, guard.browser);
    flow.step = step;
    match start_flow(web, flow) {
        Ok(flow_id) => with_cookies(
            see_other(&format!("/login?flow={flow_id}")),
            guard.set_cookie,
        ),
        Err(e) => web.internal_error(e),
    }
}

/// Asks the signed-in user to allow a third-party client what it asks for: a flow at the
/// consent step, bound to this browser, answered on `/login`.
pub fn ask_consent(
    web: &Web,
    headers: &HeaderMap,
    request: crate::model::grants::AuthorizationRequest,
    authentication: Authentication,
) -> Response {
    let guard = csrf::guard(web, headers);
    let mut flow = new_flow(web, Some(request), guard.browser);
    flow.step = LoginStep::Consent { authentication };
    match start_flow(web, flow) {
        Ok(flow_id) => with_cookies(
            see_other(&format!("/login?flow={flow_id}")),
            guard.set_cookie,
        ),
        Err(e) => web.internal_error(e),
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
                Ok(Some(_)) => return see_other("/account"),
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
    let response = render_step(
        &web,
        &guard.token,
        &flow_id,
        &flow,
        &username,
        Messages::default(),
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
    code: Option<String>,
    /// "Send a new code" on an email step.
    resend: Option<String>,
    /// "email" on the TOTP enrolment page: enrol email codes instead.
    choose: Option<String>,
    /// "allow" or "deny" on the consent page.
    consent: Option<String>,
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
struct Submission<'a> {
    web: &'a Arc<Web>,
    headers: &'a HeaderMap,
    flow_id: String,
    flow: LoginFlow,
    csrf_token: String,
    address: std::net::IpAddr,
}

impl Submission<'_> {
    fn render(&self, username: &str, error: Option<&str>, status: StatusCode) -> Response {
        self.render_with(username, error, None, status)
    }

    fn render_with(
        &self,
        username: &str,
        error: Option<&str>,
        notice: Option<&str>,
        status: StatusCode,
    ) -> Response {
        let messages = Messages { error, notice };
        render_step(
            self.web,
            &self.csrf_token,
            &self.flow_id,
            &self.flow,
            username,
            messages,
            status,
        )
    }

    /// "Send a new code": another emailed code, unless one went out less than a minute ago.
    fn resend(&self, authentication: &Authentication, purpose: CodePurpose) -> Response {
        let user = match self.web.ctx.store.user(authentication.user_id) {
            Ok(Some(user)) => user,
            Ok(None) => return self.web.internal_error("the user vanished during sign-in"),
            Err(e) => return self.web.internal_error(e),
        };
        let notice = match engine::email_code::send(&self.web.ctx, &user, purpose) {
            Ok(Sent::To(address)) => format!("We sent a new code to {address}."),
            Ok(Sent::TooSoon(seconds)) => {
                format!(
                    "A code was sent less than a minute ago. You can ask for another in {seconds} seconds."
                )
            }
            Ok(Sent::Failed) => {
                "The email could not be sent. Try again later, or ask your administrator.".into()
            }
            Err(e) => return self.web.internal_error(e),
        };
        self.render_with("", None, Some(&notice), StatusCode::OK)
    }

    /// Runs engine work for the user signing in, off the async runtime, with the attempt (who,
    /// from where) the engine counts and audits.
    async fn in_engine<T: Send + 'static>(
        &self,
        authentication: &Authentication,
        work: impl FnOnce(&crate::context::Context, &PasswordAttempt<'_>) -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        let ctx = self.web.ctx.clone();
        let username = username_of(self, authentication);
        let address = self.address;
        tokio::task::spawn_blocking(move || {
            let attempt = PasswordAttempt {
                username: &username,
                name_match: NameMatch::IgnoringCase,
                password: "",
                address: Some(address),
                source: format!("web {address}"),
            };
            work(&ctx, &attempt)
        })
        .await
    }

    /// Moves the flow to its next step and shows it.
    fn advance(mut self, step: LoginStep) -> Response {
        self.flow.step = step;
        if let Err(e) = self
            .web
            .ctx
            .store
            .login_flows()
            .put(&token_hash(&self.flow_id), &self.flow)
        {
            return self.web.internal_error(e);
        }
        self.render("", None, StatusCode::OK)
    }

    /// All steps done: the flow is spent, the browser gets a fresh session, and the sign-in
    /// goes back to the application (or to Postern's own page).
    /// After a second factor: remember this browser for the user (when the site allows it).
    fn remember_device(&self, authentication: &Authentication) -> Option<axum::http::HeaderValue> {
        let user_agent = self
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown browser");
        match engine::devices::remember(
            &self.web.ctx,
            authentication.user_id,
            user_agent,
            Some(self.address),
        ) {
            Ok(Some((value, window))) => {
                Some(self.web.cookies.set(Cookie::Device, &value, Some(window)))
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "could not remember a device");
                None
            }
        }
    }

    fn finish(self, authentication: Authentication) -> Response {
        let web = self.web;
        if let Err(e) = web
            .ctx
            .store
            .login_flows()
            .remove(&token_hash(&self.flow_id))
        {
            return web.internal_error(e);
        }
        let user = match web.ctx.store.user(authentication.user_id) {
            Ok(Some(user)) => user,
            Ok(None) => return web.internal_error("the user vanished during sign-in"),
            Err(e) => return web.internal_error(e),
        };
        let cookie = match session::start(web, self.headers, &user, authentication.clone()) {
            Ok(cookie) => cookie,
            Err(e) => return web.internal_error(e),
        };
        if let Err(e) = engine::record_sign_in(
            &web.ctx,
            &user,
            &authentication,
            format!("web {}", self.address),
        ) {
            return web.internal_error(e);
        }
        let response = match self.flow.request {
            Some(request) => crate::oidc::authorize::respond_with_code(
                web,
                self.headers,
                request,
                authentication,
            ),
            None => see_other("/account"),
        };
        with_cookies(response, [cookie])
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
    let flow_id = form.flow.clone().unwrap_or_default();
    let flow = match load_flow(&web, &flow_id, &browser) {
        Ok(flow) => flow,
        Err(response) => return *response,
    };
    let submission = Submission {
        web: &web,
        headers: &headers,
        csrf_token: csrf::guard(&web, &headers).token,
        address: client_addr(&web.ctx.config, peer, &headers),
        flow_id,
        flow,
    };
    let code = form.code.clone().unwrap_or_default();
    let resend = form.resend.is_some();
    match submission.flow.step.clone() {
        LoginStep::Password => submit_password(submission, form).await,
        LoginStep::SecondFactor { authentication } if resend => {
            submission.resend(&authentication, CodePurpose::SignIn)
        }
        LoginStep::SecondFactor { authentication } => {
            submit_code(submission, code, authentication).await
        }
        LoginStep::EnrolTotp { authentication, .. } if form.choose.as_deref() == Some("email") => {
            let user = match submission.web.ctx.store.user(authentication.user_id) {
                Ok(Some(user)) => user,
                Ok(None) => {
                    return submission
                        .web
                        .internal_error("the user vanished during enrolment");
                }
                Err(e) => return submission.web.internal_error(e),
            };
            match engine::choose_email(&submission.web.ctx, &user, authentication) {
                Ok(step) => submission.advance(step),
                Err(EngineError::CannotEnrol(message)) => {
                    submission.render_with("", Some(&message), None, StatusCode::BAD_REQUEST)
                }
                Err(e) => submission.web.internal_error(e),
            }
        }
        LoginStep::EnrolTotp {
            authentication,
            sealed_seed,
        } => submit_enrolment(submission, code, authentication, Some(sealed_seed)).await,
        LoginStep::EnrolEmail { authentication } if resend => {
            submission.resend(&authentication, CodePurpose::Enrolment)
        }
        LoginStep::EnrolEmail { authentication } => {
            submit_enrolment(submission, code, authentication, None).await
        }
        LoginStep::Enrolled { authentication } => submission.finish(authentication),
        LoginStep::Consent { authentication } => {
            submit_consent(submission, form.consent.as_deref(), authentication)
        }
    }
}

/// The user's answer on the consent page: allowed, the grant is remembered and the code
/// issued; anything else goes back to the client as `access_denied`.
fn submit_consent(
    submission: Submission<'_>,
    answer: Option<&str>,
    authentication: Authentication,
) -> Response {
    let web = submission.web;
    let Some(request) = submission.flow.request.clone() else {
        return web.internal_error("a consent step without an authorization request");
    };
    if let Err(e) = web
        .ctx
        .store
        .login_flows()
        .remove(&token_hash(&submission.flow_id))
    {
        return web.internal_error(e);
    }
    let client = match crate::oidc::authorize::client_of(web, &request) {
        Ok(client) => client,
        Err(response) => return *response,
    };
    if answer != Some("allow") {
        return crate::oidc::authorize::error_redirect(
            web,
            &request.redirect_uri,
            "access_denied",
            "the user did not allow the application what it asked for",
            request.state.as_deref(),
        );
    }
    let user = match web.ctx.store.user(authentication.user_id) {
        Ok(Some(user)) => user,
        Ok(None) => return web.internal_error("the user vanished during consent"),
        Err(e) => return web.internal_error(e),
    };
    let source = format!("web {}", submission.address);
    if let Err(e) = engine::consent::allow(&web.ctx, &user, &client, &request.scopes, &source) {
        return web.internal_error(e);
    }
    crate::oidc::authorize::redirect_with_code(web, &client, request, authentication)
}

async fn submit_password(submission: Submission<'_>, form: LoginForm) -> Response {
    let username = form.username.unwrap_or_default().trim().to_owned();
    let password = form.password.unwrap_or_default();
    if username.is_empty() || password.is_empty() || username.len() > 256 || password.len() > 1024 {
        return submission.render(
            &username,
            Some("Enter your username and password."),
            StatusCode::BAD_REQUEST,
        );
    }
    let ctx = submission.web.ctx.clone();
    let attempt_username = username.clone();
    let address = submission.address;
    let request = submission.flow.request.as_ref();
    let rp_wants_mfa = request.is_some_and(|r| r.wants_mfa());
    let fresh_factor = request.is_some_and(|r| r.force_login || r.max_age.is_some());
    let device_cookie = submission
        .web
        .cookies
        .get(submission.headers, Cookie::Device)
        .map(str::to_owned);
    let outcome = tokio::task::spawn_blocking(move || {
        let attempt = PasswordAttempt {
            username: &attempt_username,
            name_match: NameMatch::IgnoringCase,
            password: &password,
            address: Some(address),
            source: format!("web {address}"),
        };
        match engine::check_password(&ctx, &attempt)? {
            PasswordVerdict::Accepted {
                user,
                authentication,
            } => {
                let demands = Demands {
                    rp_wants_mfa,
                    fresh_factor,
                    device_cookie: device_cookie.as_deref(),
                    can_enrol: true,
                    source: &attempt.source,
                };
                engine::after_password(&ctx, &user, authentication, &demands).map(Some)
            }
            PasswordVerdict::Rejected => Ok(None),
        }
    })
    .await;
    match outcome {
        Ok(Ok(Some(Progress::Done(authentication)))) => submission.finish(authentication),
        Ok(Ok(Some(Progress::Remembered {
            authentication,
            window,
        }))) => {
            // The window slid: the cookie lives as long again.
            let cookies = submission.web.cookies;
            let device = cookies
                .get(submission.headers, Cookie::Device)
                .unwrap_or_default()
                .to_owned();
            let response = submission.finish(authentication);
            with_cookies(
                response,
                [cookies.set(Cookie::Device, &device, Some(window))],
            )
        }
        Ok(Ok(Some(Progress::Next(step)))) => submission.advance(step),
        Ok(Ok(Some(Progress::MustEnrol))) => {
            submission.web.internal_error("the web door always enrols")
        }
        Ok(Ok(None)) => submission.render(
            &username,
            Some("Wrong username or password."),
            StatusCode::UNAUTHORIZED,
        ),
        Ok(Err(EngineError::CannotEnrol(message))) => submission.web.error_page(
            StatusCode::FORBIDDEN,
            "Two-step verification required",
            &message,
        ),
        Ok(Err(e)) => submission.web.internal_error(e),
        Err(e) => submission.web.internal_error(e),
    }
}

async fn submit_code(
    submission: Submission<'_>,
    code: String,
    authentication: Authentication,
) -> Response {
    if code.trim().is_empty() || code.len() > 64 {
        return submission.render("", Some("Enter the code."), StatusCode::BAD_REQUEST);
    }
    let checked = authentication.clone();
    let verdict = submission
        .in_engine(&authentication, move |ctx, attempt| {
            engine::check_code(ctx, &checked, &code, attempt)
        })
        .await;
    match verdict {
        Ok(Ok(CodeVerdict::Accepted(authentication))) => {
            let device = submission.remember_device(&authentication);
            with_cookies(submission.finish(authentication), device)
        }
        Ok(Ok(CodeVerdict::Rejected)) => submission.render(
            "",
            Some("That code is not right, or was already used. Try the newest code."),
            StatusCode::UNAUTHORIZED,
        ),
        Ok(Err(e)) => submission.web.internal_error(e),
        Err(e) => submission.web.internal_error(e),
    }
}

async fn submit_enrolment(
    submission: Submission<'_>,
    code: String,
    authentication: Authentication,
    sealed_seed: Option<Vec<u8>>,
) -> Response {
    if code.trim().is_empty() || code.len() > 64 {
        return submission.render("", Some("Enter the code."), StatusCode::BAD_REQUEST);
    }
    let enrolling = authentication.clone();
    let confirmed = submission
        .in_engine(&authentication, move |ctx, attempt| match sealed_seed {
            Some(seed) => engine::confirm_totp_enrolment(ctx, &enrolling, &seed, &code, attempt),
            None => engine::confirm_email_enrolment(ctx, &enrolling, &code, attempt),
        })
        .await;
    match confirmed {
        Ok(Ok(Some((authentication, codes)))) => {
            let mut submission = submission;
            let authentication_for_device = authentication.clone();
            submission.flow.step = LoginStep::Enrolled { authentication };
            if let Err(e) = submission
                .web
                .ctx
                .store
                .login_flows()
                .put(&token_hash(&submission.flow_id), &submission.flow)
            {
                return submission.web.internal_error(e);
            }
            let mut context = tera::Context::new();
            context.insert("csrf", &submission.csrf_token);
            context.insert("flow", &submission.flow_id);
            context.insert("codes", &codes);
            let device = submission.remember_device(&authentication_for_device);
            with_cookies(
                submission
                    .web
                    .page(StatusCode::OK, "recovery_codes.html", &context),
                device,
            )
        }
        Ok(Ok(None)) => submission.render(
            "",
            Some("That code is not right. Check it and try again, or ask for a new one."),
            StatusCode::UNAUTHORIZED,
        ),
        Ok(Err(e)) => submission.web.internal_error(e),
        Err(e) => submission.web.internal_error(e),
    }
}

fn username_of(submission: &Submission<'_>, authentication: &Authentication) -> String {
    submission
        .web
        .ctx
        .store
        .user(authentication.user_id)
        .ok()
        .flatten()
        .map(|u| u.username)
        .unwrap_or_default()
}

/// The signed-in landing page is the account page.
pub async fn home() -> Response {
    see_other("/account")
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

/// A scope on the consent page, with what it lets the application see.
#[derive(serde::Serialize)]
struct ScopeRow {
    name: String,
    description: &'static str,
}

/// What to tell the user above a step's form.
#[derive(Debug, Default, Clone, Copy)]
struct Messages<'a> {
    error: Option<&'a str>,
    notice: Option<&'a str>,
}

fn code_lifetime_minutes(web: &Web) -> u64 {
    web.ctx
        .store
        .site_settings()
        .map(|s| s.email_code_lifetime_seconds.div_ceil(60))
        .unwrap_or(15)
}

/// Shows the page for the flow's current step.
fn render_step(
    web: &Web,
    csrf_token: &str,
    flow_id: &str,
    flow: &LoginFlow,
    username: &str,
    messages: Messages<'_>,
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
    context.insert("error", &messages.error);
    context.insert("notice", &messages.notice);
    let template = match &flow.step {
        LoginStep::Password => "login.html",
        LoginStep::SecondFactor { authentication } => {
            let Ok(Some(user)) = web.ctx.store.user(authentication.user_id) else {
                return web.internal_error("the user vanished during sign-in");
            };
            let method = user
                .mfa
                .as_ref()
                .map(|m| m.method.to_string())
                .unwrap_or_default();
            context.insert("method", &method);
            context.insert("sent_to", &crate::mail::mask_address(&user.email));
            context.insert("lifetime_minutes", &code_lifetime_minutes(web));
            "second_factor.html"
        }
        LoginStep::EnrolEmail { authentication } => {
            let Ok(Some(user)) = web.ctx.store.user(authentication.user_id) else {
                return web.internal_error("the user vanished during enrolment");
            };
            context.insert("sent_to", &crate::mail::mask_address(&user.email));
            "email_enrol.html"
        }
        LoginStep::EnrolTotp {
            authentication,
            sealed_seed,
        } => {
            let user = match web.ctx.store.user(authentication.user_id) {
                Ok(Some(user)) => user,
                Ok(None) => return web.internal_error("the user vanished during enrolment"),
                Err(e) => return web.internal_error(e),
            };
            match engine::enrolment_material(&web.ctx, &user, sealed_seed) {
                Ok((manual_key, qr_svg)) => {
                    context.insert("manual_key", &manual_key);
                    context.insert("qr_svg", &qr_svg);
                    let offered = web
                        .ctx
                        .store
                        .site_settings()
                        .map(|s| s.mfa_methods)
                        .unwrap_or_default();
                    context.insert(
                        "email_offered",
                        &offered.contains(&crate::model::MfaMethod::Email),
                    );
                }
                Err(e) => return web.internal_error(e),
            }
            "enrol.html"
        }
        // Reloading after enrolment: the codes were shown once; offer to continue.
        LoginStep::Enrolled { .. } => {
            context.insert("codes", &Vec::<String>::new());
            "recovery_codes.html"
        }
        LoginStep::Consent { authentication } => {
            let Ok(Some(user)) = web.ctx.store.user(authentication.user_id) else {
                return web.internal_error("the user vanished during consent");
            };
            let scopes: Vec<ScopeRow> = flow
                .request
                .iter()
                .flat_map(|r| &r.scopes)
                .map(|scope| ScopeRow {
                    name: scope.clone(),
                    description: crate::model::consent::describe_scope(scope),
                })
                .collect();
            context.insert("signed_in_as", &user.username);
            context.insert("scopes", &scopes);
            "consent.html"
        }
    };
    web.page(status, template, &context)
}
