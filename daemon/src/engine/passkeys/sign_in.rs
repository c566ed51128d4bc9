//! Passkeys answering a sign-in: as its second step (a user already named), alone at the
//! password step ("Sign in with a passkey", which names the user), and for a PAM login's
//! approval (`start_assertion` and `check_assertion`, with another purpose).

use super::super::PasswordAttempt;
use super::super::second_factor::{CodeVerdict, EngineError, wrong_code};
use super::{
    CLONED, REMOVED, Started, keep, offered, passkey_counter, refused, relying_party, take, usable,
};
use crate::audit::{AuditAction, AuditDoor, AuditEvent, Factor, Outcome};
use crate::context::Context;
use crate::model::grants::Authentication;
use crate::model::passkey::ChallengePurpose;
use crate::model::{SiteSettings, User, UserId};
use crate::store::StoreError;

/// Starts the passkey step of `user`'s sign-in.
pub async fn start_sign_in(ctx: &Context, user: &User) -> Result<Started, EngineError> {
    start_assertion(ctx, user, ChallengePurpose::SignIn { user_id: user.id }).await
}

/// Asks `user` for one of their passkeys, for `purpose`.
pub(crate) async fn start_assertion(
    ctx: &Context,
    user: &User,
    purpose: ChallengePurpose,
) -> Result<Started, EngineError> {
    let settings = ctx.store.site_settings().await?;
    let passkeys = usable(ctx, &settings, user);
    if passkeys.is_empty() {
        return Err(EngineError::Refused(
            "There is no passkey on this account.".into(),
        ));
    }
    let (options, state) = relying_party(ctx)?
        .start_authentication(passkeys)
        .map_err(refused)?;
    let challenge = keep(ctx, purpose, state).await?;
    Ok(Started { challenge, options })
}

/// Checks a passkey's answer as the second step of the sign-in of `authentication`. A wrong
/// answer counts toward the brute-force limits like a wrong code.
pub async fn check_sign_in(
    ctx: &Context,
    authentication: &Authentication,
    challenge: &str,
    answer: &str,
    attempt: &PasswordAttempt<'_>,
) -> Result<CodeVerdict, EngineError> {
    let purpose = ChallengePurpose::SignIn {
        user_id: authentication.user_id,
    };
    check_assertion(ctx, authentication, &purpose, challenge, answer, attempt).await
}

/// Checks a passkey's answer to a challenge made for `purpose`, by the user of
/// `authentication`; accepted, that authentication gains the passkey's proof.
pub(crate) async fn check_assertion(
    ctx: &Context,
    authentication: &Authentication,
    purpose: &ChallengePurpose,
    challenge: &str,
    answer: &str,
    attempt: &PasswordAttempt<'_>,
) -> Result<CodeVerdict, EngineError> {
    let now = ctx.clock.unix_now();
    let Some(user) = ctx.store.user(authentication.user_id).await? else {
        return Ok(CodeVerdict::Rejected);
    };
    let locked = ctx
        .limiter
        .is_locked(&user.username, attempt.address, now)
        .await?;
    // Taken before anything else: a refused answer spends its challenge too.
    let state = take(ctx, challenge, purpose).await?;
    let settings = ctx.store.site_settings().await?;
    let checked = match (&state, locked || user.disabled) {
        (_, true) => Err("account locked or disabled".to_owned()),
        (None, false) => Err("passkey challenge expired, spent or not this user's".to_owned()),
        (Some(state), false) => relying_party(ctx)?
            .finish_authentication(answer, state)
            .map_err(|e| e.to_string()),
    };
    let asserted = match checked {
        Ok(asserted)
            if usable(ctx, &settings, &user)
                .iter()
                .any(|p| p.id == asserted.credential_id) =>
        {
            Ok(asserted)
        }
        Ok(_) => Err("a passkey removed from the account".to_owned()),
        Err(e) => Err(e),
    };
    let asserted = match asserted {
        Ok(asserted) => asserted,
        Err(detail) => {
            wrong_code(ctx, &user, attempt, Some(detail), !locked).await?;
            return Ok(CodeVerdict::Rejected);
        }
    };
    if let Err(reason) = record_use(ctx, user.id, &asserted, now).await? {
        wrong_code(ctx, &user, attempt, Some(reason), true).await?;
        return Ok(CodeVerdict::Rejected);
    }
    ctx.store.flush().await?;
    let name = usable(ctx, &settings, &user)
        .iter()
        .find(|p| p.id == asserted.credential_id)
        .map_or_else(String::new, |p| p.name.clone());
    ctx.record(
        attempt
            .event(
                ctx,
                AuditAction::SecondFactorAccepted,
                &user.username,
                Outcome::Success,
            )
            .detail(format!("passkey `{name}`"))
            .factor(Factor::Passkey),
    )
    .await?;
    let mut authentication = authentication.clone().with_second_factor(now);
    // A passkey is not a one-time password: its own RFC 8176 values replace `otp`.
    authentication.amr.retain(|m| m != "otp");
    for method in asserted.amr() {
        if !authentication.amr.iter().any(|m| m == method) {
            authentication.amr.push(method.into());
        }
    }
    Ok(CodeVerdict::Accepted(authentication))
}

/// Moves the used credential's counter (and backup state) on, and its last use, checked again
/// against the stored credential: two answers from a cloned key that both got this far cannot
/// both pass. `Err` with the reason when the answer must be refused after all.
async fn record_use(
    ctx: &Context,
    user_id: UserId,
    asserted: &crate::factors::passkey::Asserted,
    now: crate::clock::UnixSeconds,
) -> Result<Result<(), String>, StoreError> {
    let credential_id = asserted.credential_id.clone();
    let result = asserted.result.clone();
    let updated = ctx
        .store
        .update_user(
            user_id,
            Box::new(move |u| {
                let Some(passkey) = u
                    .mfa
                    .as_mut()
                    .and_then(|m| m.passkeys.iter_mut().find(|p| p.id == credential_id))
                else {
                    return Err(StoreError::Conflict(REMOVED.into()));
                };
                let stored = passkey_counter(&passkey.key);
                if (result.counter() > 0 || stored > 0) && result.counter() <= stored {
                    return Err(StoreError::Conflict(CLONED.into()));
                }
                passkey.key.update_credential(&result);
                passkey.last_used_at = Some(now);
                Ok(())
            }),
        )
        .await;
    match updated {
        Ok(_) => Ok(Ok(())),
        Err(StoreError::Conflict(reason)) if reason == REMOVED || reason == CLONED => {
            Ok(Err(reason))
        }
        Err(e) => Err(e),
    }
}

/// Starts a sign-in by passkey alone ("Sign in with a passkey"), when the site allows it.
pub async fn start_passwordless(ctx: &Context) -> Result<Started, EngineError> {
    let settings = ctx.store.site_settings().await?;
    if !passwordless_offered(ctx, &settings) {
        return Err(EngineError::Refused(
            "This site does not offer sign-in with a passkey alone.".into(),
        ));
    }
    let (options, state) = relying_party(ctx)?.start_passwordless().map_err(refused)?;
    let challenge = keep(ctx, ChallengePurpose::Passwordless, state).await?;
    Ok(Started { challenge, options })
}

/// Whether a passkey alone may sign in now.
pub fn passwordless_offered(ctx: &Context, settings: &SiteSettings) -> bool {
    offered(ctx, settings) && settings.webauthn_passwordless
}

/// Where an answer to a passwordless challenge came from, for the limits and the audit trail.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub address: Option<std::net::IpAddr>,
    pub door: AuditDoor,
    pub source: &'a str,
}

/// Checks an answer to a passwordless challenge: the user it names (by user handle), one of
/// their passkeys, user verification. A passkey with user verification is two factors in
/// one, so the sign-in is complete (`amr` carries `mfa`). Refusals count toward the account's
/// limit when the answer named one, and the address's always.
pub async fn check_passwordless(
    ctx: &Context,
    challenge: &str,
    answer: &str,
    origin: Origin<'_>,
) -> Result<Option<(User, Authentication)>, EngineError> {
    let now = ctx.clock.unix_now();
    let state = take(ctx, challenge, &ChallengePurpose::Passwordless).await?;
    let settings = ctx.store.site_settings().await?;
    let claimed = crate::factors::passkey::claimed(answer).ok();
    let user = match &claimed {
        Some((handle, _)) => ctx.store.user(UserId(*handle)).await?,
        None => None,
    };
    let username = user.as_ref().map_or("", |u| u.username.as_str());
    let locked = ctx.limiter.is_locked(username, origin.address, now).await?;
    let checked = match (&state, &user, &claimed) {
        _ if !passwordless_offered(ctx, &settings) => Err("passwordless sign-in is off".into()),
        (None, _, _) => Err("passkey challenge expired or spent".to_owned()),
        (_, None, _) => Err("a passkey of no account".to_owned()),
        _ if locked => Err("too many failures: locked".to_owned()),
        (_, Some(user), _) if user.disabled => Err("account disabled".to_owned()),
        (Some(state), Some(user), Some((_, credential_id))) => {
            match usable(ctx, &settings, user)
                .iter()
                .find(|p| &p.id == credential_id)
            {
                Some(credential) => relying_party(ctx)?
                    .finish_passwordless(answer, state, credential)
                    .map_err(|e| e.to_string()),
                None => Err("a passkey not on the account".to_owned()),
            }
        }
        (Some(_), Some(_), None) => Err("a malformed answer".to_owned()),
    };
    let checked = match (checked, &user) {
        (Ok(asserted), Some(user)) => match record_use(ctx, user.id, &asserted, now).await? {
            Ok(()) => Ok(asserted),
            Err(reason) => Err(reason),
        },
        (Ok(_), None) => Err("a passkey of no account".to_owned()),
        (Err(reason), _) => Err(reason),
    };
    let subject = user
        .as_ref()
        .map_or("unknown passkey", |u| u.username.as_str())
        .to_owned();
    let asserted = match checked {
        Ok(asserted) => asserted,
        Err(reason) => {
            let event = AuditEvent::new(
                now,
                &subject,
                AuditAction::SignInFailed,
                origin.door,
                origin.source,
                Outcome::Failure,
            )
            .subject(&subject)
            .detail(reason)
            .factor(Factor::Passkey)
            .throttled(locked);
            ctx.record(event).await?;
            if !locked {
                match (&user, origin.address) {
                    (Some(user), address) => {
                        let attempt = PasswordAttempt {
                            username: &user.username,
                            name_match: super::super::NameMatch::Exact,
                            password: "",
                            address,
                            source: origin.source.to_owned(),
                            door: origin.door,
                            batch: crate::store::batch::Batch::now(),
                        };
                        super::super::count_failure(ctx, &user.username, &attempt, now).await?;
                    }
                    (None, Some(address)) => {
                        ctx.limiter.record_address_failure(address, now).await?;
                    }
                    (None, None) => {}
                }
            }
            return Ok(None);
        }
    };
    ctx.store.flush().await?;
    let Some(user) = user else {
        return Ok(None);
    };
    let mut amr: Vec<String> = asserted.amr().iter().map(|m| (*m).to_owned()).collect();
    amr.push("mfa".into());
    Ok(Some((
        user.clone(),
        Authentication {
            user_id: user.id,
            auth_time: now,
            amr,
        },
    )))
}
