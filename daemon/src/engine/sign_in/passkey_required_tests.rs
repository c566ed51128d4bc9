//! A role that requires a passkey, driven through the sign-in engine with a software key
//! playing the browser: the user is made to add one, codes stop counting, PAM refuses.

use super::*;
use crate::factors::{password, recovery};
use crate::model::MfaMethod;
use crate::model::Role;
use crate::model::mfa::MfaEnrolment;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

const PASSWORD: &str = "correct horse battery";
const ORIGIN: &str = "http://localhost:8080";

fn web(rp_wants_phishing_resistant: bool) -> Door {
    Door {
        kind: DoorKind::Web {
            rp_wants_mfa: rp_wants_phishing_resistant,
            rp_wants_phishing_resistant,
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

fn pam() -> Door {
    Door {
        kind: DoorKind::Pam {
            service: "sshd".into(),
            remote_host: None,
            second_factor_only: false,
        },
        address: None,
        source: "pam sshd".into(),
        batch: crate::store::batch::Batch::now(),
    }
}

/// Pia, who signs in with emailed codes (and has a recovery code), optionally holding a role
/// that requires a passkey.
async fn pia(ctx: &Context, keyholder: bool) -> User {
    ctx.store
        .insert_role(&Role {
            name: "keyholders".into(),
            require_mfa: false,
            api_access: false,
            require_phishing_resistant: true,
        })
        .await
        .unwrap();
    let mut user = User {
        password_hash: password::hash(PASSWORD).unwrap(),
        mfa: Some(MfaEnrolment {
            method: MfaMethod::Email,
            totp: None,
            recovery_codes: vec![recovery::hash(&ctx.master_key, "RIGHT-CODE")],
            enrolled_at: 1,
            passkeys: Vec::new(),
        }),
        ..User::for_tests("pia")
    };
    if keyholder {
        user.roles.insert("keyholders".into());
    }
    ctx.store.insert_user(&user).await.unwrap();
    user
}

async fn after_password(ctx: &Context, door: &Door) -> Outcome {
    let password = Answer::Password {
        username: "pia".into(),
        password: PASSWORD.into(),
    };
    answer(ctx, door, &LoginStep::Password, password)
        .await
        .unwrap()
}

/// Adds a software passkey at an enrolment step, as the browser would.
async fn add_passkey(ctx: &Context, door: &Door, user: &User, step: &LoginStep) -> Outcome {
    let mut key = SoftPasskey::new(true);
    let started = crate::engine::passkeys::start_registration(ctx, user)
        .await
        .unwrap();
    let options: CreationChallengeResponse = serde_json::from_value(started.options).unwrap();
    let reply = key
        .do_registration(Url::parse(ORIGIN).unwrap(), options)
        .unwrap();
    let added = Answer::AddPasskey {
        challenge: started.challenge,
        name: "blue key".into(),
        answer: serde_json::to_string(&reply).unwrap(),
    };
    let outcome = answer(ctx, door, step, added).await.unwrap();
    KEYS.with(|keys| keys.borrow_mut().push(key));
    outcome
}

thread_local! {
    // The keys added in this test's thread, so a later step can sign with them.
    static KEYS: std::cell::RefCell<Vec<SoftPasskey>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Answers a passkey-only second step with the key added last.
async fn use_passkey(ctx: &Context, door: &Door, user: &User, step: &LoginStep) -> Outcome {
    let started = crate::engine::passkeys::start_sign_in(ctx, user)
        .await
        .unwrap();
    let options: RequestChallengeResponse = serde_json::from_value(started.options).unwrap();
    let reply = KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        let key = keys.last_mut().expect("a key was added");
        key.do_authentication(Url::parse(ORIGIN).unwrap(), options)
            .unwrap()
    });
    let passkey = Answer::Passkey {
        challenge: started.challenge,
        answer: serde_json::to_string(&reply).unwrap(),
    };
    answer(ctx, door, step, passkey).await.unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn a_role_requiring_a_passkey_makes_the_user_add_one_and_codes_stop_counting() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::for_tests(dir.path()).await;
    let user = pia(&ctx, true).await;

    // PAM cannot add a passkey nor ask for one: it refuses rather than take a code.
    let refused = after_password(&ctx, &pam()).await;
    assert!(
        matches!(refused, Outcome::Refused(Refusal::PasskeyRequired)),
        "{refused:?}"
    );

    // The web makes her add one; she already had a second factor, so no new recovery codes.
    let door = web(false);
    let Outcome::Next(step @ LoginStep::EnrolPasskey { .. }) = after_password(&ctx, &door).await
    else {
        panic!("a keyholder without a passkey is made to add one");
    };
    let code = answer(&ctx, &door, &step, Answer::Code("RIGHT-CODE".into()))
        .await
        .unwrap();
    assert!(
        matches!(code, Outcome::Refused(Refusal::OutOfStep)),
        "{code:?}"
    );
    let Outcome::Next(
        step @ LoginStep::SecondFactor {
            passkey_only: true, ..
        },
    ) = add_passkey(&ctx, &door, &user, &step).await
    else {
        panic!("the new passkey is then asked for, and only it");
    };

    // Her recovery code does not do instead, and the refusal spends nothing.
    let code = answer(&ctx, &door, &step, Answer::Code("RIGHT-CODE".into()))
        .await
        .unwrap();
    assert!(matches!(code, Outcome::Refused(Refusal::PasskeyRequired)));
    let resend = answer(&ctx, &door, &step, Answer::Resend).await.unwrap();
    assert!(matches!(resend, Outcome::Refused(Refusal::PasskeyRequired)));
    let stored = ctx.store.user(user.id).await.unwrap().unwrap();
    assert_eq!(stored.mfa.as_ref().unwrap().recovery_codes.len(), 1);

    let Outcome::Done(finished) = use_passkey(&ctx, &door, &stored, &step).await else {
        panic!("the passkey finishes the sign-in");
    };
    assert_eq!(finished.authentication.acr(), "postern:phr");

    // The next sign-in goes straight to the passkey.
    let next = after_password(&ctx, &door).await;
    assert!(
        matches!(
            next,
            Outcome::Next(LoginStep::SecondFactor {
                passkey_only: true,
                ..
            })
        ),
        "{next:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_application_asking_for_a_passkey_gets_one_and_others_keep_their_codes() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::for_tests(dir.path()).await;
    let user = pia(&ctx, false).await;

    // Without the role and without the request, her emailed code does.
    let plain = after_password(&ctx, &web(false)).await;
    assert!(
        matches!(
            plain,
            Outcome::Next(LoginStep::SecondFactor {
                passkey_only: false,
                ..
            })
        ),
        "{plain:?}"
    );

    // An application asking `acr_values=postern:phr` gets a passkey sign-in or none.
    let door = web(true);
    let Outcome::Next(step @ LoginStep::EnrolPasskey { .. }) = after_password(&ctx, &door).await
    else {
        panic!("the user is asked to add a passkey");
    };
    let Outcome::Next(step) = add_passkey(&ctx, &door, &user, &step).await else {
        panic!("the new passkey is then asked for");
    };
    let stored = ctx.store.user(user.id).await.unwrap().unwrap();
    let Outcome::Done(finished) = use_passkey(&ctx, &door, &stored, &step).await else {
        panic!("the passkey finishes the sign-in");
    };
    let request = crate::model::grants::AuthorizationRequest {
        acr_values: vec!["postern:phr".into()],
        ..crate::model::grants::AuthorizationRequest::for_tests("wiki")
    };
    assert!(finished.authentication.satisfies(&request));
    let code_only = crate::model::grants::Authentication {
        amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
        ..finished.authentication.clone()
    };
    assert!(!code_only.satisfies(&request));
}
