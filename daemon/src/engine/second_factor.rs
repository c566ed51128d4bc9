//! The steps after a correct password: ask for the second factor, or make the user enrol one
//! when a role (or the relying party) requires it. Wrong codes count toward the same
//! brute-force limits as wrong passwords.

use super::PasswordAttempt;
use super::spent_codes::{Spent, Used, spend};
use crate::audit::{AuditAction, Factor, Outcome};
use crate::context::Context;
use crate::factors::{recovery, totp};
use crate::limits;
use crate::model::grants::{Authentication, CodePurpose, LoginStep};
use crate::model::mfa::{
    MfaEnrolment, TotpSeed, mfa_required, phishing_resistant_required, totp_seal_context,
};
use crate::model::{MfaMethod, User};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The user must enrol, but no method they could enrol during sign-in is offered.
    #[error("{0}")]
    CannotEnrol(String),
    #[error("a sealed secret could not be opened: {0}")]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error(transparent)]
    Hash(#[from] crate::factors::password::HashError),
    /// The request is refused, for a reason the user is told (it names no secret).
    #[error("{0}")]
    Refused(String),
    /// The user of a sign-in in progress was deleted meanwhile.
    #[error("the user was deleted during the sign-in")]
    UserGone,
}

/// What a sign-in asks beyond the password, besides what the user's roles require.
#[derive(Debug)]
pub struct Demands<'a> {
    /// The relying party asked for MFA (`acr_values`).
    pub rp_wants_mfa: bool,
    /// `prompt=login` or `max_age`: a fresh second factor, even on a remembered device.
    pub fresh_factor: bool,
    /// The browser's remembered-device cookie, if it sent one.
    pub device_cookie: Option<&'a str>,
    /// Whether this door can take the user through enrolment (the web can; PAM cannot).
    pub can_enrol: bool,
    /// Whether this door can ask for a passkey (the web can; PAM asks for a code).
    pub can_use_passkey: bool,
    /// Whether this door can wait for a passkey on the approval page (PAM can).
    pub can_approve_with_passkey: bool,
    /// The relying party asked for a passkey (`acr_values=postern:phr`).
    pub rp_wants_phishing_resistant: bool,
    /// For the audit trail.
    pub door: crate::audit::AuditDoor,
    pub source: &'a str,
}

/// Where a sign-in goes after the password.
#[derive(Debug)]
pub enum Progress {
    Done(Authentication),
    /// Done without asking for the second factor: this browser is remembered for the user.
    /// The device's window now runs `window` seconds from now.
    Remembered {
        authentication: Authentication,
        window: u64,
    },
    Next(LoginStep),
    /// A second factor is required but the user has none, and this door cannot enrol them.
    MustEnrol,
    /// Only a passkey will do, and this door cannot ask for one.
    PasskeyOnly,
}

/// Decides what a correct password leads to. `rp_wants_mfa`: the relying party asked for it.
pub async fn after_password(
    ctx: &Context,
    user: &User,
    authentication: Authentication,
    demands: &Demands<'_>,
) -> Result<Progress, EngineError> {
    let settings = ctx.store.site_settings().await?;
    let roles = ctx.store.roles_of(user).await?;
    if phishing_resistant_required(&roles) || demands.rp_wants_phishing_resistant {
        return passkey_required(ctx, user, authentication, demands, &settings);
    }
    if user
        .mfa
        .as_ref()
        .is_some_and(|mfa| mfa.is_usable(&settings))
    {
        if !demands.fresh_factor {
            if let Some(window) =
                super::devices::recognise(ctx, user.id, demands.device_cookie).await?
            {
                let mut authentication = authentication;
                authentication.amr.push("mfa".into());
                ctx.record(
                    crate::audit::AuditEvent::new(
                        ctx.clock.unix_now(),
                        &user.username,
                        AuditAction::RememberedDeviceUsed,
                        demands.door,
                        demands.source,
                        Outcome::Success,
                    )
                    .subject(&user.username)
                    .factor(Factor::RememberedDevice),
                )
                .await?;
                return Ok(Progress::Remembered {
                    authentication,
                    window,
                });
            }
        }
        // A user with a passkey is asked for it first (where the door can ask for one); the
        // page sends a code on request.
        let asks_passkey =
            demands.can_use_passkey && !super::passkeys::usable(ctx, &settings, user).is_empty();
        if !asks_passkey
            && user
                .mfa
                .as_ref()
                .is_some_and(|mfa| mfa.method == MfaMethod::Email)
        {
            // The page offers to send another if this one is throttled or fails.
            super::email_code::send(ctx, user, CodePurpose::SignIn).await?;
        }
        return Ok(Progress::Next(LoginStep::SecondFactor {
            authentication,
            passkey_only: false,
        }));
    }
    // An enrolment that cannot be used (an administrator switched the method to TOTP, or the
    // site stopped offering it) means the user wants MFA: they enrol again.
    if !(mfa_required(&roles) || demands.rp_wants_mfa || user.mfa.is_some()) {
        return Ok(Progress::Done(authentication));
    }
    if !demands.can_enrol {
        return Ok(Progress::MustEnrol);
    }
    let wants_email = user
        .mfa
        .as_ref()
        .is_some_and(|mfa| mfa.method == MfaMethod::Email);
    if wants_email || !settings.mfa_methods.contains(&MfaMethod::Totp) {
        return choose_email(ctx, user, authentication)
            .await
            .map(Progress::Next);
    }
    let seed = totp::new_seed();
    Ok(Progress::Next(LoginStep::EnrolTotp {
        authentication,
        sealed_seed: ctx.master_key.seal(&enrolment_context(&user.id), &seed),
    }))
}

/// Where a sign-in goes when only a passkey will do: to the passkey (no remembered browser
/// skips it), or to adding one; a door that can do neither (PAM, for now) refuses.
fn passkey_required(
    ctx: &Context,
    user: &User,
    authentication: Authentication,
    demands: &Demands<'_>,
    settings: &crate::model::SiteSettings,
) -> Result<Progress, EngineError> {
    let has_passkey = !super::passkeys::usable(ctx, settings, user).is_empty();
    let door_can_ask = demands.can_use_passkey || (demands.can_approve_with_passkey && has_passkey);
    if !door_can_ask {
        return Ok(Progress::PasskeyOnly);
    }
    if has_passkey {
        return Ok(Progress::Next(LoginStep::SecondFactor {
            authentication,
            passkey_only: true,
        }));
    }
    if !super::passkeys::offered(ctx, settings) || !demands.can_enrol {
        return Err(EngineError::CannotEnrol(
            "Signing in here requires a passkey, and this site does not offer passkeys. Ask your administrator.".into(),
        ));
    }
    Ok(Progress::Next(LoginStep::EnrolPasskey { authentication }))
}

/// The result of a code.
#[derive(Debug)]
pub enum CodeVerdict {
    Accepted(Authentication),
    Rejected,
}

/// What a right code completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeFor {
    /// The last step of a sign-in: the write that spends the code also makes this the user's
    /// last sign-in, so [`record_sign_in`](super::record_sign_in) has nothing left to write.
    SignIn,
    /// Proof of the second factor for something that is not a sign-in (a password reset).
    Proof,
}

/// Checks a TOTP or recovery code for `user` (as the caller read them), whom `authentication`
/// is about. A code accepted is spent, and `user` becomes the user as stored after that.
pub async fn check_code(
    ctx: &Context,
    user: &mut User,
    authentication: &Authentication,
    code: &str,
    attempt: &PasswordAttempt<'_>,
    purpose: CodeFor,
) -> Result<CodeVerdict, EngineError> {
    let now = ctx.clock.unix_now();
    if user.id != authentication.user_id {
        return Ok(CodeVerdict::Rejected);
    }
    let settings = ctx.store.site_settings().await?;
    let window = totp::Window::from(&settings);
    // An emailed code is spent by checking it, so its limits are read first; a TOTP or
    // recovery code is checked in memory, and its limits are read in the step that spends it.
    let emailed = user
        .mfa
        .as_ref()
        .is_some_and(|mfa| mfa.method == MfaMethod::Email);
    let limiter = &ctx.limiter;
    let mut locked = emailed
        && limiter
            .is_locked(&user.username, attempt.address, now)
            .await?;
    let mut used = None;
    let mut replayed = false;
    if let (false, Some(mfa)) = (locked || user.disabled, &user.mfa) {
        if mfa.method == MfaMethod::Email
            && super::email_code::verify(ctx, user, CodePurpose::SignIn, code).await?
        {
            used = Some(Used::EmailCode);
        } else if let Some(seed) = mfa.totp.as_ref().filter(|_| mfa.method == MfaMethod::Totp) {
            let plain = ctx
                .master_key
                .open(&totp_seal_context(&user.id), &seed.sealed)?;
            match totp::check(&plain, code, now, window, seed.last_step) {
                totp::Checked::Accepted(step) => used = Some(Used::TotpStep(step)),
                totp::Checked::Replayed => replayed = true,
                totp::Checked::Wrong => {}
            }
        }
        if used.is_none() {
            used = recovery::find(&ctx.master_key, &mfa.recovery_codes, code)
                .and_then(|index| mfa.recovery_codes.get(index))
                .map(|hash| Used::RecoveryCode(*hash));
        }
    }
    let Some(used) = used else {
        if !emailed {
            locked = limiter
                .is_locked(&user.username, attempt.address, now)
                .await?;
        }
        let detail = match () {
            () if locked => "account locked",
            () if replayed => "replayed code: already used",
            () => "wrong code",
        };
        wrong_code(ctx, user, attempt, Some(detail.into()), !locked).await?;
        return Ok(CodeVerdict::Rejected);
    };
    // Spend what was used, so it never works again; flushed, so a crash cannot undo it.
    let signed_in_at = (purpose == CodeFor::SignIn).then_some(now);
    let windows = limits::window_keys(&user.username, attempt.address);
    let limits = (!emailed).then_some((&windows.0, &windows.1));
    let spent = match spend(ctx, user, used, signed_in_at, limits).await? {
        Spent::Now(spent) => spent,
        // Another request (on this daemon or another) spent it between our read and now.
        Spent::Already => {
            let detail = "replayed code: already used";
            wrong_code(ctx, user, attempt, Some(detail.into()), true).await?;
            return Ok(CodeVerdict::Rejected);
        }
        Spent::Locked => {
            wrong_code(ctx, user, attempt, Some("account locked".into()), false).await?;
            return Ok(CodeVerdict::Rejected);
        }
    };
    *user = *spent;
    ctx.store.flush().await?;
    let (detail, factor) = match used {
        Used::TotpStep(_) => ("authenticator app", Factor::Totp),
        Used::RecoveryCode(_) => ("recovery code", Factor::RecoveryCode),
        Used::EmailCode => ("email code", Factor::EmailCode),
    };
    ctx.record_in(
        &attempt.batch,
        attempt
            .event(
                ctx,
                AuditAction::SecondFactorAccepted,
                &user.username,
                Outcome::Success,
            )
            .detail(detail)
            .factor(factor),
    )
    .await?;
    Ok(CodeVerdict::Accepted(
        authentication.clone().with_second_factor(now),
    ))
}

/// Confirms a TOTP enrolment with a code from the new app. On success the user is enrolled
/// (replacing any earlier enrolment) and gets fresh recovery codes, returned here once.
pub async fn confirm_totp_enrolment(
    ctx: &Context,
    authentication: &Authentication,
    sealed_seed: &[u8],
    code: &str,
    attempt: &PasswordAttempt<'_>,
) -> Result<Option<(Authentication, Vec<String>)>, EngineError> {
    let now = ctx.clock.unix_now();
    let Some(user) = ctx.store.user(authentication.user_id).await? else {
        return Ok(None);
    };
    let seed = ctx
        .master_key
        .open(&enrolment_context(&user.id), sealed_seed)?;
    let settings = ctx.store.site_settings().await?;
    let window = totp::Window::from(&settings);
    let Some(step) = totp::verify(&seed, code, now, window, None) else {
        wrong_code(ctx, &user, attempt, Some("enrolment code".into()), true).await?;
        return Ok(None);
    };
    let seed = TotpSeed {
        sealed: ctx.master_key.seal(&totp_seal_context(&user.id), &seed),
        last_step: Some(step),
    };
    enrol(
        ctx,
        &user,
        authentication,
        MfaMethod::Totp,
        Some(seed),
        attempt,
    )
    .await
    .map(Some)
}

/// Switches a sign-in to enrolling email codes, and sends the first code.
pub async fn choose_email(
    ctx: &Context,
    user: &User,
    authentication: Authentication,
) -> Result<LoginStep, EngineError> {
    let settings = ctx.store.site_settings().await?;
    if !settings.mfa_methods.contains(&MfaMethod::Email) {
        return Err(EngineError::CannotEnrol(
            "This site does not offer email codes.".into(),
        ));
    }
    super::email_code::send(ctx, user, CodePurpose::Enrolment).await?;
    Ok(LoginStep::EnrolEmail { authentication })
}

/// Confirms an email enrolment with the code that was mailed.
pub async fn confirm_email_enrolment(
    ctx: &Context,
    authentication: &Authentication,
    code: &str,
    attempt: &PasswordAttempt<'_>,
) -> Result<Option<(Authentication, Vec<String>)>, EngineError> {
    let Some(user) = ctx.store.user(authentication.user_id).await? else {
        return Ok(None);
    };
    if !super::email_code::verify(ctx, &user, CodePurpose::Enrolment, code).await? {
        wrong_code(ctx, &user, attempt, Some("enrolment code".into()), true).await?;
        return Ok(None);
    }
    enrol(ctx, &user, authentication, MfaMethod::Email, None, attempt)
        .await
        .map(Some)
}

/// A wrong code: audited, and counted toward the brute-force limits like a wrong password
/// (`count` is false when the account was already locked, so a lock does not extend itself).
pub(super) async fn wrong_code(
    ctx: &Context,
    user: &User,
    attempt: &PasswordAttempt<'_>,
    detail: Option<String>,
    count: bool,
) -> Result<(), StoreError> {
    ctx.record(
        attempt
            .event(
                ctx,
                AuditAction::SecondFactorFailed,
                &user.username,
                Outcome::Failure,
            )
            .maybe_detail(detail),
    )
    .await?;
    if count {
        super::count_failure(ctx, &user.username, attempt, ctx.clock.unix_now()).await?;
    }
    Ok(())
}

/// Records a completed enrolment with fresh recovery codes, returned here once.
async fn enrol(
    ctx: &Context,
    user: &User,
    authentication: &Authentication,
    method: MfaMethod,
    totp: Option<TotpSeed>,
    attempt: &PasswordAttempt<'_>,
) -> Result<(Authentication, Vec<String>), EngineError> {
    let now = ctx.clock.unix_now();
    let codes = recovery::generate();
    let enrolment = MfaEnrolment {
        method,
        totp,
        recovery_codes: codes
            .iter()
            .map(|c| recovery::hash(&ctx.master_key, c))
            .collect(),
        enrolled_at: now,
        passkeys: Vec::new(),
    };
    ctx.store
        .update_user(
            user.id,
            Box::new(|u| {
                // Passkeys stay through a new app or email enrolment.
                let passkeys = u.mfa.take().map(|m| m.passkeys).unwrap_or_default();
                u.mfa = Some(MfaEnrolment {
                    passkeys,
                    ..enrolment.clone()
                });
                u.email_verified |= method == MfaMethod::Email;
                Ok(())
            }),
        )
        .await?;
    ctx.store.flush().await?;
    let detail = format!("method {method}");
    let factor = match method {
        MfaMethod::Totp => Factor::Totp,
        MfaMethod::Email => Factor::EmailCode,
        MfaMethod::Webauthn => Factor::Passkey,
    };
    ctx.record(
        attempt
            .event(
                ctx,
                AuditAction::MfaEnrolled,
                &user.username,
                Outcome::Success,
            )
            .detail(detail)
            .factor(factor),
    )
    .await?;
    Ok((authentication.clone().with_second_factor(now), codes))
}

/// The key material the enrolment page shows, from the sealed seed of an `EnrolTotp` step.
pub async fn enrolment_material(
    ctx: &Context,
    user: &User,
    sealed_seed: &[u8],
) -> Result<(String, String), EngineError> {
    let seed = ctx
        .master_key
        .open(&enrolment_context(&user.id), sealed_seed)?;
    let settings = ctx.store.site_settings().await?;
    let window = totp::Window::from(&settings);
    let label = ctx.issuer.url().host_str().unwrap_or("Postern");
    let uri = totp::otpauth_uri(&seed, &format!("Postern {label}"), &user.username, window);
    Ok((totp::manual_key(&seed), totp::qr_svg(&uri)))
}

pub(super) fn enrolment_context(user_id: &crate::model::UserId) -> String {
    format!("totp-enrolment:{user_id}")
}
