//! Emailed one-time codes: 6 digits, valid for the site's lifetime (15 minutes by default),
//! single use, void after 5 wrong tries, at most one sent a minute. The mail says what the code
//! is for and carries no link: link scanners would open, and use up, a one-time link.

use crate::context::Context;
use crate::mail;
use crate::model::User;
use crate::model::grants::{CodePurpose, EmailCode};
use crate::secrets::constant_time_eq;
use crate::store::{Change, RecordKey, StoreError};
use rand::Rng;

pub const MAX_WRONG_TRIES: u32 = 5;
/// The shortest wait between two codes for one user.
pub const RESEND_AFTER: u64 = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Sent to this (masked) address.
    To(String),
    /// A code went out less than a minute ago; ask again in this many seconds.
    TooSoon(u64),
    /// Delivery failed; the sent-mail log says why.
    Failed,
}

/// Sends a fresh code for `purpose`, replacing any earlier one.
pub async fn send(ctx: &Context, user: &User, purpose: CodePurpose) -> Result<Sent, StoreError> {
    let now = ctx.clock.unix_now();
    let key = &RecordKey::of_user(user.id);
    if let Some(previous) = ctx.store.email_codes().get(key, now).await? {
        if previous.sent_at + RESEND_AFTER > now {
            return Ok(Sent::TooSoon(previous.sent_at + RESEND_AFTER - now));
        }
    }
    let lifetime = ctx.store.site_settings().await?.email_code_lifetime_seconds;
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    keep(ctx, user, purpose, &code, lifetime).await?;
    let minutes = lifetime.div_ceil(60);
    let (subject, why) = match purpose {
        CodePurpose::SignIn => ("Your {site} sign-in code", "to finish signing in"),
        CodePurpose::Enrolment => (
            "Your {site} verification code",
            "to turn on two-step verification with email codes",
        ),
        CodePurpose::Invitation => ("Your {site} invitation code", "to accept your invitation"),
        CodePurpose::PasswordReset => ("Reset your {site} password", "to choose a new password"),
        CodePurpose::FirstFactor => ("Your {site} sign-in code", "to sign in"),
    };
    let letter = mail::Letter::new(mail::Kind::Code, subject)
        .with(
            "name",
            user.display_name.as_deref().unwrap_or(&user.username),
        )
        .with("why", why)
        .with("code", &code)
        .with("minutes", minutes);
    if ctx.mailer.send(&user.username, &user.email, letter).await? {
        Ok(Sent::To(mail::mask_address(&user.email)))
    } else {
        ctx.store.email_codes().remove(key).await?;
        Ok(Sent::Failed)
    }
}

/// Keeps `code` as `user`'s one live emailed code, for `purpose`, for `lifetime` seconds,
/// replacing any earlier one (which stops working).
pub async fn keep(
    ctx: &Context,
    user: &User,
    purpose: CodePurpose,
    code: &str,
    lifetime: u64,
) -> Result<(), StoreError> {
    let now = ctx.clock.unix_now();
    ctx.store
        .email_codes()
        .put(
            &RecordKey::of_user(user.id),
            &EmailCode {
                purpose,
                mac: mac(ctx, user, code),
                wrong_tries: 0,
                sent_at: now,
                expires_at: now + lifetime,
            },
        )
        .await
}

/// Checks a code for `purpose`. Right: the code is spent. Wrong: counted, and the fifth wrong
/// try voids it. Expired or absent: false.
pub async fn verify(
    ctx: &Context,
    user: &User,
    purpose: CodePurpose,
    code: &str,
) -> Result<bool, StoreError> {
    let now = ctx.clock.unix_now();
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let given = mac(ctx, user, &code);
    let mut right = false;
    ctx.store
        .email_codes()
        .update(&RecordKey::of_user(user.id), now, &mut |stored| {
            right = stored.purpose == purpose && constant_time_eq(&stored.mac, &given);
            let wrong_tries = stored.wrong_tries + 1;
            if right || wrong_tries >= MAX_WRONG_TRIES {
                return Change::Remove;
            }
            Change::Replace(EmailCode {
                wrong_tries,
                ..stored.clone()
            })
        })
        .await?;
    Ok(right)
}

/// Codes are guessable (a million values), so they are stored keyed, and bound to the user.
fn mac(ctx: &Context, user: &User, code: &str) -> [u8; 32] {
    ctx.master_key
        .keyed_hash("email-code", format!("{}:{code}", user.id).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> User {
        User::for_tests("alice")
    }

    /// The code in the newest outbox message.
    fn last_code(dir: &std::path::Path) -> String {
        let mut files: Vec<_> = std::fs::read_dir(dir.join("outbox"))
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        files.sort_by_key(|f| f.metadata().unwrap().modified().unwrap());
        let text = std::fs::read_to_string(files.last().unwrap().path()).unwrap();
        text.lines()
            .map(str::trim)
            .find(|l| l.len() == 6 && l.chars().all(|c| c.is_ascii_digit()))
            .unwrap()
            .to_owned()
    }

    #[tokio::test]
    async fn a_code_works_once_for_its_purpose_and_not_after_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::for_tests(dir.path()).await;
        let user = alice();
        assert_eq!(
            send(&ctx, &user, CodePurpose::SignIn).await.unwrap(),
            Sent::To("a•••@example.com".into())
        );
        // A minute from the first (a second may tick over while the first is mailed).
        assert!(matches!(
            send(&ctx, &user, CodePurpose::SignIn).await.unwrap(),
            Sent::TooSoon(59 | 60)
        ));
        let code = last_code(dir.path());
        assert!(
            !verify(&ctx, &user, CodePurpose::Enrolment, &code)
                .await
                .unwrap(),
            "wrong purpose"
        );
        assert!(
            verify(&ctx, &user, CodePurpose::SignIn, &code)
                .await
                .unwrap()
        );
        assert!(
            !verify(&ctx, &user, CodePurpose::SignIn, &code)
                .await
                .unwrap(),
            "single use"
        );

        ctx.test_clock.as_ref().unwrap().advance(61);
        send(&ctx, &user, CodePurpose::SignIn).await.unwrap();
        let code = last_code(dir.path());
        ctx.test_clock.as_ref().unwrap().advance(15 * 60);
        assert!(
            !verify(&ctx, &user, CodePurpose::SignIn, &code)
                .await
                .unwrap(),
            "expired after 15 minutes"
        );
    }

    #[tokio::test]
    async fn five_wrong_tries_void_the_code() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::for_tests(dir.path()).await;
        let user = alice();
        send(&ctx, &user, CodePurpose::SignIn).await.unwrap();
        let code = last_code(dir.path());
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..MAX_WRONG_TRIES {
            assert!(
                !verify(&ctx, &user, CodePurpose::SignIn, wrong)
                    .await
                    .unwrap()
            );
        }
        assert!(
            !verify(&ctx, &user, CodePurpose::SignIn, &code)
                .await
                .unwrap(),
            "void after five wrong tries"
        );
    }
}
