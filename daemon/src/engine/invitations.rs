//! Invitations: an administrator creates a user without a password and Postern mails them a
//! link to `ISSUER/welcome` and a code. Only a POST with that code (and the new password)
//! accepts it, so a mail scanner that follows the link uses nothing up. The code is twelve
//! letters (RFC 8628's consonants), kept keyed-hashed as the user's one emailed code: a new
//! invitation voids the last, five wrong tries void it, and it expires with
//! `invitation.lifetime`.

use super::EngineError;
use super::email_code;
use crate::audit::{AuditAction, AuditDoor, AuditEvent, Outcome};
use crate::context::Context;
use crate::factors::password;
use crate::model::grants::{Authentication, CodePurpose};
use crate::model::{User, normalize_username};
use crate::store::batch::Batch;
use rand::Rng;

const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
const CODE_LETTERS: usize = 12;
/// The one answer to a wrong name, a wrong code, an expired or spent invitation: which of
/// them it was is nobody's business but the audit trail's.
const NOT_ACCEPTED: &str = "That username and code do not match an open invitation. Check the email, or ask for a new one.";

/// What an invitation's mail did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub to: String,
    pub delivered: bool,
    pub expires_at: crate::clock::UnixSeconds,
}

/// Creates `user` (no password: it is theirs to choose) and mails the invitation.
pub async fn invite(ctx: &Context, mut user: User, by: &str) -> Result<Sent, EngineError> {
    user.password_hash = String::new();
    user.invited_at = Some(ctx.clock.unix_now());
    ctx.store.insert_user(&user).await?;
    let sent = send(ctx, &user).await?;
    record(
        ctx,
        AuditAction::UserInvited,
        by,
        &user.username,
        AuditDoor::Admin,
        "admin",
        &sent_detail(&sent),
    )
    .await?;
    Ok(sent)
}

/// Mails a new invitation to a user who has not accepted one; the last code stops working.
pub async fn resend(ctx: &Context, user: &User, by: &str) -> Result<Sent, EngineError> {
    if user.invited_at.is_none() {
        return Err(EngineError::Refused(format!(
            "user `{}` has already accepted their invitation",
            user.username
        )));
    }
    let user = ctx
        .store
        .update_user(
            user.id,
            Box::new({
                let now = ctx.clock.unix_now();
                move |u| {
                    u.invited_at = Some(now);
                    Ok(())
                }
            }),
        )
        .await?;
    let sent = send(ctx, &user).await?;
    record(
        ctx,
        AuditAction::UserInvited,
        by,
        &user.username,
        AuditDoor::Admin,
        "admin",
        &format!("sent again; {}", sent_detail(&sent)),
    )
    .await?;
    Ok(sent)
}

/// Withdraws an invitation nobody accepted: the user is deleted.
pub async fn revoke(ctx: &Context, user: &User, by: &str) -> Result<(), EngineError> {
    if user.invited_at.is_none() {
        return Err(EngineError::Refused(format!(
            "user `{}` has already accepted their invitation; disable or delete them instead",
            user.username
        )));
    }
    ctx.store
        .email_codes()
        .remove(&crate::store::RecordKey::of_user(user.id))
        .await?;
    ctx.store.delete_user(user.id).await?;
    record(
        ctx,
        AuditAction::UserDeleted,
        by,
        &user.username,
        AuditDoor::Admin,
        "admin",
        "invitation withdrawn",
    )
    .await?;
    Ok(())
}

/// Where an acceptance came from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub address: Option<std::net::IpAddr>,
    pub source: &'a str,
}

/// Accepts the invitation of `username` with its code, setting `new_password` (checked
/// against the site's policy first, so a refused password spends nothing). The user proved
/// the mailbox and chose the password: the sign-in goes on from there (a second factor next,
/// when policy asks for one). A wrong code counts against the account and the address.
pub async fn accept(
    ctx: &Context,
    username: &str,
    code: &str,
    new_password: &str,
    origin: Origin<'_>,
) -> Result<(User, Authentication), EngineError> {
    let now = ctx.clock.unix_now();
    let settings = ctx.store.site_settings().await?;
    password::check_policy(new_password, settings.password_min_length)
        .map_err(|e| EngineError::Refused(e.to_string()))?;
    if ctx.limiter.is_locked(username, origin.address, now).await? {
        return Err(EngineError::Refused(
            "Too many wrong codes. Wait a while, then try again.".into(),
        ));
    }
    let user = ctx
        .store
        .user_by_name(&normalize_username(username))
        .await?
        .filter(|u| u.invited_at.is_some() && !u.disabled);
    let accepted = match (&user, normalize(code)) {
        (Some(user), Some(code)) => {
            email_code::verify(ctx, user, CodePurpose::Invitation, &code).await?
        }
        _ => false,
    };
    let Some(user) = user.filter(|_| accepted) else {
        ctx.limiter
            .record_failure(username, origin.address, now)
            .await?;
        record(
            ctx,
            AuditAction::InvitationRefused,
            username,
            username,
            AuditDoor::Web,
            origin.source,
            "wrong or expired code, or no open invitation",
        )
        .await?;
        return Err(EngineError::Refused(NOT_ACCEPTED.into()));
    };
    let hash = password::hash_off_runtime(new_password).await?;
    let user = ctx
        .store
        .update_user(
            user.id,
            Box::new(move |u| {
                u.password_hash = hash.clone();
                u.password_changed_at = now;
                u.invited_at = None;
                // Typing the mailed code proved the address.
                u.email_verified = true;
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
        AuditAction::InvitationAccepted,
        &user.username,
        &user.username,
        AuditDoor::Web,
        origin.source,
        "password set",
    )
    .await?;
    let authentication = Authentication {
        user_id: user.id,
        auth_time: now,
        amr: vec!["pwd".into()],
    };
    Ok((user, authentication))
}

async fn send(ctx: &Context, user: &User) -> Result<Sent, EngineError> {
    let settings = ctx.store.site_settings().await?;
    let lifetime = settings.invitation_lifetime_seconds;
    let code = new_code();
    email_code::keep(ctx, user, CodePurpose::Invitation, &code, lifetime).await?;
    let shown = format!("{}-{}-{}", &code[..4], &code[4..8], &code[8..]);
    let name = user.display_name.as_deref().unwrap_or(&user.username);
    let days = crate::clock::describe_duration(lifetime);
    let letter =
        crate::mail::Letter::new(crate::mail::Kind::Invitation, "You are invited to {site}")
            .with("name", name)
            .with("username", &user.username)
            .with("code", &shown)
            .with("lifetime", &days);
    let delivered = ctx.mailer.send(&user.username, &user.email, letter).await?;
    Ok(Sent {
        to: crate::mail::mask_address(&user.email),
        delivered,
        expires_at: ctx.clock.unix_now() + lifetime,
    })
}

fn sent_detail(sent: &Sent) -> String {
    if sent.delivered {
        format!("invitation mailed to {}", sent.to)
    } else {
        format!("the invitation to {} could not be mailed", sent.to)
    }
}

#[allow(clippy::too_many_arguments)]
async fn record(
    ctx: &Context,
    action: AuditAction,
    actor: &str,
    subject: &str,
    door: AuditDoor,
    source: &str,
    detail: &str,
) -> Result<(), EngineError> {
    let outcome = if action == AuditAction::InvitationRefused {
        Outcome::Failure
    } else {
        Outcome::Success
    };
    ctx.record(
        AuditEvent::new(ctx.clock.unix_now(), actor, action, door, source, outcome)
            .subject(subject)
            .detail(detail),
    )
    .await?;
    Ok(())
}

/// A typed code as kept: letters only, upper case; dashes and spaces forgiven.
fn normalize(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == CODE_LETTERS && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LETTERS)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests;
