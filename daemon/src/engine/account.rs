//! What users do for themselves on the account page: enrol or change their second factor,
//! turn it off (unless a role requires it), renew recovery codes, forget remembered devices,
//! change their password. The same rules as sign-in apply, and every change is audited.

use super::{EngineError, PasswordAttempt};
use crate::audit::Factor;
use crate::audit::{AuditAction, Outcome};
use crate::context::Context;
use crate::factors::{password, recovery, totp};
use crate::model::User;
use crate::model::mfa::mfa_required;
use crate::store::StoreError;

/// A fresh TOTP seed for enrolment from the account page, sealed for this user.
pub async fn new_totp_seed(ctx: &Context, user: &User) -> Vec<u8> {
    ctx.master_key.seal(
        &super::second_factor::enrolment_context(&user.id),
        &totp::new_seed(),
    )
}

/// Turns MFA off, unless a role of the user's requires it.
pub async fn disable_mfa(
    ctx: &Context,
    user: &User,
    attempt: &PasswordAttempt<'_>,
) -> Result<(), EngineError> {
    let roles = ctx.store.roles_of(user).await?;
    if mfa_required(&roles) {
        return Err(EngineError::Refused(
            "A role of yours requires two-step verification, so it cannot be turned off. You can change the method instead.".into(),
        ));
    }
    super::credentials::remove_second_factor(ctx, user.id).await?;
    ctx.record(attempt.event(
        ctx,
        AuditAction::MfaDisabled,
        &user.username,
        Outcome::Success,
    ))
    .await?;
    Ok(())
}

/// Replaces the user's recovery codes; returns the new ones, to show once.
pub async fn renew_recovery_codes(
    ctx: &Context,
    user: &User,
    attempt: &PasswordAttempt<'_>,
) -> Result<Option<Vec<String>>, StoreError> {
    if user.mfa.is_none() {
        return Ok(None);
    }
    let codes = recovery::generate();
    let hashes: Vec<[u8; 32]> = codes
        .iter()
        .map(|c| recovery::hash(&ctx.master_key, c))
        .collect();
    ctx.store
        .update_user(
            user.id,
            Box::new(|u| {
                if let Some(mfa) = u.mfa.as_mut() {
                    mfa.recovery_codes = hashes.clone();
                }
                Ok(())
            }),
        )
        .await?;
    ctx.store.flush().await?;
    ctx.record(attempt.event(
        ctx,
        AuditAction::RecoveryCodesRenewed,
        &user.username,
        Outcome::Success,
    ))
    .await?;
    Ok(Some(codes))
}

/// Changes the password after checking the current one; forgets remembered devices.
pub async fn change_password(
    ctx: &Context,
    user: &User,
    current: &str,
    new: &str,
    attempt: &PasswordAttempt<'_>,
) -> Result<(), EngineError> {
    let now = ctx.clock.unix_now();
    if ctx
        .limiter
        .is_locked(&user.username, attempt.address, now)
        .await?
        || !password::verify(current, &user.password_hash).await
    {
        ctx.record(
            attempt
                .event(
                    ctx,
                    AuditAction::PasswordChanged,
                    &user.username,
                    Outcome::Failure,
                )
                .detail("wrong current password")
                .factor(Factor::Password),
        )
        .await?;
        super::count_failure(ctx, &user.username, attempt, now).await?;
        return Err(EngineError::Refused(
            "Your current password is not right.".into(),
        ));
    }
    let settings = ctx.store.site_settings().await?;
    if let Err(problem) = password::check_policy(new, settings.password_min_length) {
        return Err(EngineError::Refused(format!(
            "The new password {}.",
            problem.message
        )));
    }
    let hash = password::hash_off_runtime(new).await?;
    super::credentials::set_password(ctx, user.id, hash).await?;
    ctx.record(
        attempt
            .event(
                ctx,
                AuditAction::PasswordChanged,
                &user.username,
                Outcome::Success,
            )
            .detail("by the user"),
    )
    .await?;
    Ok(())
}
