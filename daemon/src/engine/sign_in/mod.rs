//! One sign-in, for every door. A door says who it is ([`Door`]: the web with a relying
//! party's demands, or PAM with its service, host and mode), shows the current step, and feeds
//! the user's [`Answer`] here; [`answer`] applies every policy (disabled and locked accounts,
//! MFA required by a role, remembered browsers and hosts, brute-force counting, the audit
//! trail, the completed sign-in's record) and says what comes next. So "what decides a PAM
//! sign-in?" and "what decides a web sign-in?" have one answer: this file.

mod door;
pub mod flow;
mod questions;

pub use door::{Answer, DeviceCookie, Door, DoorKind, Finished, Outcome, Refusal};
pub use questions::{
    AccountStanding, PasskeyApproval, account_standing, code_sent_to, passkey_approval,
};

use super::approvals::Poll;
use super::email_code;
use super::{CodeFor, CodeVerdict, Demands, EngineError, PasswordVerdict, Progress, devices};
use crate::audit::{AuditAction, AuditEvent, Factor, Outcome as AuditOutcome};
use crate::context::Context;
use crate::model::User;
use crate::model::device::ApprovalRequest;
use crate::model::grants::{Authentication, CodePurpose, LoginStep};

/// Applies `answer` to a sign-in at `step`. Blocking (Argon2id, the store): call it off the
/// async runtime.
pub async fn answer(
    ctx: &Context,
    door: &Door,
    step: &LoginStep,
    answer: Answer,
) -> Result<Outcome, EngineError> {
    Ok(answer_about(ctx, door, step, None, answer).await?.0)
}

/// [`answer`], with the user the sign-in is about as the answer found them, where it read
/// them: the page of the next step shows them without reading them again. `read` is the user
/// of the step as the caller read them just before (with the flow), if it did.
pub async fn answer_about(
    ctx: &Context,
    door: &Door,
    step: &LoginStep,
    read: Option<User>,
    answer: Answer,
) -> Result<(Outcome, Option<User>), EngineError> {
    let (LoginStep::Password, Answer::Password { username, password }) = (step, &answer) else {
        let known = Known(read);
        return Ok((answer_step(ctx, door, step, known, answer).await?, None));
    };
    match super::check_password(ctx, &door.attempt(username, password)).await? {
        PasswordVerdict::Accepted {
            user,
            authentication,
        } => {
            let found = (*user).clone();
            let outcome = after_first_factor(ctx, door, *user, authentication).await?;
            Ok((outcome, Some(found)))
        }
        PasswordVerdict::Rejected => Ok((Outcome::Refused(Refusal::Credentials), None)),
    }
}

/// Every answer but a password at the password step.
async fn answer_step(
    ctx: &Context,
    door: &Door,
    step: &LoginStep,
    known: Known,
    answer: Answer,
) -> Result<Outcome, EngineError> {
    match (step, answer) {
        (LoginStep::Password, Answer::EmailMeACode { username }) => {
            emailed_code::start(ctx, door, &username).await
        }
        (LoginStep::EmailedCode { username, user_id }, Answer::Code(code)) => {
            emailed_code::check(ctx, door, username, *user_id, &code).await
        }
        // The door mails another (at most one a minute) after answering.
        (step @ LoginStep::EmailedCode { .. }, Answer::Resend) => Ok(Outcome::Next(step.clone())),
        (LoginStep::PasswordAfterCode { authentication }, Answer::Password { password, .. }) => {
            emailed_code::password_after_code(ctx, door, authentication, &password).await
        }
        (LoginStep::Password, Answer::Passwordless { challenge, answer })
            if matches!(door.kind, DoorKind::Web { .. }) =>
        {
            let origin = super::passkeys::Origin {
                address: door.address,
                door: door.audit_door(),
                source: &door.source,
            };
            match super::passkeys::check_passwordless(ctx, &challenge, &answer, origin).await? {
                Some((user, authentication)) => finish(ctx, door, user, authentication, None).await,
                None => Ok(Outcome::Refused(Refusal::Passkey)),
            }
        }
        (LoginStep::Password, Answer::Identified { username })
            if matches!(
                door.kind,
                DoorKind::Pam {
                    second_factor_only: true,
                    ..
                }
            ) =>
        {
            let now = ctx.clock.unix_now();
            let found = super::find_user(ctx, &username, door.name_match()).await?;
            let Some(user) = found.filter(|user| !user.disabled) else {
                return Ok(Outcome::Refused(Refusal::Credentials));
            };
            if ctx
                .limiter
                .is_locked(&user.username, door.address, now)
                .await?
            {
                return Ok(Outcome::Refused(Refusal::Credentials));
            }
            let authentication = Authentication {
                user_id: user.id,
                auth_time: now,
                amr: vec!["pwd".into()],
            };
            after_first_factor(ctx, door, user, authentication).await
        }
        (
            LoginStep::SecondFactor {
                passkey_only: true, ..
            },
            Answer::Code(_) | Answer::Resend,
        ) => Ok(Outcome::Refused(Refusal::PasskeyRequired)),
        (LoginStep::SecondFactor { authentication, .. }, Answer::Code(code)) => {
            let mut user = known.user_of(ctx, authentication).await?;
            let username = user.username.clone();
            let attempt = door.attempt(&username, "");
            let verdict = super::check_code(
                ctx,
                &mut user,
                authentication,
                &code,
                &attempt,
                CodeFor::SignIn,
            );
            match verdict.await? {
                CodeVerdict::Accepted(authentication) => {
                    let device = remember(ctx, door, &user).await?;
                    finish(ctx, door, user, authentication, device).await
                }
                CodeVerdict::Rejected => Ok(Outcome::Refused(Refusal::Code)),
            }
        }
        (LoginStep::SecondFactor { authentication, .. }, Answer::Passkey { challenge, answer }) => {
            let user = known.user_of(ctx, authentication).await?;
            let attempt = door.attempt(&user.username, "");
            match super::passkeys::check_sign_in(ctx, authentication, &challenge, &answer, &attempt)
                .await?
            {
                CodeVerdict::Accepted(authentication) => {
                    let device = remember(ctx, door, &user).await?;
                    finish(ctx, door, user, authentication, device).await
                }
                CodeVerdict::Rejected => Ok(Outcome::Refused(Refusal::Passkey)),
            }
        }
        (LoginStep::SecondFactor { authentication, .. }, Answer::ApproveWithPasskey) => {
            let DoorKind::Pam {
                service,
                remote_host,
                ..
            } = &door.kind
            else {
                return Ok(Outcome::Refused(Refusal::OutOfStep));
            };
            let user = known.user_of(ctx, authentication).await?;
            let settings = ctx.store.site_settings().await?;
            if super::passkeys::usable(ctx, &settings, &user).is_empty() {
                return Ok(Outcome::Refused(Refusal::OutOfStep));
            }
            let started = super::approvals::start(
                ctx,
                ApprovalRequest::Login {
                    user_id: user.id,
                    username: user.username.clone(),
                    service: service.clone(),
                    host: super::approvals::host_name(),
                    remote_host: remote_host.clone(),
                },
            )
            .await?;
            Ok(Outcome::Next(LoginStep::AwaitingApproval {
                authentication: authentication.clone(),
                user_code: started.user_code,
                device_code: started.device_code,
            }))
        }
        (
            LoginStep::AwaitingApproval {
                authentication,
                device_code,
                ..
            },
            Answer::CheckApproval,
        ) => match super::approvals::poll(ctx, device_code, None).await? {
            Poll::Approved {
                request: ApprovalRequest::Login { user_id, .. },
                authentication: proof,
            } if user_id == authentication.user_id => {
                let user = known.user_of(ctx, authentication).await?;
                let mut authentication = authentication
                    .clone()
                    .with_second_factor(ctx.clock.unix_now());
                // The passkey's own RFC 8176 values, as at the web's second step.
                authentication.amr.retain(|m| m != "otp");
                for method in proof.amr {
                    if !authentication.amr.contains(&method) {
                        authentication.amr.push(method);
                    }
                }
                finish(ctx, door, user, authentication, None).await
            }
            Poll::Pending | Poll::SlowDown => Ok(Outcome::Refused(Refusal::ApprovalPending)),
            Poll::Approved { .. } | Poll::Denied | Poll::Expired => {
                Ok(Outcome::Refused(Refusal::ApprovalRefused))
            }
        },
        (LoginStep::SecondFactor { authentication, .. }, Answer::Resend) => {
            let user = known.user_of(ctx, authentication).await?;
            Ok(Outcome::Resent(
                email_code::send(ctx, &user, CodePurpose::SignIn).await?,
            ))
        }
        (
            LoginStep::EnrolPasskey { authentication },
            Answer::AddPasskey {
                challenge,
                name,
                answer,
            },
        )
        | (
            LoginStep::EnrolTotp { authentication, .. },
            Answer::AddPasskey {
                challenge,
                name,
                answer,
            },
        ) => {
            let user = known.user_of(ctx, authentication).await?;
            let actor = super::passkeys::Actor {
                name: &user.username,
                door: door.audit_door(),
                source: &door.source,
            };
            let added = super::passkeys::finish_registration(
                ctx, user.id, &challenge, &name, &answer, actor,
            )
            .await;
            // Added: the user signs in with it now, so the sign-in proves the new passkey; only
            // it, when a role or the application demands one (not when the user chose it).
            let roles = ctx.store.roles_of(&user).await?;
            let demanded = crate::model::mfa::phishing_resistant_required(&roles)
                || matches!(
                    door.kind,
                    DoorKind::Web {
                        rp_wants_phishing_resistant: true,
                        ..
                    }
                );
            let step = LoginStep::SecondFactor {
                authentication: authentication.clone(),
                passkey_only: demanded,
            };
            match added {
                Ok(added) => Ok(match added.recovery_codes {
                    Some(recovery_codes) => Outcome::Enrolled {
                        step,
                        recovery_codes,
                        device: None,
                    },
                    None => Outcome::Next(step),
                }),
                Err(EngineError::Refused(message)) => {
                    Ok(Outcome::Refused(Refusal::CannotEnrol(message)))
                }
                Err(e) => Err(e),
            }
        }
        (LoginStep::EnrolTotp { authentication, .. }, Answer::ChoosePasskey) => {
            let settings = ctx.store.site_settings().await?;
            if !super::passkeys::offered(ctx, &settings) {
                return Ok(Outcome::Refused(Refusal::CannotEnrol(
                    "This site does not offer passkeys.".into(),
                )));
            }
            Ok(Outcome::Next(LoginStep::EnrolPasskey {
                authentication: authentication.clone(),
            }))
        }
        (LoginStep::EnrolTotp { authentication, .. }, Answer::ChooseEmail) => {
            let user = known.user_of(ctx, authentication).await?;
            match super::choose_email(ctx, &user, authentication.clone()).await {
                Ok(step) => Ok(Outcome::Next(step)),
                Err(EngineError::CannotEnrol(message)) => {
                    Ok(Outcome::Refused(Refusal::CannotEnrol(message)))
                }
                Err(e) => Err(e),
            }
        }
        (
            LoginStep::EnrolTotp {
                authentication,
                sealed_seed,
            },
            Answer::Code(code),
        ) => {
            let user = known.user_of(ctx, authentication).await?;
            let attempt = door.attempt(&user.username, "");
            let enrolled =
                super::confirm_totp_enrolment(ctx, authentication, sealed_seed, &code, &attempt)
                    .await?;
            enrolled_outcome(ctx, door, &user, enrolled).await
        }
        (LoginStep::EnrolEmail { authentication }, Answer::Resend) => {
            let user = known.user_of(ctx, authentication).await?;
            Ok(Outcome::Resent(
                email_code::send(ctx, &user, CodePurpose::Enrolment).await?,
            ))
        }
        (LoginStep::EnrolEmail { authentication }, Answer::Code(code)) => {
            let user = known.user_of(ctx, authentication).await?;
            let attempt = door.attempt(&user.username, "");
            let enrolled =
                super::confirm_email_enrolment(ctx, authentication, &code, &attempt).await?;
            enrolled_outcome(ctx, door, &user, enrolled).await
        }
        (LoginStep::Enrolled { authentication }, Answer::Continue) => {
            let user = known.user_of(ctx, authentication).await?;
            finish(ctx, door, user, authentication.clone(), None).await
        }
        _ => Ok(Outcome::Refused(Refusal::OutOfStep)),
    }
}

/// Takes a signed-in user whose session proves less than their policy now requires (see
/// `session_policy`) to the step a right password leads to, with the remembered-browser
/// shortcut off: the missing step is what policy asks for.
pub async fn resume(
    ctx: &Context,
    door: &Door,
    user: User,
    authentication: Authentication,
) -> Result<Outcome, EngineError> {
    after_first_factor(ctx, door, user, authentication).await
}

/// After the first factor (a password, or pam_unix's word for it): done, a second factor, an
/// enrolment, or a refusal, by the user's policy and the door's demands.
async fn after_first_factor(
    ctx: &Context,
    door: &Door,
    user: User,
    authentication: Authentication,
) -> Result<Outcome, EngineError> {
    let demands = match &door.kind {
        DoorKind::Web {
            rp_wants_mfa,
            rp_wants_phishing_resistant,
            fresh_factor,
            device_cookie,
            ..
        } => Demands {
            rp_wants_mfa: *rp_wants_mfa,
            rp_wants_phishing_resistant: *rp_wants_phishing_resistant,
            fresh_factor: *fresh_factor,
            device_cookie: device_cookie.as_deref(),
            can_enrol: true,
            can_use_passkey: true,
            can_approve_with_passkey: false,
            door: door.audit_door(),
            source: &door.source,
        },
        DoorKind::Pam {
            service,
            remote_host,
            ..
        } => {
            // A host that passed the second factor recently (`pam.remember`) skips it, before
            // any code is mailed.
            let settings = ctx.store.site_settings().await?;
            let enrolled = user.mfa.as_ref().is_some_and(|m| m.is_usable(&settings));
            if enrolled
                && devices::hosts::recognise(ctx, user.id, service, remote_host.as_deref()).await?
            {
                remembered_used(ctx, door, &user, Factor::RememberedHost).await?;
                let mut authentication = authentication;
                authentication.amr.push("mfa".into());
                return finish(ctx, door, user, authentication, None).await;
            }
            Demands {
                rp_wants_mfa: false,
                fresh_factor: true,
                device_cookie: None,
                can_enrol: false,
                can_use_passkey: false,
                can_approve_with_passkey: true,
                rp_wants_phishing_resistant: false,
                door: door.audit_door(),
                source: &door.source,
            }
        }
    };
    let progress = match super::after_password(ctx, &user, authentication, &demands).await {
        Ok(progress) => progress,
        Err(EngineError::CannotEnrol(message)) => {
            return Ok(Outcome::Refused(Refusal::CannotEnrol(message)));
        }
        Err(e) => return Err(e),
    };
    match progress {
        Progress::Done(authentication) => finish(ctx, door, user, authentication, None).await,
        Progress::Remembered {
            authentication,
            window,
        } => {
            // The window slid: the cookie lives as long again.
            let device = match &door.kind {
                DoorKind::Web {
                    device_cookie: Some(value),
                    ..
                } => Some(DeviceCookie {
                    value: value.clone(),
                    max_age: window,
                }),
                _ => None,
            };
            finish(ctx, door, user, authentication, device).await
        }
        Progress::Next(step) => Ok(Outcome::Next(step)),
        Progress::MustEnrol => Ok(Outcome::Refused(Refusal::MustEnrol)),
        Progress::PasskeyOnly => Ok(Outcome::Refused(Refusal::PasskeyRequired)),
    }
}

async fn enrolled_outcome(
    ctx: &Context,
    door: &Door,
    user: &User,
    enrolled: Option<(Authentication, Vec<String>)>,
) -> Result<Outcome, EngineError> {
    let Some((authentication, recovery_codes)) = enrolled else {
        return Ok(Outcome::Refused(Refusal::Code));
    };
    Ok(Outcome::Enrolled {
        device: remember(ctx, door, user).await?,
        step: LoginStep::Enrolled { authentication },
        recovery_codes,
    })
}

/// After a second factor: the browser (or the PAM host, with `pam.remember`) is remembered.
async fn remember(
    ctx: &Context,
    door: &Door,
    user: &User,
) -> Result<Option<DeviceCookie>, EngineError> {
    match &door.kind {
        DoorKind::Web { user_agent, .. } => {
            Ok(
                devices::remember(ctx, user.id, user_agent, door.address, &door.batch)
                    .await?
                    .map(|(value, max_age)| DeviceCookie { value, max_age }),
            )
        }
        DoorKind::Pam {
            service,
            remote_host,
            ..
        } => {
            devices::hosts::remember(ctx, user.id, service, remote_host.as_deref()).await?;
            Ok(None)
        }
    }
}

async fn finish(
    ctx: &Context,
    door: &Door,
    user: User,
    authentication: Authentication,
    device: Option<DeviceCookie>,
) -> Result<Outcome, EngineError> {
    let user = super::record_sign_in(
        ctx,
        &user,
        &authentication,
        door.audit_door(),
        door.source.clone(),
        &door.batch,
    )
    .await?;
    let browser = match &door.kind {
        DoorKind::Web {
            browser_cookie,
            user_agent,
            ..
        } => {
            let label = devices::short_label(user_agent);
            let cookie = browser_cookie.as_deref();
            Some(super::known_browsers::signed_in(ctx, &user, cookie, &label, door).await?)
        }
        DoorKind::Pam { .. } => None,
    };
    Ok(Outcome::Done(Box::new(Finished {
        user,
        authentication,
        device,
        browser,
    })))
}

async fn remembered_used(
    ctx: &Context,
    door: &Door,
    user: &User,
    factor: Factor,
) -> Result<(), EngineError> {
    ctx.record(
        AuditEvent::new(
            ctx.clock.unix_now(),
            &user.username,
            AuditAction::RememberedDeviceUsed,
            door.audit_door(),
            door.source.clone(),
            AuditOutcome::Success,
        )
        .subject(&user.username)
        .factor(factor),
    )
    .await?;
    Ok(())
}

/// The user a step is about; gone means the sign-in cannot go on.
async fn user_of(ctx: &Context, authentication: &Authentication) -> Result<User, EngineError> {
    Known(None).user_of(ctx, authentication).await
}

/// The user of a step as the caller read them, if it did.
struct Known(Option<User>);

impl Known {
    /// The user a step is about (as read, or read now); gone means the sign-in cannot go on.
    async fn user_of(
        self,
        ctx: &Context,
        authentication: &Authentication,
    ) -> Result<User, EngineError> {
        match self.0 {
            Some(user) if user.id == authentication.user_id => Ok(user),
            _ => ctx
                .store
                .user(authentication.user_id)
                .await?
                .ok_or(EngineError::UserGone),
        }
    }
}

pub mod emailed_code;
#[cfg(test)]
mod emailed_code_tests;
#[cfg(test)]
mod passkey_required_tests;
#[cfg(test)]
mod tests;
