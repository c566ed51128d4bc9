//! Signing in with an emailed code instead of the password, driven through the engine.

use super::tests::web;
use super::*;
use crate::factors::password;
use crate::model::MfaMethod;
use crate::model::Role;
use crate::model::mfa::{MfaEnrolment, TotpSeed};

const PASSWORD: &str = "correct horse battery";

async fn context(offered: bool) -> (tempfile::TempDir, Context) {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::for_tests(dir.path()).await;
    ctx.store
        .update_site_settings(Box::new(move |s| {
            s.email_code_sign_in = offered;
            Ok(())
        }))
        .await
        .unwrap();
    (dir, ctx)
}

/// Kai, with `method` as their second factor (or none), optionally in a role requiring MFA.
async fn kai(ctx: &Context, method: Option<MfaMethod>, required: bool) -> User {
    let mut user = User {
        password_hash: password::hash(PASSWORD).unwrap(),
        ..User::for_tests("kai")
    };
    user.mfa = method.map(|method| MfaEnrolment {
        method,
        totp: (method == MfaMethod::Totp).then(|| TotpSeed {
            sealed: ctx
                .master_key
                .seal(&crate::model::mfa::totp_seal_context(&user.id), &[7; 20]),
            last_step: None,
        }),
        recovery_codes: Vec::new(),
        enrolled_at: 1,
        passkeys: Vec::new(),
    });
    if required {
        let staff = Role {
            name: "staff".into(),
            require_mfa: true,
            api_access: false,
            require_phishing_resistant: false,
        };
        ctx.store.insert_role(&staff).await.unwrap();
        user.roles.insert("staff".into());
    }
    ctx.store.insert_user(&user).await.unwrap();
    user
}

/// The code in the newest outbox message.
fn mailed_code(dir: &tempfile::TempDir) -> String {
    let mut files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    files.sort_by_key(|f| f.metadata().unwrap().modified().unwrap());
    let text = std::fs::read_to_string(files.last().unwrap().path()).unwrap();
    text.lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.chars().all(|c| c.is_ascii_digit()))
        .expect("a code in the mail")
        .to_owned()
}

/// Asks for a code for `username`, mails it, and returns the step that waits for it.
async fn ask_code(ctx: &Context, username: &str) -> LoginStep {
    let asked = Answer::EmailMeACode {
        username: username.into(),
    };
    let outcome = answer(ctx, &web(), &LoginStep::Password, asked)
        .await
        .unwrap();
    let Outcome::Next(step @ LoginStep::EmailedCode { .. }) = outcome else {
        panic!("the step that waits for the code, got {outcome:?}");
    };
    emailed_code::deliver(ctx, &step).await.unwrap();
    step
}

async fn password(ctx: &Context, step: &LoginStep, password: &str) -> Outcome {
    let given = Answer::Password {
        username: String::new(),
        password: password.into(),
    };
    answer(ctx, &web(), step, given).await.unwrap()
}

async fn give(ctx: &Context, step: &LoginStep, code: &str) -> Outcome {
    answer(ctx, &web(), step, Answer::Code(code.into()))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_user_without_a_second_factor_signs_in_with_the_code_alone_once() {
    let (dir, ctx) = context(true).await;
    kai(&ctx, None, false).await;
    let step = ask_code(&ctx, "KAI").await;
    let code = mailed_code(&dir);
    let Outcome::Done(finished) = give(&ctx, &step, &code).await else {
        panic!("signed in");
    };
    assert_eq!(finished.authentication.amr, vec!["email".to_owned()]);
    assert!(
        matches!(
            give(&ctx, &step, &code).await,
            Outcome::Refused(Refusal::Code)
        ),
        "a code works once"
    );
}

#[tokio::test]
async fn an_email_only_user_must_give_the_password_too() {
    let (dir, ctx) = context(true).await;
    kai(&ctx, Some(MfaMethod::Email), false).await;
    let step = ask_code(&ctx, "kai").await;
    let outcome = give(&ctx, &step, &mailed_code(&dir)).await;
    let Outcome::Next(after @ LoginStep::PasswordAfterCode { .. }) = outcome else {
        panic!("the password is asked for, got {outcome:?}");
    };
    let wrong = password(&ctx, &after, "wrong").await;
    assert!(matches!(wrong, Outcome::Refused(Refusal::Credentials)));
    let Outcome::Done(finished) = password(&ctx, &after, PASSWORD).await else {
        panic!("signed in with the code and the password");
    };
    assert_eq!(finished.authentication.amr, ["email", "pwd", "mfa"]);
    assert_eq!(finished.authentication.acr(), "postern:mfa");
}

#[tokio::test]
async fn an_app_user_gives_the_app_code_next_and_one_who_must_enrol_the_password() {
    let (dir, ctx) = context(true).await;
    kai(&ctx, Some(MfaMethod::Totp), false).await;
    let step = ask_code(&ctx, "kai").await;
    let outcome = give(&ctx, &step, &mailed_code(&dir)).await;
    assert!(
        matches!(
            outcome,
            Outcome::Next(LoginStep::SecondFactor {
                passkey_only: false,
                ..
            })
        ),
        "{outcome:?}"
    );

    let (dir, ctx) = context(true).await;
    kai(&ctx, None, true).await;
    let step = ask_code(&ctx, "kai").await;
    let outcome = give(&ctx, &step, &mailed_code(&dir)).await;
    let Outcome::Next(after @ LoginStep::PasswordAfterCode { .. }) = outcome else {
        panic!("the password before enrolling, got {outcome:?}");
    };
    let outcome = password(&ctx, &after, PASSWORD).await;
    assert!(
        matches!(outcome, Outcome::Next(LoginStep::EnrolTotp { .. })),
        "then enrols as after a password: {outcome:?}"
    );
}

#[tokio::test]
async fn an_unknown_account_gets_the_same_step_and_wrong_codes_lock_like_passwords() {
    let (dir, ctx) = context(true).await;
    kai(&ctx, None, false).await;
    let unknown = ask_code(&ctx, "nobody").await;
    assert!(matches!(
        &unknown,
        LoginStep::EmailedCode { user_id: None, username } if username == "nobody"
    ));
    assert!(matches!(
        give(&ctx, &unknown, "123456").await,
        Outcome::Refused(Refusal::Code)
    ));

    let step = ask_code(&ctx, "kai").await;
    let code = mailed_code(&dir);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        assert!(matches!(
            give(&ctx, &step, wrong).await,
            Outcome::Refused(Refusal::Code)
        ));
    }
    let now = ctx.clock.unix_now();
    let locked = ctx
        .limiter
        .is_locked("kai", web().address, now)
        .await
        .unwrap();
    assert!(
        locked,
        "five wrong codes lock the account, as wrong passwords do"
    );
    assert!(matches!(
        give(&ctx, &step, &code).await,
        Outcome::Refused(Refusal::Code)
    ));
}

#[tokio::test]
async fn a_second_factor_code_is_not_a_first_factor_and_the_site_decides() {
    let (dir, ctx) = context(true).await;
    let user = kai(&ctx, None, false).await;
    let step = ask_code(&ctx, "kai").await;
    // A code mailed for the second step replaces the live one, and is for another purpose.
    email_code::send(&ctx, &user, CodePurpose::SignIn)
        .await
        .unwrap();
    ctx.test_clock.as_ref().unwrap().advance(61);
    email_code::send(&ctx, &user, CodePurpose::SignIn)
        .await
        .unwrap();
    assert!(matches!(
        give(&ctx, &step, &mailed_code(&dir)).await,
        Outcome::Refused(Refusal::Code)
    ));

    let (_dir, ctx) = context(false).await;
    kai(&ctx, None, false).await;
    let asked = Answer::EmailMeACode {
        username: "kai".into(),
    };
    let outcome = answer(&ctx, &web(), &LoginStep::Password, asked)
        .await
        .unwrap();
    assert!(
        matches!(outcome, Outcome::Refused(Refusal::OutOfStep)),
        "off by default"
    );
}
