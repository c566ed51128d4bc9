//! One PAM login, step by step: the same engine as the web, rendered as prompts.

use super::{read, send, verdict};
use crate::context::Context;
use crate::engine;
use crate::engine::sign_in::{
    self, AccountStanding, Answer, Door, DoorKind, Outcome, PasskeyApproval, Refusal,
};
use crate::model::grants::LoginStep;
use postern_proto::frame::FrameError;
use postern_proto::pam::{PamContext, PamMode, PamOutcome, PamReply, PamRequest};
use std::sync::Arc;
use tokio::net::UnixStream;

/// "Not approved yet" answers before a login waiting for a passkey is refused.
const MAX_APPROVAL_CHECKS: u32 = 10;

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
                let outcome = self.account(&context).await;
                send(self.stream, &verdict(outcome, None)).await
            }
            PamRequest::Answer { .. } => Err(FrameError::Closed),
        }
    }

    async fn account(&self, context: &PamContext) -> PamOutcome {
        match sign_in::account_standing(&self.ctx, &context.user).await {
            Ok(AccountStanding::Usable) => PamOutcome::Success,
            Ok(AccountStanding::Disabled) => PamOutcome::AccountDisabled,
            Ok(AccountStanding::Locked) => PamOutcome::Denied,
            Ok(AccountStanding::Unknown) => PamOutcome::UserUnknown,
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

    /// The first answer of a full login: the password, or, where the site lets users sign in
    /// with an emailed code, an empty one to ask for a code instead.
    async fn first_factor(&mut self, username: &str) -> Result<Answer, FrameError> {
        let offered = self
            .ctx
            .store
            .site_settings()
            .await
            .is_ok_and(|s| s.email_code_sign_in);
        let prompt = match offered {
            true => "Password (or press Enter to get a code by email): ",
            false => "Password: ",
        };
        let password = self.ask(prompt, false).await?;
        Ok(match offered && password.is_empty() {
            true => Answer::EmailMeACode {
                username: username.to_owned(),
            },
            false => Answer::Password {
                username: username.to_owned(),
                password,
            },
        })
    }

    /// Relays one login: the engine decides every step (`engine::sign_in`); this asks what
    /// it asks and returns what it decides.
    async fn authenticate(
        &mut self,
        context: &PamContext,
    ) -> Result<(PamOutcome, Option<String>), FrameError> {
        let source = match &context.remote_host {
            Some(host) => format!("pam {} from {host}", context.service),
            None => format!("pam {}", context.service),
        };
        let door = Door {
            kind: DoorKind::Pam {
                service: context.service.clone(),
                remote_host: context.remote_host.clone(),
                second_factor_only: context.mode == PamMode::SecondFactor,
            },
            address: context.remote_host.as_deref().and_then(|h| h.parse().ok()),
            source,
            batch: crate::store::batch::Batch::now(),
        };
        let mut answer = match context.mode {
            PamMode::Full => self.first_factor(&context.user).await?,
            PamMode::SecondFactor => Answer::Identified {
                username: context.user.clone(),
            },
        };
        let mut step = LoginStep::Password;
        // How many times "not approved yet" is answered before the login is refused.
        let mut checks_left = MAX_APPROVAL_CHECKS;
        loop {
            let decided = async {
                let outcome = sign_in::answer(&self.ctx, &door, &step, answer).await?;
                // Where a code goes, for the info line before the prompt.
                let sent_to = match &outcome {
                    Outcome::Next(next) => sign_in::code_sent_to(&self.ctx, next).await?,
                    _ => None,
                };
                Ok::<_, engine::EngineError>((outcome, sent_to))
            }
            .await;
            let (outcome, sent_to) = match decided {
                Ok(decided) => decided,
                Err(e) => {
                    tracing::error!(error = %e, "PAM authentication failed");
                    return Ok((PamOutcome::Unavailable, None));
                }
            };
            match outcome {
                Outcome::Done(_) => return Ok((PamOutcome::Success, None)),
                // A role (or nothing else) requires a passkey, which this door cannot ask for.
                Outcome::Refused(Refusal::PasskeyRequired)
                    if matches!(step, LoginStep::Password | LoginStep::EmailedCode { .. }) =>
                {
                    let message = format!(
                        "Your account must sign in with a passkey, which this login cannot ask for. Sign in at {}/account instead.",
                        self.ctx.issuer
                    );
                    return Ok((PamOutcome::MustEnrol, Some(message)));
                }
                // One code a conversation: a wrong one ends it (and counts toward the lock).
                Outcome::Refused(
                    Refusal::Credentials
                    | Refusal::Code
                    | Refusal::Passkey
                    | Refusal::PasskeyRequired,
                ) => {
                    return Ok((PamOutcome::Denied, None));
                }
                Outcome::Refused(Refusal::MustEnrol | Refusal::CannotEnrol(_)) => {
                    let message = format!(
                        "Two-step verification is required for your account. Set it up at {}/account, then log in again.",
                        self.ctx.issuer
                    );
                    return Ok((PamOutcome::MustEnrol, Some(message)));
                }
                Outcome::Refused(Refusal::ApprovalRefused) => {
                    let message =
                        "The login was denied on the approval page, or its approval expired.";
                    return Ok((PamOutcome::Denied, Some(message.into())));
                }
                Outcome::Refused(Refusal::ApprovalPending) if checks_left > 0 => {
                    checks_left -= 1;
                    self.ask(
                        "Not approved yet. Press Enter once you have approved it: ",
                        true,
                    )
                    .await?;
                    answer = Answer::CheckApproval;
                }
                Outcome::Refused(Refusal::ApprovalPending) => {
                    return Ok((PamOutcome::Denied, None));
                }
                Outcome::Next(next @ LoginStep::EmailedCode { .. }) => {
                    // Mailed after the answer, as on the web.
                    let ctx = self.ctx.clone();
                    let mailed = next.clone();
                    tokio::spawn(async move {
                        if let Err(e) = sign_in::emailed_code::deliver(&ctx, &mailed).await {
                            tracing::error!(error = %e, "a sign-in code could not be sent");
                        }
                    });
                    let text = "If your account may sign in with a code, one was emailed to you.";
                    send(self.stream, &PamReply::Info { text: text.into() }).await?;
                    answer = Answer::Code(self.ask("Emailed code: ", false).await?);
                    step = next;
                }
                Outcome::Next(next @ LoginStep::PasswordAfterCode { .. }) => {
                    let text =
                        "An emailed code cannot be both steps of a login: your password too.";
                    send(self.stream, &PamReply::Info { text: text.into() }).await?;
                    answer = Answer::Password {
                        username: context.user.clone(),
                        password: self.ask("Password: ", false).await?,
                    };
                    step = next;
                }
                Outcome::Next(next @ LoginStep::SecondFactor { .. })
                    if matches!(
                        step,
                        LoginStep::Password
                            | LoginStep::EmailedCode { .. }
                            | LoginStep::PasswordAfterCode { .. }
                    ) =>
                {
                    if let Some(address) = sent_to {
                        let text = format!(
                            "A code was sent to {}.",
                            crate::mail::mask_address_ascii(&address)
                        );
                        send(self.stream, &PamReply::Info { text }).await?;
                    }
                    let approval = match sign_in::passkey_approval(&self.ctx, &next).await {
                        Ok(approval) => approval,
                        Err(e) => {
                            tracing::error!(error = %e, "PAM authentication failed");
                            return Ok((PamOutcome::Unavailable, None));
                        }
                    };
                    answer = match approval {
                        PasskeyApproval::Only => Answer::ApproveWithPasskey,
                        PasskeyApproval::Offered => {
                            // Echo off, like a password: a code on screen is a code over a
                            // shoulder.
                            let typed = self
                                .ask(
                                    "Verification code (or press Enter to approve with a passkey): ",
                                    false,
                                )
                                .await?;
                            if typed.trim().is_empty() {
                                Answer::ApproveWithPasskey
                            } else {
                                Answer::Code(typed)
                            }
                        }
                        PasskeyApproval::NotOffered => {
                            Answer::Code(self.ask("Verification code: ", false).await?)
                        }
                    };
                    step = next;
                }
                Outcome::Next(next @ LoginStep::AwaitingApproval { .. }) => {
                    if let LoginStep::AwaitingApproval { user_code, .. } = &next {
                        let text = format!(
                            "Approve this login with your passkey at {}/approve with the code {user_code}.",
                            self.ctx.issuer
                        );
                        send(self.stream, &PamReply::Info { text }).await?;
                    }
                    self.ask("Press Enter once you have approved it: ", true)
                        .await?;
                    answer = Answer::CheckApproval;
                    step = next;
                }
                // Nothing else can follow at this door (it cannot enrol, and asks one code).
                Outcome::Next(_)
                | Outcome::Enrolled { .. }
                | Outcome::Resent(_)
                | Outcome::Refused(Refusal::OutOfStep) => {
                    tracing::error!("the PAM door was given a step it cannot show");
                    return Ok((PamOutcome::Unavailable, None));
                }
            }
        }
    }
}
