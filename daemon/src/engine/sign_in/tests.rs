//! The sign-in flow driven directly, without HTTP or a socket.

use super::*;
use crate::factors::{password, recovery};
use crate::model::MfaMethod;
use crate::model::Role;
use crate::model::mfa::MfaEnrolment;

const PASSWORD: &str = "correct horse battery";

pub(super) fn web() -> Door {
    Door {
        kind: DoorKind::Web {
            rp_wants_mfa: false,
            rp_wants_phishing_resistant: false,
            fresh_factor: false,
            device_cookie: None,
            browser_cookie: None,
            user_agent: "Firefox/1 Linux".into(),
        },
        address: Some("192.0.2.1".parse().unwrap()),
        source: "web 192.0.2.1".into(),
        batch: crate::store::batch::Batch::now(),
    }
}

fn pam(second_factor_only: bool) -> Door {
    Door {
        kind: DoorKind::Pam {
            service: "sshd".into(),
            remote_host: Some("192.0.2.9".into()),
            second_factor_only,
        },
        address: Some("192.0.2.9".parse().unwrap()),
        source: "pam sshd from 192.0.2.9".into(),
        batch: crate::store::batch::Batch::now(),
    }
}

/// Noor, with a recovery code as her second factor, or none; optionally in a role that
/// requires MFA.
async fn noor(ctx: &Context, enrolled: bool, required: bool) -> User {
    let mfa = enrolled.then(|| MfaEnrolment {
        method: MfaMethod::Email,
        totp: None,
        recovery_codes: vec![recovery::hash(&ctx.master_key, "RIGHT-CODE")],
        enrolled_at: 1,
        passkeys: Vec::new(),
    });
    let mut user = User {
        password_hash: password::hash(PASSWORD).unwrap(),
        mfa,
        ..User::for_tests("noor")
    };
    if required {
        ctx.store
            .insert_role(&Role {
                name: "staff".into(),
                require_mfa: true,
                api_access: false,
                require_phishing_resistant: false,
            })
            .await
            .unwrap();
        user.roles.insert("staff".into());
    }
    ctx.store.insert_user(&user).await.unwrap();
    user
}

fn password_answer(username: &str, password: &str) -> Answer {
    Answer::Password {
        username: username.into(),
        password: password.into(),
    }
}

async fn context() -> (tempfile::TempDir, Context) {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::for_tests(dir.path()).await;
    (dir, ctx)
}

#[tokio::test]
async fn the_same_answers_lead_to_the_same_steps_at_both_doors() {
    let (_dir, ctx) = context().await;
    noor(&ctx, true, true).await;
    for door in [web(), pam(false)] {
        let first = answer(
            &ctx,
            &door,
            &LoginStep::Password,
            password_answer("noor", PASSWORD),
        )
        .await
        .unwrap();
        let Outcome::Next(step @ LoginStep::SecondFactor { .. }) = first else {
            panic!("{door:?}: a second factor is asked for, got {first:?}");
        };
        let done = answer(&ctx, &door, &step, Answer::Code("RIGHT-CODE".into()))
            .await
            .unwrap();
        let Outcome::Done(finished) = done else {
            panic!("{door:?}: the recovery code signs in, got {done:?}");
        };
        assert_eq!(finished.authentication.acr(), "postern:mfa");
        // The recovery code is spent: noor gets a fresh one for the next door.
        ctx.store
            .update_user(
                finished.user.id,
                Box::new(|u| {
                    if let Some(mfa) = u.mfa.as_mut() {
                        mfa.recovery_codes = vec![recovery::hash(&ctx.master_key, "RIGHT-CODE")];
                    }
                    Ok(())
                }),
            )
            .await
            .unwrap();
    }
    let wrong = answer(
        &ctx,
        &pam(false),
        &LoginStep::Password,
        password_answer("noor", "wrong"),
    )
    .await
    .unwrap();
    assert!(matches!(wrong, Outcome::Refused(Refusal::Credentials)));
}

#[tokio::test]
async fn pam_cannot_enrol_the_web_can_and_case_matters_only_at_pam() {
    let (_dir, ctx) = context().await;
    noor(&ctx, false, true).await;
    let at_pam = answer(
        &ctx,
        &pam(false),
        &LoginStep::Password,
        password_answer("noor", PASSWORD),
    )
    .await
    .unwrap();
    assert!(matches!(at_pam, Outcome::Refused(Refusal::MustEnrol)));
    let at_web = answer(
        &ctx,
        &web(),
        &LoginStep::Password,
        password_answer("NOOR", PASSWORD),
    )
    .await
    .unwrap();
    assert!(
        matches!(at_web, Outcome::Next(LoginStep::EnrolTotp { .. })),
        "{at_web:?}"
    );
    let wrong_case = answer(
        &ctx,
        &pam(false),
        &LoginStep::Password,
        password_answer("NOOR", PASSWORD),
    )
    .await
    .unwrap();
    assert!(matches!(wrong_case, Outcome::Refused(Refusal::Credentials)));
}

#[tokio::test]
async fn second_factor_mode_asks_only_the_code_and_refuses_disabled_or_locked_users() {
    let (_dir, ctx) = context().await;
    let user = noor(&ctx, true, false).await;
    let identified = Answer::Identified {
        username: "noor".into(),
    };
    let first = answer(&ctx, &pam(true), &LoginStep::Password, identified.clone())
        .await
        .unwrap();
    assert!(matches!(
        first,
        Outcome::Next(LoginStep::SecondFactor { .. })
    ));
    // Only PAM's second-factor mode may skip the password.
    let at_web = answer(&ctx, &web(), &LoginStep::Password, identified.clone())
        .await
        .unwrap();
    assert!(matches!(at_web, Outcome::Refused(Refusal::OutOfStep)));

    ctx.store
        .update_user(
            user.id,
            Box::new(|u| {
                u.disabled = true;
                Ok(())
            }),
        )
        .await
        .unwrap();
    let disabled = answer(&ctx, &pam(true), &LoginStep::Password, identified.clone())
        .await
        .unwrap();
    assert!(matches!(disabled, Outcome::Refused(Refusal::Credentials)));
    ctx.store
        .update_user(
            user.id,
            Box::new(|u| {
                u.disabled = false;
                Ok(())
            }),
        )
        .await
        .unwrap();
    for _ in 0..5 {
        answer(
            &ctx,
            &pam(false),
            &LoginStep::Password,
            password_answer("noor", "wrong"),
        )
        .await
        .unwrap();
    }
    let locked = answer(&ctx, &pam(true), &LoginStep::Password, identified)
        .await
        .unwrap();
    assert!(matches!(locked, Outcome::Refused(Refusal::Credentials)));
}

#[tokio::test]
async fn a_remembered_browser_skips_the_code_and_gets_its_cookie_back() {
    let (_dir, ctx) = context().await;
    let user = noor(&ctx, true, true).await;
    let (cookie, _) =
        devices::remember(&ctx, user.id, "Firefox/1 Linux", None, &Default::default())
            .await
            .unwrap()
            .unwrap();
    let mut door = web();
    if let DoorKind::Web { device_cookie, .. } = &mut door.kind {
        *device_cookie = Some(cookie.clone());
    }
    let done = answer(
        &ctx,
        &door,
        &LoginStep::Password,
        password_answer("noor", PASSWORD),
    )
    .await
    .unwrap();
    let Outcome::Done(finished) = done else {
        panic!("a remembered browser signs in without a code, got {done:?}");
    };
    assert_eq!(finished.authentication.amr, vec!["pwd", "mfa"]);
    assert_eq!(finished.device.map(|d| d.value), Some(cookie));
    // The sign-in was recorded by the engine, not the door.
    let stored = ctx.store.user(user.id).await.unwrap().unwrap();
    assert!(stored.last_login_at.is_some());
}

#[tokio::test]
async fn a_stored_flow_moves_with_each_answer_and_is_spent_when_the_sign_in_finishes() {
    let (_dir, ctx) = context().await;
    noor(&ctx, true, false).await;
    let browser = [7u8; 32];
    let mut started = flow::new(&ctx, None, browser);
    let id = flow::start(&ctx, &started).await.unwrap();
    assert!(
        flow::load(&ctx, &id, &[8u8; 32]).await.unwrap().is_none(),
        "another browser cannot take the flow"
    );

    let wrong = flow::advance(
        &ctx,
        &web(),
        &id,
        &mut started,
        None,
        password_answer("noor", "no"),
    )
    .await
    .unwrap();
    assert!(matches!(
        wrong.outcome,
        Outcome::Refused(Refusal::Credentials)
    ));
    assert!(wrong.user.is_none(), "a refusal tells nothing of the user");
    let stored = flow::load(&ctx, &id, &browser).await.unwrap().unwrap();
    assert_eq!(
        stored.flow.step,
        LoginStep::Password,
        "a refusal keeps the step"
    );
    assert!(stored.user.is_none(), "the password step names nobody yet");

    // The next answer may come in another request: it reads the flow from the store.
    let mut taken = stored.flow;
    let next = flow::advance(
        &ctx,
        &web(),
        &id,
        &mut taken,
        None,
        password_answer("noor", PASSWORD),
    )
    .await
    .unwrap();
    assert!(matches!(
        next.outcome,
        Outcome::Next(LoginStep::SecondFactor { .. })
    ));
    let about = next
        .user
        .expect("the user the password step read, for the next page");
    assert_eq!(about.username, "noor");
    let again = flow::load(&ctx, &id, &browser).await.unwrap().unwrap();
    assert!(matches!(again.flow.step, LoginStep::SecondFactor { .. }));
    let read = again
        .user
        .expect("the code step's user, read with its flow");
    assert_eq!(read.id, about.id);

    let done = flow::advance(
        &ctx,
        &web(),
        &id,
        &mut again.flow.clone(),
        Some(read),
        Answer::Code("RIGHT-CODE".into()),
    )
    .await
    .unwrap();
    assert!(matches!(done.outcome, Outcome::Done(_)));
    assert!(
        flow::load(&ctx, &id, &browser).await.unwrap().is_none(),
        "a finished flow cannot finish another sign-in"
    );
}

#[tokio::test]
async fn a_flow_expires() {
    let (_dir, ctx) = context().await;
    let browser = [7u8; 32];
    let id = flow::start(&ctx, &flow::new(&ctx, None, browser))
        .await
        .unwrap();
    ctx.test_clock
        .as_ref()
        .unwrap()
        .advance(flow::FLOW_LIFETIME + 1);
    assert!(flow::load(&ctx, &id, &browser).await.unwrap().is_none());
}
