//! What a door asks about a sign-in besides feeding it answers: whether an account may be used
//! now, whether a step's second factor may be approved with a passkey, where a step's code was
//! mailed.

use super::user_of;
use crate::context::Context;
use crate::engine::{EngineError, NameMatch};
use crate::model::MfaMethod;
use crate::model::grants::LoginStep;

/// Whether an account may be used right now (PAM's account management, after
/// authentication): the exact login name, not disabled, not locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStanding {
    Usable,
    Disabled,
    Locked,
    Unknown,
}

pub async fn account_standing(
    ctx: &Context,
    login_name: &str,
) -> Result<AccountStanding, EngineError> {
    let now = ctx.clock.unix_now();
    Ok(
        match crate::engine::find_user(ctx, login_name, NameMatch::Exact).await? {
            None => AccountStanding::Unknown,
            Some(user) if user.disabled => AccountStanding::Disabled,
            Some(user)
                if ctx
                    .limiter
                    .account_locked_until(&user.username, now)
                    .await?
                    .is_some() =>
            {
                AccountStanding::Locked
            }
            Some(_) => AccountStanding::Usable,
        },
    )
}

/// Whether a second step at PAM may be approved with a passkey on the approval page instead of
/// a typed code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyApproval {
    /// The user has no passkey that can approve: a code it is.
    NotOffered,
    /// Either a code or an approval.
    Offered,
    /// Only a passkey will do (a role requires one).
    Only,
}

pub async fn passkey_approval(
    ctx: &Context,
    step: &LoginStep,
) -> Result<PasskeyApproval, EngineError> {
    let LoginStep::SecondFactor {
        authentication,
        passkey_only,
    } = step
    else {
        return Ok(PasskeyApproval::NotOffered);
    };
    if *passkey_only {
        return Ok(PasskeyApproval::Only);
    }
    let user = user_of(ctx, authentication).await?;
    let settings = ctx.store.site_settings().await?;
    Ok(
        if crate::engine::passkeys::usable(ctx, &settings, &user).is_empty() {
            PasskeyApproval::NotOffered
        } else {
            PasskeyApproval::Offered
        },
    )
}

/// The full address a code of this step was (or will be) mailed to, if it is an emailed-code
/// step; the door masks it for display.
pub async fn code_sent_to(ctx: &Context, step: &LoginStep) -> Result<Option<String>, EngineError> {
    let (LoginStep::SecondFactor { authentication, .. } | LoginStep::EnrolEmail { authentication }) =
        step
    else {
        return Ok(None);
    };
    let user = user_of(ctx, authentication).await?;
    let emailed = matches!(step, LoginStep::EnrolEmail { .. })
        || user
            .mfa
            .as_ref()
            .is_some_and(|m| m.method == MfaMethod::Email);
    Ok(emailed.then_some(user.email))
}
