//! The page of each sign-in step: which template, and what it shows (the client's name, the
//! passkey challenges, the enrolment key, the scopes asked for).

use crate::engine::{self, EngineError};
use crate::model::grants::{LoginFlow, LoginStep};
use crate::model::{User, UserId};
use crate::web::{PageError, Web, pages};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A scope on the consent page, with what it lets the application see.
#[derive(serde::Serialize)]
struct ScopeRow {
    name: String,
    description: &'static str,
}

/// What to tell the user above a step's form.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Messages<'a> {
    pub(super) error: Option<&'a str>,
    pub(super) notice: Option<&'a str>,
}

async fn code_lifetime_minutes(web: &Web) -> u64 {
    web.ctx
        .store
        .site_settings()
        .await
        .map(|s| s.email_code_lifetime_seconds.div_ceil(60))
        .unwrap_or(15)
}

/// "Sign in with a passkey", when the site offers it: a challenge any of its passkeys may
/// answer. Each showing of the page makes a new one (they expire on their own).
async fn passwordless_option(web: &Web, context: &mut tera::Context) -> Result<(), EngineError> {
    let settings = web.ctx.store.site_settings().await?;
    let started = match engine::passkeys::passwordless_offered(&web.ctx, &settings) {
        true => Some(engine::passkeys::start_passwordless(&web.ctx).await?),
        false => None,
    };
    pages::offer_passkey(context, started.as_ref());
    context.insert("password_reset", &settings.password_reset_enabled);
    context.insert("email_code_sign_in", &settings.email_code_sign_in);
    Ok(())
}

/// For a user with passkeys: a challenge for the second step, offered first on the page.
/// Each showing of the page makes a new one (they expire on their own).
async fn passkey_step(
    web: &Web,
    user: &crate::model::User,
    context: &mut tera::Context,
) -> Result<(), EngineError> {
    let settings = web.ctx.store.site_settings().await?;
    let with_passkey = !engine::passkeys::usable(&web.ctx, &settings, user).is_empty();
    let code_method = user
        .mfa
        .as_ref()
        .is_some_and(|m| m.code_method_usable(&settings));
    context.insert("code_method", &code_method);
    let started = match with_passkey {
        true => Some(engine::passkeys::start_sign_in(&web.ctx, user).await?),
        false => None,
    };
    pages::offer_passkey(context, started.as_ref());
    Ok(())
}

/// A sign-in's step, to be shown.
pub(super) struct StepPage<'a> {
    pub(super) csrf_token: &'a str,
    pub(super) flow_id: &'a str,
    pub(super) flow: &'a LoginFlow,
    /// The user the step is about, when the request has read them already.
    pub(super) user: Option<&'a User>,
}

impl StepPage<'_> {
    /// The user `id`: the one the request read, or from the store. Otherwise the page that
    /// says why the sign-in cannot go on.
    async fn user(&self, web: &Web, id: UserId) -> Result<User, Response> {
        if let Some(user) = self.user.filter(|user| user.id == id) {
            return Ok(user.clone());
        }
        match web.ctx.store.user(id).await {
            Ok(Some(user)) => Ok(user),
            Ok(None) => Err(PageError::internal_response(
                "the user vanished during sign-in",
            )),
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}

/// Shows the page for the flow's current step.
pub(super) async fn render_step(
    web: &Web,
    page: &StepPage<'_>,
    username: &str,
    messages: Messages<'_>,
    status: StatusCode,
) -> Response {
    let StepPage {
        csrf_token,
        flow_id,
        flow,
        ..
    } = *page;
    let client_name = match &flow.request {
        Some(request) => web
            .ctx
            .store
            .client(&request.client_id)
            .await
            .ok()
            .flatten()
            .map(|c| c.name),
        None => None,
    };
    let mut context = tera::Context::new();
    context.insert("csrf", csrf_token);
    context.insert("flow", flow_id);
    context.insert("username", username);
    context.insert("client_name", &client_name);
    context.insert("error", &messages.error);
    context.insert("notice", &messages.notice);
    let template = match &flow.step {
        LoginStep::Password => {
            if let Err(e) = passwordless_option(web, &mut context).await {
                return PageError::from(e).into_response();
            }
            "login.html"
        }
        LoginStep::EmailedCode { username, .. } => {
            context.insert("username", username);
            context.insert("lifetime_minutes", &code_lifetime_minutes(web).await);
            "emailed_code.html"
        }
        LoginStep::PasswordAfterCode { authentication } => {
            let user = match page.user(web, authentication.user_id).await {
                Ok(user) => user,
                Err(shown) => return shown,
            };
            context.insert("username", &user.username);
            "password_after_code.html"
        }
        LoginStep::SecondFactor {
            authentication,
            passkey_only,
        } => {
            let user = match page.user(web, authentication.user_id).await {
                Ok(user) => user,
                Err(shown) => return shown,
            };
            context.insert("passkey_only", passkey_only);
            let method = user
                .mfa
                .as_ref()
                .map(|m| m.method.to_string())
                .unwrap_or_default();
            context.insert("method", &method);
            context.insert("sent_to", &crate::mail::mask_address(&user.email));
            context.insert("lifetime_minutes", &code_lifetime_minutes(web).await);
            if let Err(e) = passkey_step(web, &user, &mut context).await {
                return PageError::from(e).into_response();
            }
            "second_factor.html"
        }
        LoginStep::EnrolPasskey { authentication } => {
            let user = match page.user(web, authentication.user_id).await {
                Ok(user) => user,
                Err(shown) => return shown,
            };
            match engine::passkeys::start_registration(&web.ctx, &user).await {
                Ok(started) => pages::offer_passkey(&mut context, Some(&started)),
                Err(e) => return PageError::from(e).into_response(),
            }
            "enrol_passkey.html"
        }
        LoginStep::EnrolEmail { authentication } => {
            let user = match page.user(web, authentication.user_id).await {
                Ok(user) => user,
                Err(shown) => return shown,
            };
            context.insert("sent_to", &crate::mail::mask_address(&user.email));
            "email_enrol.html"
        }
        LoginStep::EnrolTotp {
            authentication,
            sealed_seed,
        } => {
            let user = match page.user(web, authentication.user_id).await {
                Ok(user) => user,
                Err(shown) => return shown,
            };
            match engine::enrolment_material(&web.ctx, &user, sealed_seed).await {
                Ok((manual_key, qr_svg)) => {
                    context.insert("manual_key", &manual_key);
                    context.insert("qr_svg", &qr_svg);
                    let offered = web
                        .ctx
                        .store
                        .site_settings()
                        .await
                        .map(|s| s.mfa_methods)
                        .unwrap_or_default();
                    context.insert(
                        "email_offered",
                        &offered.contains(&crate::model::MfaMethod::Email),
                    );
                    let settings = web.ctx.store.site_settings().await.unwrap_or_default();
                    context.insert(
                        "passkey_offered",
                        &engine::passkeys::offered(&web.ctx, &settings),
                    );
                }
                Err(e) => return PageError::from(e).into_response(),
            }
            "enrol.html"
        }
        // Reloading after enrolment: the codes were shown once; offer to continue.
        LoginStep::AwaitingApproval { .. } => {
            return PageError::internal_response("a web flow never waits for an approval");
        }
        LoginStep::Enrolled { .. } => {
            context.insert("codes", &Vec::<String>::new());
            context.insert("continue_to_next_step", &false);
            "recovery_codes.html"
        }
        LoginStep::Consent { authentication } => {
            let user = match page.user(web, authentication.user_id).await {
                Ok(user) => user,
                Err(shown) => return shown,
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
