//! One PAM login, step by step: the same engine as the web, rendered as prompts.

use super::{read, send, verdict};
use crate::context::Context;
use crate::engine::{
    self, CodeVerdict, Demands, NameMatch, PasswordAttempt, PasswordVerdict, Progress,
};
use crate::model::MfaMethod;
use crate::model::grants::{Authentication, LoginStep};
use postern_proto::frame::FrameError;
use postern_proto::pam::{PamContext, PamMode, PamOutcome, PamReply, PamRequest};
use std::sync::Arc;
use tokio::net::UnixStream;

pub struct Conversation<'a> {
    pub stream: &'a mut UnixStream,
    pub ctx: Arc<Context>,
}

impl Conversation<'_> {
    pub async fn run(&mut self) -> Result<(), FrameError> {
        match read(self.stream, &self.ctx).await? {
            PamRequest::Begin(context) => {
                let (outcome, message) = self.authenticate(&context).await?;
                send(self.stream, &verdict(outcome, message.as_deref())).await
            }
            PamRequest::Account(context) => {
                let outcome = self.account(&context);
                send(self.stream, &verdict(outcome, None)).await
            }
            PamRequest::Answer { .. } => Err(FrameError::Closed),
        }
    }

    fn account(&self, context: &PamContext) -> PamOutcome {
        let now = self.ctx.clock.unix_now();
        match engine::find_user(&self.ctx, &context.user, NameMatch::Exact) {
            Ok(Some(user)) if user.disabled => PamOutcome::AccountDisabled,
            Ok(Some(user))
                if self
                    .ctx
                    .limiter
                    .account_locked_until(&user.username, now)
                    .is_some() =>
            {
                PamOutcome::Denied
            }
            Ok(Some(_)) => PamOutcome::Success,
            Ok(None) => PamOutcome::UserUnknown,
            Err(e) => {
                tracing::error!(error = %e, "PAM account check failed");
                PamOutcome::Unavailable
            }
        }
    }

    /// Asks a question and waits for the answer.
    async fn ask(&mut self, text: &str, echo: bool) -> Result<String, FrameError> {
        send(
            self.stream,
            &PamReply::Prompt {
                text: text.into(),
                echo,
            },
        )
        .await?;
        match read(self.stream, &self.ctx).await? {
            PamRequest::Answer { text } => Ok(text.expose().to_owned()),
            _ => Err(FrameError::Closed),
        }
    }

    async fn authenticate(
        &mut self,
        context: &PamContext,
    ) -> Result<(PamOutcome, Option<String>), FrameError> {
        let source = match &context.remote_host {
            Some(host) => format!("pam {} from {host}", context.service),
            None => format!("pam {}", context.service),
        };
        let address = context.remote_host.as_deref().and_then(|h| h.parse().ok());
        let ctx = self.ctx.clone();
        let username = context.user.clone();
        let mode = context.mode;
        let password = match mode {
            PamMode::Full => Some(self.ask("Password: ", false).await?),
            PamMode::SecondFactor => None,
        };
        let step_source = source.clone();
        let first = tokio::task::spawn_blocking(
            move || -> Result<Option<(crate::model::User, Progress)>, String> {
                let (user, authentication) = match password {
                    Some(password) => {
                        let attempt = PasswordAttempt {
                            username: &username,
                            name_match: NameMatch::Exact,
                            password: &password,
                            address,
                            source: step_source.clone(),
                        };
                        match engine::check_password(&ctx, &attempt).map_err(|e| e.to_string())? {
                            PasswordVerdict::Accepted {
                                user,
                                authentication,
                            } => (*user, authentication),
                            PasswordVerdict::Rejected => return Ok(None),
                        }
                    }
                    // pam_unix checked the password; Postern adds the second factor.
                    None => match engine::find_user(&ctx, &username, NameMatch::Exact)
                        .map_err(|e| e.to_string())?
                    {
                        Some(user) if !user.disabled => {
                            let authentication = Authentication {
                                user_id: user.id,
                                auth_time: ctx.clock.unix_now(),
                                amr: vec!["pwd".into()],
                            };
                            (user, authentication)
                        }
                        _ => return Ok(None),
                    },
                };
                let demands = Demands {
                    rp_wants_mfa: false,
                    fresh_factor: true,
                    device_cookie: None,
                    can_enrol: false,
                    source: &step_source,
                };
                let progress = engine::after_password(&ctx, &user, authentication, &demands)
                    .map_err(|e| e.to_string())?;
                Ok(Some((user, progress)))
            },
        )
        .await;
        let (user, progress) = match first {
            Ok(Ok(Some(found))) => found,
            Ok(Ok(None)) => return Ok((PamOutcome::Denied, None)),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "PAM authentication failed");
                return Ok((PamOutcome::Unavailable, None));
            }
            Err(e) => {
                tracing::error!(error = %e, "PAM authentication task failed");
                return Ok((PamOutcome::Unavailable, None));
            }
        };
        let authentication = match progress {
            Progress::Done(authentication) | Progress::Remembered { authentication, .. } => {
                authentication
            }
            Progress::MustEnrol
            | Progress::Next(LoginStep::EnrolTotp { .. } | LoginStep::EnrolEmail { .. }) => {
                let message = format!(
                    "Two-step verification is required for your account. Set it up at {}/account, then log in again.",
                    self.ctx.issuer
                );
                return Ok((PamOutcome::MustEnrol, Some(message)));
            }
            Progress::Next(LoginStep::SecondFactor { authentication })
                if engine::devices::hosts::recognise(
                    &self.ctx,
                    user.id,
                    &context.service,
                    context.remote_host.as_deref(),
                )
                .unwrap_or(false) =>
            {
                let mut authentication = authentication;
                authentication.amr.push("mfa".into());
                authentication
            }
            Progress::Next(LoginStep::SecondFactor { authentication }) => {
                if user
                    .mfa
                    .as_ref()
                    .is_some_and(|m| m.method == MfaMethod::Email)
                {
                    let text = format!(
                        "A code was sent to {}.",
                        crate::mail::mask_address_ascii(&user.email)
                    );
                    send(self.stream, &PamReply::Info { text }).await?;
                }
                // Echo off, like a password: a code on screen is a code over a shoulder.
                let code = self.ask("Verification code: ", false).await?;
                let ctx = self.ctx.clone();
                let username = user.username.clone();
                let checked = tokio::task::spawn_blocking(move || {
                    let attempt = PasswordAttempt {
                        username: &username,
                        name_match: NameMatch::Exact,
                        password: "",
                        address,
                        source,
                    };
                    engine::check_code(&ctx, &authentication, &code, &attempt)
                })
                .await;
                match checked {
                    Ok(Ok(CodeVerdict::Accepted(authentication))) => {
                        let host = context.remote_host.as_deref();
                        if let Err(e) = engine::devices::hosts::remember(
                            &self.ctx,
                            user.id,
                            &context.service,
                            host,
                        ) {
                            tracing::warn!(error = %e, "could not remember a PAM host");
                        }
                        authentication
                    }
                    Ok(Ok(CodeVerdict::Rejected)) => return Ok((PamOutcome::Denied, None)),
                    _ => return Ok((PamOutcome::Unavailable, None)),
                }
            }
            Progress::Next(_) => return Ok((PamOutcome::Unavailable, None)),
        };
        let source = match &context.remote_host {
            Some(host) => format!("pam {} from {host}", context.service),
            None => format!("pam {}", context.service),
        };
        if let Err(e) = engine::record_sign_in(&self.ctx, &user, &authentication, source) {
            tracing::error!(error = %e, "could not record a PAM sign-in");
            return Ok((PamOutcome::Unavailable, None));
        }
        Ok((PamOutcome::Success, None))
    }
}
