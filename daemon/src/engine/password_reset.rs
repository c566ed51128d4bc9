//! Forgotten passwords. The user names their account (username or email address); if it
//! exists, a code is mailed to it, and the answer is the same either way (the lookup and the
//! mail happen after the answer, so its timing says nothing). The code, with the new password,
//! resets it; a user who has a second factor must also give it (an app code or a recovery
//! code; an email-only user, a recovery code, since their mailbox is already the code), so a
//! reset is never weaker than a sign-in. A reset ends every session and refresh token of the
//! user and forgets remembered browsers and hosts; it does not sign anyone in.

use super::{EngineError, NameMatch, PasswordAttempt};
use super::{
    credentials, email_code,
    second_factor::{CodeFor, CodeVerdict},
};
use crate::audit::{AuditAction, AuditDoor, AuditEvent, Outcome};
use crate::context::Context;
use crate::factors::password;
use crate::model::User;
use crate::model::grants::{Authentication, CodePurpose};
use crate::store::batch::Batch;
use std::net::IpAddr;

const OFF: &str = "This site does not let users reset their own password. Ask your administrator.";
const NOT_ACCEPTED: &str =
    "That code is not right, or it expired. Check the latest email, or ask for a new code.";
const SECOND_FACTOR_REFUSED: &str = "Your authenticator code or recovery code was not accepted. Ask for a new emailed code and try again.";

/// Where a request came from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub address: Option<IpAddr>,
    pub source: &'a str,
}

/// Whether the site offers self-service reset.
pub async fn offered(ctx: &Context) -> Result<bool, EngineError> {
    Ok(ctx.store.site_settings().await?.password_reset_enabled)
}

/// Mails a reset code to the account `identifier` names, if one does (and it may reset: not
/// disabled, not still invited). Says nothing about which: the caller answers the same either
/// way, and should not wait for this. Each request counts against the address, so an address
/// cannot mail codes (or probe) without end; one code a minute at most goes to an account.
pub async fn request(
    ctx: &Context,
    identifier: &str,
    origin: Origin<'_>,
) -> Result<(), EngineError> {
    let now = ctx.clock.unix_now();
    if !offered(ctx).await? {
        return Ok(());
    }
    if let Some(address) = origin.address {
        if ctx.limiter.address_locked(address, now).await? {
            return Ok(());
        }
        ctx.limiter.record_address_failure(address, now).await?;
    }
    let Some(user) = find(ctx, identifier).await? else {
        return Ok(());
    };
    let sent = email_code::send(ctx, &user, CodePurpose::PasswordReset).await?;
    record(
        ctx,
        AuditAction::PasswordResetRequested,
        &user.username,
        origin,
        &format!("{sent:?}"),
    )
    .await
}

/// Resets the password of the account `identifier` names, with the mailed `code`, the user's
/// second factor when they have one, and `new_password` (checked first: a refused password
/// spends nothing). Wrong codes count against the account and the address.
pub async fn complete(
    ctx: &Context,
    identifier: &str,
    code: &str,
    second_factor: &str,
    new_password: &str,
    origin: Origin<'_>,
) -> Result<(), EngineError> {
    let now = ctx.clock.unix_now();
    if !offered(ctx).await? {
        return Err(EngineError::Refused(OFF.into()));
    }
    let settings = ctx.store.site_settings().await?;
    password::check_policy(new_password, settings.password_min_length)
        .map_err(|e| EngineError::Refused(e.to_string()))?;
    let user = find(ctx, identifier).await?;
    let account = user
        .as_ref()
        .map_or_else(|| identifier.to_owned(), |u| u.username.clone());
    let account = account.as_str();
    if ctx.limiter.is_locked(account, origin.address, now).await? {
        return Err(EngineError::Refused(
            "Too many wrong codes. Wait a while, then try again.".into(),
        ));
    }
    let right = match &user {
        Some(user) => email_code::verify(ctx, user, CodePurpose::PasswordReset, code).await?,
        None => false,
    };
    let Some(mut user) = user.filter(|_| right) else {
        ctx.limiter
            .record_failure(account, origin.address, now)
            .await?;
        record(
            ctx,
            AuditAction::PasswordResetRefused,
            account,
            origin,
            "wrong or expired code",
        )
        .await?;
        return Err(EngineError::Refused(NOT_ACCEPTED.into()));
    };
    if user.mfa.is_some() {
        // As at the second step of a sign-in: an app code or a recovery code, spent if right,
        // counted if wrong. (An email-only user has no live sign-in code here: the reset's
        // code replaced it, so only a recovery code does.)
        let proof = Authentication {
            user_id: user.id,
            auth_time: now,
            amr: Vec::new(),
        };
        let username = user.username.clone();
        let attempt = PasswordAttempt {
            username: &username,
            name_match: NameMatch::Exact,
            password: "",
            address: origin.address,
            source: origin.source.to_owned(),
            door: AuditDoor::Web,
            batch: crate::store::batch::Batch::now(),
        };
        let verdict = super::check_code(
            ctx,
            &mut user,
            &proof,
            second_factor,
            &attempt,
            CodeFor::Proof,
        )
        .await?;
        if !matches!(verdict, CodeVerdict::Accepted(_)) {
            record(
                ctx,
                AuditAction::PasswordResetRefused,
                &user.username,
                origin,
                "second factor refused",
            )
            .await?;
            return Err(EngineError::Refused(SECOND_FACTOR_REFUSED.into()));
        }
    }
    let hash = password::hash_off_runtime(new_password).await?;
    credentials::set_password(ctx, user.id, hash).await?;
    // Every session and refresh token of theirs ends: whoever else got in, is out.
    ctx.store
        .update_user(
            user.id,
            Box::new(|u| {
                u.session_generation += 1;
                Ok(())
            }),
        )
        .await?;
    ctx.store.flush().await?;
    ctx.limiter
        .record_success(&user.username, &Batch::now())
        .await?;
    record(
        ctx,
        AuditAction::PasswordReset,
        &user.username,
        origin,
        "sessions and refresh tokens ended",
    )
    .await
}

/// The account a username or an email address names, if it may reset its password.
async fn find(ctx: &Context, identifier: &str) -> Result<Option<User>, EngineError> {
    let identifier = identifier.trim();
    let user = if identifier.contains('@') {
        by_email(ctx, identifier).await?
    } else {
        super::find_user(ctx, identifier, NameMatch::IgnoringCase).await?
    };
    Ok(user.filter(|u| !u.disabled && u.invited_at.is_none()))
}

/// The one user with this address (case ignored); none when several share it. A walk over
/// the users, page by page: there is no index by address yet.
async fn by_email(ctx: &Context, address: &str) -> Result<Option<User>, EngineError> {
    let mut found = None;
    let mut after: Option<String> = None;
    loop {
        let (users, next) = ctx.store.users_page(after.as_deref(), 500).await?;
        for user in users {
            if user.email.eq_ignore_ascii_case(address) {
                if found.is_some() {
                    return Ok(None);
                }
                found = Some(user);
            }
        }
        match next {
            Some(next) => after = Some(next),
            None => return Ok(found),
        }
    }
}

async fn record(
    ctx: &Context,
    action: AuditAction,
    subject: &str,
    origin: Origin<'_>,
    detail: &str,
) -> Result<(), EngineError> {
    let outcome = match action {
        AuditAction::PasswordResetRefused => Outcome::Failure,
        _ => Outcome::Success,
    };
    ctx.record(
        AuditEvent::new(
            ctx.clock.unix_now(),
            subject,
            action,
            AuditDoor::Web,
            origin.source,
            outcome,
        )
        .subject(subject)
        .detail(detail),
    )
    .await?;
    Ok(())
}
