//! Security notices: a short mail to the user when something about how they sign in changed
//! (their password, their second factor, their recovery codes) or they signed in from a browser
//! not seen before (`engine::known_browsers`), saying what, when, from where,
//! and what to do if it was not them. They follow the audit trail: every such event recorded
//! with success, whoever caused it (the user, an administrator, a reset), sends one. A notice
//! that cannot be sent is in the sent-mail log and the daemon's log; the change stands. It takes
//! its own handles (the store for the user's address, the mailer), like the mailer does.

use crate::audit::{AuditAction, AuditDoor, AuditEvent, Outcome};
use crate::mail::{Kind, Letter, Mailer};
use crate::store::SharedStore;

/// What the notice says happened, for the events that send one.
fn what(action: AuditAction) -> Option<(&'static str, &'static str)> {
    Some(match action {
        AuditAction::PasswordChanged => ("Your password was changed", "your password was changed"),
        AuditAction::PasswordReset => (
            "Your password was reset",
            "your password was reset with a code emailed to you, and you were signed out everywhere",
        ),
        AuditAction::MfaEnrolled => (
            "Two-step verification was set up",
            "a second factor was set up for your account",
        ),
        AuditAction::MfaDisabled => (
            "Two-step verification was turned off",
            "two-step verification was turned off for your account",
        ),
        AuditAction::MfaReset => (
            "Your two-step verification was reset",
            "an administrator removed your second factor and recovery codes",
        ),
        AuditAction::PasskeyAdded => ("A passkey was added", "a passkey was added to your account"),
        AuditAction::PasskeyRemoved => (
            "A passkey was removed",
            "a passkey was removed from your account",
        ),
        AuditAction::NewBrowserSignIn => (
            "New sign-in to your account",
            "your account was signed in to from a browser it had not been used with before",
        ),
        AuditAction::RecoveryCodesRenewed => (
            "New recovery codes were made",
            "new recovery codes were made for your account; the old ones no longer work",
        ),
        _ => return None,
    })
}

/// Sends the notice `event` calls for, if any.
pub async fn after(store: &SharedStore, mailer: &Mailer, event: &AuditEvent) {
    if event.outcome != Outcome::Success {
        return;
    }
    let (Some((subject, sentence)), Some(username)) =
        (what(event.action), event.subject.as_deref())
    else {
        return;
    };
    let user = match store.user_by_name(username).await {
        Ok(Some(user)) => user,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "no security notice: the user could not be read");
            return;
        }
    };
    let by = match event.door {
        AuditDoor::Admin => "by an administrator",
        AuditDoor::Pam => "during a login",
        _ => "on the web",
    };
    let letter = Letter::new(Kind::Notice, subject)
        .with(
            "name",
            user.display_name.as_deref().unwrap_or(&user.username),
        )
        .with("when", crate::clock::format_unix(event.at))
        .with(
            "what",
            match &event.detail {
                Some(browser) if event.action == AuditAction::NewBrowserSignIn => {
                    format!("{sentence} ({browser})")
                }
                _ => sentence.to_owned(),
            },
        )
        .with("by", by)
        .with("source", &event.source);
    if let Err(e) = mailer.send(&user.username, &user.email, letter).await {
        tracing::warn!(error = %e, "a security notice could not be logged");
    }
}
