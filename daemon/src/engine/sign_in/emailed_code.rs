//! Signing in with an emailed code instead of the password (site setting `sign_in.email_code`,
//! off by default). The code follows the rules of emailed second-factor codes (the site's
//! lifetime, single use, void after 5 wrong tries, one a minute, wrong ones counted by the
//! brute-force limits), and the answer is the same whether or not the account exists: the step
//! that waits for the code looks alike, and the mail goes out after the answer (`deliver`, which
//! the door runs in the background).
//!
//! The code replaces the password, not the second factor. An emailed code is never both
//! factors of one sign-in: a user whose second factor is email, or who must have a second
//! factor and has none, is asked for their password next; a user with an app or a passkey is
//! asked for it as after a password. `amr` says `email` for the code (RFC 8176 has no value for
//! it), then `pwd`, `otp`, `mfa` as the rest of the sign-in proves.

use super::{Door, DoorKind, Outcome, Refusal, after_first_factor, finish, remember, user_of};
use crate::audit::{AuditAction, Factor, Outcome as AuditOutcome};
use crate::context::Context;
use crate::engine::{EngineError, PasswordVerdict, email_code, find_user};
use crate::model::grants::{Authentication, CodePurpose, LoginStep};
use crate::model::mfa::{mfa_required, phishing_resistant_required};
use crate::model::{MfaMethod, User, UserId};

/// The `amr` value of an emailed code that stood for the password.
pub const AMR: &str = "email";

/// "Email me a code" for the account `username` names. Counts against the client's address
/// (each request, as a password reset does, so an address cannot mail codes or probe without
/// end); looks the account up, and answers with the step that waits for the code.
pub(super) async fn start(
    ctx: &Context,
    door: &Door,
    username: &str,
) -> Result<Outcome, EngineError> {
    if !ctx.store.site_settings().await?.email_code_sign_in {
        return Ok(Outcome::Refused(Refusal::OutOfStep));
    }
    let username = username.trim();
    if username.is_empty() {
        return Ok(Outcome::Refused(Refusal::Credentials));
    }
    let now = ctx.clock.unix_now();
    if let Some(address) = door.address {
        if ctx.limiter.address_locked(address, now).await? {
            return Ok(Outcome::Refused(Refusal::Credentials));
        }
        ctx.limiter.record_address_failure(address, now).await?;
    }
    let user = find_user(ctx, username, door.name_match()).await?;
    let eligible = user.filter(|u| !u.disabled && u.invited_at.is_none() && !u.email.is_empty());
    Ok(Outcome::Next(LoginStep::EmailedCode {
        username: username.to_owned(),
        user_id: eligible.map(|u| u.id),
    }))
}

/// Mails the code the `EmailedCode` step waits for, if it names an account (at most one a
/// minute). The door runs this after answering, so the answer's timing says nothing.
pub async fn deliver(ctx: &Context, step: &LoginStep) -> Result<(), EngineError> {
    let LoginStep::EmailedCode {
        user_id: Some(user_id),
        ..
    } = step
    else {
        return Ok(());
    };
    let Some(user) = ctx.store.user(*user_id).await? else {
        return Ok(());
    };
    let sent = email_code::send(ctx, &user, CodePurpose::FirstFactor).await?;
    tracing::debug!(?sent, "a sign-in code was asked for");
    Ok(())
}

/// The code typed at the `EmailedCode` step. Wrong codes (and any code for an account that
/// does not exist) count against the account and the address, like wrong passwords.
pub(super) async fn check(
    ctx: &Context,
    door: &Door,
    username: &str,
    user_id: Option<UserId>,
    code: &str,
) -> Result<Outcome, EngineError> {
    let now = ctx.clock.unix_now();
    let user = match user_id {
        Some(id) => ctx.store.user(id).await?,
        None => None,
    };
    let account = user
        .as_ref()
        .map_or_else(|| username.to_owned(), |u| u.username.clone());
    let account = account.as_str();
    let attempt = door.attempt(account, "");
    if ctx.limiter.is_locked(account, door.address, now).await? {
        return Ok(Outcome::Refused(Refusal::Code));
    }
    let right = match &user {
        Some(user) if !user.disabled => {
            email_code::verify(ctx, user, CodePurpose::FirstFactor, code).await?
        }
        _ => false,
    };
    let Some(user) = user.filter(|_| right) else {
        ctx.record(
            attempt
                .event(
                    ctx,
                    AuditAction::SignInFailed,
                    account,
                    AuditOutcome::Failure,
                )
                .detail("wrong or expired emailed sign-in code")
                .factor(Factor::EmailCode),
        )
        .await?;
        crate::engine::count_failure(ctx, account, &attempt, now).await?;
        return Ok(Outcome::Refused(Refusal::Code));
    };
    let authentication = Authentication {
        user_id: user.id,
        auth_time: now,
        amr: vec![AMR.into()],
    };
    after_code(ctx, door, user, authentication).await
}

/// After the code: what the second factor will be, never the mailbox again.
async fn after_code(
    ctx: &Context,
    door: &Door,
    user: User,
    authentication: Authentication,
) -> Result<Outcome, EngineError> {
    let settings = ctx.store.site_settings().await?;
    let roles = ctx.store.roles_of(&user).await?;
    let rp_wants_phishing_resistant = matches!(
        door.kind,
        DoorKind::Web {
            rp_wants_phishing_resistant: true,
            ..
        }
    );
    let rp_wants_mfa = matches!(
        door.kind,
        DoorKind::Web {
            rp_wants_mfa: true,
            ..
        }
    );
    let usable = user.mfa.as_ref().filter(|m| m.is_usable(&settings));
    // Only a passkey will do, or the second factor is an app or a passkey: as after a password.
    if phishing_resistant_required(&roles)
        || rp_wants_phishing_resistant
        || usable.is_some_and(|m| m.method != MfaMethod::Email)
    {
        return after_first_factor(ctx, door, user, authentication).await;
    }
    if mfa_required(&roles) || rp_wants_mfa || user.mfa.is_some() {
        return Ok(Outcome::Next(LoginStep::PasswordAfterCode {
            authentication,
        }));
    }
    // No second factor wanted: the code alone, as a password alone would be.
    finish(ctx, door, user, authentication, None).await
}

/// The password typed at the `PasswordAfterCode` step. For a user whose second factor is
/// email, the code and the password are the two factors; anyone else goes on as after a
/// password (an enrolment, for one who must have a second factor).
pub(super) async fn password_after_code(
    ctx: &Context,
    door: &Door,
    proven: &Authentication,
    password: &str,
) -> Result<Outcome, EngineError> {
    let user = user_of(ctx, proven).await?;
    let attempt = door.attempt(&user.username, password);
    let PasswordVerdict::Accepted {
        user,
        authentication,
    } = crate::engine::check_password(ctx, &attempt).await?
    else {
        return Ok(Outcome::Refused(Refusal::Credentials));
    };
    let mut authentication = Authentication {
        amr: vec![AMR.into(), "pwd".into()],
        ..authentication
    };
    let settings = ctx.store.site_settings().await?;
    let email_is_second = user
        .mfa
        .as_ref()
        .is_some_and(|m| m.is_usable(&settings) && m.method == MfaMethod::Email);
    if email_is_second {
        authentication.amr.push("mfa".into());
        let device = remember(ctx, door, &user).await?;
        return finish(ctx, door, *user, authentication, device).await;
    }
    after_first_factor(ctx, door, *user, authentication).await
}
