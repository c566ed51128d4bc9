//! The login engine: one place that decides whether a sign-in succeeds, for every door.
//!
//! A sign-in is a state machine (`model::grants::LoginStep`): identify and check the password,
//! then (with the MFA issue) a second factor or forced enrolment, then done, with the methods
//! used (`amr`). The web pages and the PAM conversation only render these steps; brute-force
//! limits, disabled accounts and the audit trail are handled here, never in a door.

use crate::audit::{AuditAction, AuditDoor, AuditEvent, Factor, Outcome};
use crate::context::Context;
use crate::factors::password;
use crate::limits;
use crate::model::User;
use crate::model::grants::Authentication;
use crate::store::StoreError;
use crate::store::batch::Batch;
use std::net::IpAddr;

pub mod account;
pub mod approvals;
pub mod consent;
pub mod credentials;
pub mod devices;
pub mod email_code;
pub mod invitations;
pub mod known_browsers;
pub mod passkeys;
pub mod password_reset;
mod second_factor;
pub mod session_policy;
pub mod sessions;
pub mod sign_in;
mod spent_codes;
pub use second_factor::{
    CodeFor, CodeVerdict, Demands, EngineError, Progress, after_password, check_code, choose_email,
    confirm_email_enrolment, confirm_totp_enrolment, enrolment_material,
};

/// How a door matches a typed login name to a stored username.
///
/// Usernames are unique without regard to case, so the web's `Alice` names exactly one account,
/// `alice`, and users expect it to work. A Linux login name is case-sensitive: `BOB` and `bob`
/// can be two accounts on one machine, so the PAM door takes only the exact stored name, and
/// bob's Postern credentials never log anyone in as `BOB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameMatch {
    IgnoringCase,
    Exact,
}

impl NameMatch {
    /// Whether `user`, found by `name` (the store finds names ignoring case), is the one named.
    pub fn matches(self, user: &User, name: &str) -> bool {
        self == NameMatch::IgnoringCase || user.username == name
    }
}

/// The user a login name names under `rule`, if any.
pub async fn find_user(
    ctx: &Context,
    name: &str,
    rule: NameMatch,
) -> Result<Option<User>, StoreError> {
    let user = ctx.store.user_by_name(name).await?;
    Ok(user.filter(|u| rule.matches(u, name)))
}

/// A username and password presented at a door.
#[derive(Debug)]
pub struct PasswordAttempt<'a> {
    pub username: &'a str,
    pub name_match: NameMatch,
    pub password: &'a str,
    pub address: Option<IpAddr>,
    /// For the audit trail: "web 192.0.2.1", "pam sshd from 192.0.2.1".
    pub source: String,
    pub door: AuditDoor,
    /// Where the events of a right answer go (a sign-in's door gathers them).
    pub batch: Batch,
}

#[derive(Debug)]
pub enum PasswordVerdict {
    /// Right password, account usable. (With MFA, a second factor may still be needed.)
    Accepted {
        user: Box<User>,
        authentication: Authentication,
    },
    /// Wrong password, unknown user, disabled or locked account: indistinguishable outside.
    Rejected,
}

/// Checks a password. Costs one Argon2id hash whatever the outcome, so timing does not tell an
/// unknown or locked account from a wrong password. Blocking: call it off the async runtime.
pub async fn check_password(
    ctx: &Context,
    attempt: &PasswordAttempt<'_>,
) -> Result<PasswordVerdict, StoreError> {
    let now = ctx.clock.unix_now();
    // The user and whether their attempts are locked: one question.
    let windows = limits::window_keys(attempt.username, attempt.address);
    let (user, windows) = ctx
        .store
        .user_by_name_and_windows(attempt.username, (&windows.0, &windows.1), now)
        .await?;
    let user = user.filter(|u| attempt.name_match.matches(u, attempt.username));
    let locked = limits::locks(&windows, now);
    let password_ok = match &user {
        // Invited, no password yet: as slow as any other refusal, so it does not show.
        Some(user) if user.invited_at.is_some() => {
            password::verify_against_nothing(attempt.password).await;
            false
        }
        Some(user) => password::verify(attempt.password, &user.password_hash).await,
        None => password::verify_against_nothing(attempt.password).await,
    };
    let reason = match &user {
        _ if locked => Some("too many failures: locked"),
        None => Some("unknown user"),
        Some(_) if !password_ok => Some("wrong password"),
        Some(user) if user.disabled => Some("account disabled"),
        Some(_) => None,
    };
    let subject = user
        .as_ref()
        .map_or(attempt.username, |u| u.username.as_str())
        .to_owned();

    if let (None, Some(user)) = (reason, user) {
        // The failure count stays: a right password followed by wrong codes must add up
        // across sign-ins. Only a completed sign-in (`record_sign_in`) clears it.
        ctx.record_in(
            &attempt.batch,
            attempt
                .event(
                    ctx,
                    AuditAction::PasswordAccepted,
                    &subject,
                    Outcome::Success,
                )
                .factor(Factor::Password),
        )
        .await?;
        let authentication = Authentication {
            user_id: user.id,
            auth_time: now,
            amr: vec!["pwd".into()],
        };
        return Ok(PasswordVerdict::Accepted {
            user: Box::new(user),
            authentication,
        });
    }

    let reason = reason.unwrap_or("rejected");
    ctx.record(
        attempt
            .event(ctx, AuditAction::SignInFailed, &subject, Outcome::Failure)
            .detail(reason)
            .factor(Factor::Password)
            .throttled(locked),
    )
    .await?;
    if !locked {
        count_failure(ctx, &subject, attempt, now).await?;
    }
    Ok(PasswordVerdict::Rejected)
}

/// Records that a sign-in completed (all factors done) and through which methods. Only now
/// does the user's last sign-in move and the account's failure count clear: a right password
/// followed by a wrong second factor must neither make an account look in use nor wipe the
/// wrong codes an attacker who knows the password has tried. Returns the user as stored after.
pub async fn record_sign_in(
    ctx: &Context,
    user: &User,
    authentication: &Authentication,
    door: AuditDoor,
    source: String,
    batch: &Batch,
) -> Result<User, StoreError> {
    let now = ctx.clock.unix_now();
    ctx.limiter.record_success(&user.username, batch).await?;
    // Written already when the code that completed the sign-in was spent this second.
    let user = if user.last_login_at == Some(now) {
        user.clone()
    } else {
        let stamp = Box::new(move |u: &mut User| {
            u.last_login_at = Some(now);
            Ok(())
        });
        ctx.store.update_seen_user(user, stamp).await?
    };
    ctx.record_in(
        batch,
        AuditEvent::new(
            now,
            &user.username,
            AuditAction::SignedIn,
            door,
            source,
            Outcome::Success,
        )
        .subject(&user.username)
        .detail(format!("amr {}", authentication.amr.join(",")))
        .amr(&authentication.amr),
    )
    .await?;
    Ok(user)
}

/// Counts a failure toward the brute-force limits and audits any lock it causes.
pub(crate) async fn count_failure(
    ctx: &Context,
    subject: &str,
    attempt: &PasswordAttempt<'_>,
    now: u64,
) -> Result<(), StoreError> {
    let locks = ctx
        .limiter
        .record_failure(attempt.username, attempt.address, now)
        .await?;
    let locks = [
        (locks.account_until, AuditAction::AccountLocked, "account"),
        (locks.address_until, AuditAction::AddressLocked, "address"),
    ];
    for (until, action, what) in locks {
        if let Some(until) = until {
            let detail = format!("{what} locked until {}", crate::clock::format_unix(until));
            let event = attempt.event(ctx, action, subject, Outcome::Failure);
            ctx.record(event.detail(detail).throttled(true)).await?;
        }
    }
    Ok(())
}

impl PasswordAttempt<'_> {
    /// An audit event about this attempt, by and about `subject`.
    pub(crate) fn event(
        &self,
        ctx: &Context,
        action: AuditAction,
        subject: &str,
        outcome: Outcome,
    ) -> AuditEvent {
        AuditEvent::new(
            ctx.clock.unix_now(),
            subject,
            action,
            self.door,
            self.source.clone(),
            outcome,
        )
        .subject(subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt<'a>(username: &'a str, password: &'a str) -> PasswordAttempt<'a> {
        PasswordAttempt {
            username,
            name_match: NameMatch::IgnoringCase,
            password,
            address: None,
            source: "test".into(),
            door: AuditDoor::Web,
            batch: Batch::now(),
        }
    }

    /// Records a completed web sign-in, its writes made at once.
    async fn signed_in(ctx: &Context, user: &User, authentication: &Authentication) -> User {
        record_sign_in(
            ctx,
            user,
            authentication,
            AuditDoor::Web,
            "test".into(),
            &Batch::now(),
        )
        .await
        .unwrap()
    }

    fn hana(mfa: Option<crate::model::mfa::MfaEnrolment>) -> User {
        User {
            password_hash: password::hash("correct horse battery").unwrap(),
            mfa,
            ..User::for_tests("hana")
        }
    }

    /// Hana with one recovery code as her only usable second factor.
    async fn hana_with_recovery_code(ctx: &Context) -> User {
        let enrolment = crate::model::mfa::MfaEnrolment {
            method: crate::model::MfaMethod::Email,
            totp: None,
            recovery_codes: vec![crate::factors::recovery::hash(
                &ctx.master_key,
                "RIGHT-CODE",
            )],
            enrolled_at: 1,
            passkeys: Vec::new(),
        };
        let user = hana(Some(enrolment));
        ctx.store.insert_user(&user).await.unwrap();
        user
    }

    /// Signs in with the right password and tries `codes`; returns the last code's verdict.
    async fn password_then_codes(ctx: &Context, codes: &[&str]) -> Option<CodeVerdict> {
        let PasswordVerdict::Accepted {
            authentication,
            mut user,
        } = check_password(ctx, &attempt("hana", "correct horse battery"))
            .await
            .unwrap()
        else {
            return None;
        };
        let mut verdict = None;
        for code in codes {
            verdict = Some(
                check_code(
                    ctx,
                    &mut user,
                    &authentication,
                    code,
                    &attempt("hana", ""),
                    CodeFor::SignIn,
                )
                .await
                .unwrap(),
            );
        }
        verdict
    }

    #[tokio::test]
    async fn wrong_codes_add_up_across_sign_ins_and_a_right_password_does_not_clear_them() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::for_tests(dir.path()).await;
        hana_with_recovery_code(&ctx).await;
        // Four wrong codes (one short of the default limit of five) in each of two sign-ins.
        let wrong = ["000000"; 4];
        assert!(matches!(
            password_then_codes(&ctx, &wrong).await,
            Some(CodeVerdict::Rejected)
        ));
        // The fifth wrong code, in a second sign-in, locks the account...
        assert!(matches!(
            password_then_codes(&ctx, &wrong[..1]).await,
            Some(CodeVerdict::Rejected)
        ));
        // ...so the right password is refused, and so would be the right code.
        assert!(password_then_codes(&ctx, &[]).await.is_none());
        let now = ctx.clock.unix_now();
        assert!(
            ctx.limiter
                .account_locked_until("hana", now)
                .await
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test]
    async fn a_completed_sign_in_clears_the_failure_count() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::for_tests(dir.path()).await;
        let user = hana_with_recovery_code(&ctx).await;
        let Some(CodeVerdict::Accepted(authentication)) = password_then_codes(
            &ctx,
            &["000000", "000000", "000000", "000000", "RIGHT-CODE"],
        )
        .await
        else {
            panic!("the right recovery code was refused");
        };
        signed_in(&ctx, &user, &authentication).await;
        // Four more wrong codes do not reach the limit: the count started again.
        password_then_codes(&ctx, &["000000"; 4]).await;
        let now = ctx.clock.unix_now();
        assert!(
            ctx.limiter
                .account_locked_until("hana", now)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn the_last_sign_in_moves_when_a_sign_in_completes_not_at_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::for_tests(dir.path()).await;
        let user = hana(None);
        ctx.store.insert_user(&user).await.unwrap();

        let verdict = check_password(&ctx, &attempt("hana", "correct horse battery"))
            .await
            .unwrap();
        let PasswordVerdict::Accepted {
            user: accepted,
            authentication,
        } = verdict
        else {
            panic!("the right password was refused");
        };
        // A second factor may still be asked for, and failed: nothing has signed in yet.
        assert_eq!(
            ctx.store
                .user(user.id)
                .await
                .unwrap()
                .unwrap()
                .last_login_at,
            None
        );

        signed_in(&ctx, &accepted, &authentication).await;
        let now = ctx.clock.unix_now();
        assert_eq!(
            ctx.store
                .user(user.id)
                .await
                .unwrap()
                .unwrap()
                .last_login_at,
            Some(now)
        );
    }

    #[tokio::test]
    async fn a_code_that_completes_a_sign_in_moves_the_last_sign_in_and_a_proof_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::for_tests(dir.path()).await;
        let stored = hana_with_recovery_code(&ctx).await;
        let authentication = Authentication {
            user_id: stored.id,
            auth_time: ctx.clock.unix_now(),
            amr: vec!["pwd".into()],
        };
        let attempt = attempt("hana", "");
        let last_sign_in = || async {
            ctx.store
                .user(stored.id)
                .await
                .unwrap()
                .unwrap()
                .last_login_at
        };

        // A password reset's proof spends the code and is not a sign-in.
        let mut user = stored.clone();
        let verdict = check_code(
            &ctx,
            &mut user,
            &authentication,
            "RIGHT-CODE",
            &attempt,
            CodeFor::Proof,
        );
        assert!(matches!(verdict.await.unwrap(), CodeVerdict::Accepted(_)));
        assert_eq!(last_sign_in().await, None);

        let mfa = stored.mfa.clone();
        let mut user = ctx
            .store
            .update_user(
                stored.id,
                Box::new(move |u| {
                    u.mfa = mfa.clone();
                    Ok(())
                }),
            )
            .await
            .unwrap();
        let verdict = check_code(
            &ctx,
            &mut user,
            &authentication,
            "RIGHT-CODE",
            &attempt,
            CodeFor::SignIn,
        );
        let CodeVerdict::Accepted(authentication) = verdict.await.unwrap() else {
            panic!("the right recovery code was refused");
        };
        let now = ctx.clock.unix_now();
        assert_eq!(last_sign_in().await, Some(now), "moved with the spend");
        assert_eq!(
            user.last_login_at,
            Some(now),
            "the caller's copy is the stored user"
        );
        let recorded = signed_in(&ctx, &user, &authentication).await;
        assert_eq!(recorded.last_login_at, Some(now));
    }
}
