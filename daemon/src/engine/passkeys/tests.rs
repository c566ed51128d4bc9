//! Passkeys through the engine, on a real (sled) store, with a software authenticator playing
//! the browser and the key.

use super::*;
use crate::audit::AuditDoor;
use crate::engine::{CodeVerdict, NameMatch, PasswordAttempt};
use crate::model::Role;
use crate::model::grants::Authentication;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

const ORIGIN: &str = "http://localhost:8080";

struct Site {
    _dir: tempfile::TempDir,
    ctx: Context,
}

async fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::for_tests(dir.path()).await;
    Site { _dir: dir, ctx }
}

async fn new_user(ctx: &Context, name: &str) -> User {
    let user = User::for_tests(name);
    ctx.store.insert_user(&user).await.unwrap();
    user
}

fn actor(name: &str) -> Actor<'_> {
    Actor {
        name,
        door: AuditDoor::Web,
        source: "test",
    }
}

fn attempt(username: &str) -> PasswordAttempt<'_> {
    PasswordAttempt {
        username,
        name_match: NameMatch::IgnoringCase,
        password: "",
        address: None,
        source: "test".into(),
        door: AuditDoor::Web,
        batch: crate::store::batch::Batch::now(),
    }
}

/// Registers a new software passkey for `user` through the engine.
async fn add_passkey(ctx: &Context, user: &User, name: &str) -> (SoftPasskey, Added) {
    let mut key = SoftPasskey::new(true);
    let started = start_registration(ctx, user).await.unwrap();
    let options: CreationChallengeResponse = serde_json::from_value(started.options).unwrap();
    let answer = key
        .do_registration(Url::parse(ORIGIN).unwrap(), options)
        .unwrap();
    let added = finish_registration(
        ctx,
        user.id,
        &started.challenge,
        name,
        &serde_json::to_string(&answer).unwrap(),
        actor(&user.username),
    )
    .await
    .unwrap();
    (key, added)
}

/// What `key` answers to a sign-in challenge, made on `origin`.
fn answer(key: &mut SoftPasskey, origin: &str, options: serde_json::Value) -> String {
    let options: RequestChallengeResponse = serde_json::from_value(options).unwrap();
    let answer = key
        .do_authentication(Url::parse(origin).unwrap(), options)
        .unwrap();
    serde_json::to_string(&answer).unwrap()
}

/// The authentication a right password gives.
fn after_password(user: &User) -> Authentication {
    Authentication {
        user_id: user.id,
        auth_time: 1,
        amr: vec!["pwd".into()],
    }
}

async fn check(ctx: &Context, user: &User, challenge: &str, answer: &str) -> CodeVerdict {
    check_sign_in(
        ctx,
        &after_password(user),
        challenge,
        answer,
        &attempt(&user.username),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_passkey_added_to_an_account_answers_the_second_step() {
    let site = site().await;
    let ctx = &site.ctx;
    let alice = new_user(ctx, "alice").await;
    let (mut key, added) = add_passkey(ctx, &alice, "  my key ").await;
    assert_eq!(added.credential.name, "my key");
    assert_eq!(
        added.recovery_codes.as_ref().map(Vec::len),
        Some(recovery::generate().len()),
        "a first second factor comes with recovery codes"
    );
    let stored = ctx.store.user(alice.id).await.unwrap().unwrap();
    let mfa = stored.mfa.as_ref().unwrap();
    assert_eq!(mfa.method, MfaMethod::Webauthn);
    assert_eq!(mfa.passkeys.len(), 1);
    assert!(mfa.is_usable(&ctx.store.site_settings().await.unwrap()));

    let started = start_sign_in(ctx, &stored).await.unwrap();
    let reply = answer(&mut key, ORIGIN, started.options);
    let CodeVerdict::Accepted(authentication) =
        check(ctx, &stored, &started.challenge, &reply).await
    else {
        panic!("the passkey was refused");
    };
    assert_eq!(authentication.amr, ["pwd", "mfa", "hwk", "user"]);
    let used = ctx.store.user(alice.id).await.unwrap().unwrap();
    assert!(used.mfa.unwrap().passkeys[0].last_used_at.is_some());

    // A second passkey is added beside the first, without new recovery codes.
    let (_, second) = add_passkey(ctx, &stored, "backup key").await;
    assert!(second.recovery_codes.is_none());
    let stored = ctx.store.user(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.mfa.unwrap().passkeys.len(), 2);
}

#[tokio::test]
async fn an_answer_works_once() {
    let site = site().await;
    let ctx = &site.ctx;
    let alice = new_user(ctx, "alice").await;
    let (mut key, _) = add_passkey(ctx, &alice, "key").await;
    let alice = ctx.store.user(alice.id).await.unwrap().unwrap();
    let started = start_sign_in(ctx, &alice).await.unwrap();
    let reply = answer(&mut key, ORIGIN, started.options);
    assert!(matches!(
        check(ctx, &alice, &started.challenge, &reply).await,
        CodeVerdict::Accepted(_)
    ));
    assert!(matches!(
        check(ctx, &alice, &started.challenge, &reply).await,
        CodeVerdict::Rejected
    ));
}

#[tokio::test]
async fn answers_from_elsewhere_or_too_late_are_refused() {
    let site = site().await;
    let ctx = &site.ctx;
    let alice = new_user(ctx, "alice").await;
    let (mut key, _) = add_passkey(ctx, &alice, "key").await;
    let alice = ctx.store.user(alice.id).await.unwrap().unwrap();

    // Made on another origin (same host, another port).
    let started = start_sign_in(ctx, &alice).await.unwrap();
    let reply = answer(&mut key, "http://localhost:9999", started.options);
    assert!(matches!(
        check(ctx, &alice, &started.challenge, &reply).await,
        CodeVerdict::Rejected
    ));

    // After the challenge expired.
    let started = start_sign_in(ctx, &alice).await.unwrap();
    let reply = answer(&mut key, ORIGIN, started.options);
    ctx.test_clock
        .as_ref()
        .unwrap()
        .advance(CHALLENGE_SECONDS + 1);
    assert!(matches!(
        check(ctx, &alice, &started.challenge, &reply).await,
        CodeVerdict::Rejected
    ));

    // To a challenge made for adding a passkey, not for signing in.
    let registration = start_registration(ctx, &alice).await.unwrap();
    let started = start_sign_in(ctx, &alice).await.unwrap();
    let reply = answer(&mut key, ORIGIN, started.options);
    assert!(matches!(
        check(ctx, &alice, &registration.challenge, &reply).await,
        CodeVerdict::Rejected
    ));
    // Its own challenge still works: the wrong one did not spend it.
    assert!(matches!(
        check(ctx, &alice, &started.challenge, &reply).await,
        CodeVerdict::Accepted(_)
    ));
}

#[tokio::test]
async fn unknown_and_other_users_credentials_are_refused() {
    let site = site().await;
    let ctx = &site.ctx;
    let alice = new_user(ctx, "alice").await;
    let bob = new_user(ctx, "bob").await;
    add_passkey(ctx, &alice, "alice's key").await;
    let (mut bobs_key, bobs) = add_passkey(ctx, &bob, "bob's key").await;
    let alice = ctx.store.user(alice.id).await.unwrap().unwrap();

    // Bob's key answers a challenge for alice's sign-in with his own credential.
    let started = start_sign_in(ctx, &alice).await.unwrap();
    let mut options = started.options;
    options["publicKey"]["allowCredentials"][0]["id"] = bobs.credential.id.clone().into();
    let reply = answer(&mut bobs_key, ORIGIN, options.clone());
    assert!(matches!(
        check(ctx, &alice, &started.challenge, &reply).await,
        CodeVerdict::Rejected
    ));

    // A key no account knows, registered with nobody, made to answer the same way.
    let mut stranger = SoftPasskey::new(true);
    let throwaway = new_user(ctx, "carol").await;
    let started_for_carol = start_registration(ctx, &throwaway).await.unwrap();
    let created: CreationChallengeResponse =
        serde_json::from_value(started_for_carol.options).unwrap();
    let made = stranger
        .do_registration(Url::parse(ORIGIN).unwrap(), created)
        .unwrap();
    let started = start_sign_in(ctx, &alice).await.unwrap();
    let mut options = started.options;
    options["publicKey"]["allowCredentials"][0]["id"] =
        crate::factors::passkey::credential_id(made.raw_id.as_ref()).into();
    let reply = answer(&mut stranger, ORIGIN, options);
    assert!(matches!(
        check(ctx, &alice, &started.challenge, &reply).await,
        CodeVerdict::Rejected
    ));
}

#[tokio::test]
async fn a_removed_passkey_no_longer_signs_in() {
    let site = site().await;
    let ctx = &site.ctx;
    let alice = new_user(ctx, "alice").await;
    let (mut key, added) = add_passkey(ctx, &alice, "key").await;
    add_passkey(ctx, &alice, "other").await;
    let alice = ctx.store.user(alice.id).await.unwrap().unwrap();
    let started = start_sign_in(ctx, &alice).await.unwrap();
    let reply = answer(&mut key, ORIGIN, started.options);
    remove(
        ctx,
        alice.id,
        &added.credential.id,
        RemovedBy::User(actor("alice")),
    )
    .await
    .unwrap();
    assert!(matches!(
        check(ctx, &alice, &started.challenge, &reply).await,
        CodeVerdict::Rejected
    ));
}

#[tokio::test]
async fn the_last_second_factor_stays_while_a_role_requires_one() {
    let site = site().await;
    let ctx = &site.ctx;
    ctx.store
        .insert_role(&Role {
            name: "staff".into(),
            require_mfa: true,
            api_access: false,
            require_phishing_resistant: false,
        })
        .await
        .unwrap();
    let mut alice = User::for_tests("alice");
    alice.roles.insert("staff".into());
    ctx.store.insert_user(&alice).await.unwrap();
    let (_, first) = add_passkey(ctx, &alice, "first").await;
    let (_, second) = add_passkey(ctx, &alice, "second").await;
    remove(
        ctx,
        alice.id,
        &first.credential.id,
        RemovedBy::User(actor("alice")),
    )
    .await
    .unwrap();
    let refused = remove(
        ctx,
        alice.id,
        &second.credential.id,
        RemovedBy::User(actor("alice")),
    )
    .await;
    assert!(
        matches!(refused, Err(EngineError::Refused(_))),
        "{refused:?}"
    );
    let stored = ctx.store.user(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.mfa.unwrap().passkeys.len(), 1);

    // Without the requirement, the last passkey goes, and with it the enrolment it was.
    ctx.store
        .update_user(
            alice.id,
            Box::new(|u| {
                u.roles.clear();
                Ok(())
            }),
        )
        .await
        .unwrap();
    remove(
        ctx,
        alice.id,
        &second.credential.id,
        RemovedBy::User(actor("alice")),
    )
    .await
    .unwrap();
    assert!(
        ctx.store
            .user(alice.id)
            .await
            .unwrap()
            .unwrap()
            .mfa
            .is_none()
    );
}

#[tokio::test]
async fn a_counter_that_goes_back_is_refused() {
    let site = site().await;
    let ctx = &site.ctx;
    let alice = new_user(ctx, "alice").await;
    let (mut key, _) = add_passkey(ctx, &alice, "key").await;
    let alice = ctx.store.user(alice.id).await.unwrap().unwrap();
    // Two challenges issued while the stored counter was the same; the key answers both, then
    // the later answer (higher counter) is checked first, as a clone racing the real key.
    let first = start_sign_in(ctx, &alice).await.unwrap();
    let second = start_sign_in(ctx, &alice).await.unwrap();
    let first_reply = answer(&mut key, ORIGIN, first.options);
    let second_reply = answer(&mut key, ORIGIN, second.options);
    assert!(matches!(
        check(ctx, &alice, &second.challenge, &second_reply).await,
        CodeVerdict::Accepted(_)
    ));
    assert!(matches!(
        check(ctx, &alice, &first.challenge, &first_reply).await,
        CodeVerdict::Rejected
    ));
}

#[tokio::test]
async fn names_are_checked_and_renames_kept() {
    let site = site().await;
    let ctx = &site.ctx;
    let alice = new_user(ctx, "alice").await;
    let (_, added) = add_passkey(ctx, &alice, "key").await;
    for bad in ["", "   ", "two\nlines", &"x".repeat(65)] {
        assert!(
            rename(ctx, alice.id, &added.credential.id, bad)
                .await
                .is_err()
        );
    }
    rename(ctx, alice.id, &added.credential.id, "laptop")
        .await
        .unwrap();
    let stored = ctx.store.user(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.mfa.unwrap().passkeys[0].name, "laptop");
    assert!(rename(ctx, alice.id, "no-such-id", "x").await.is_err());
}

#[tokio::test]
async fn passkeys_are_not_offered_when_the_site_turns_them_off() {
    let site = site().await;
    let ctx = &site.ctx;
    let alice = new_user(ctx, "alice").await;
    add_passkey(ctx, &alice, "key").await;
    ctx.store
        .update_site_settings(Box::new(|s| Ok(s.set("mfa.methods", "totp,email")?)))
        .await
        .unwrap();
    let alice = ctx.store.user(alice.id).await.unwrap().unwrap();
    assert!(start_registration(ctx, &alice).await.is_err());
    assert!(start_sign_in(ctx, &alice).await.is_err());
    let settings = ctx.store.site_settings().await.unwrap();
    assert!(!alice.mfa.unwrap().is_usable(&settings));
}

/// What `key` answers to a passwordless challenge, with the user handle a discoverable
/// credential of `user` would carry. (The software key keeps no discoverable credentials, so
/// the test names the credential and adds the handle; the handle is not signed by any
/// authenticator, which is why the engine checks it against the user's own keys.)
fn passwordless_answer(
    key: &mut SoftPasskey,
    credential: &PasskeyCredential,
    user: &User,
    options: serde_json::Value,
) -> String {
    let mut options = options;
    options["publicKey"]["allowCredentials"] =
        serde_json::json!([{"type": "public-key", "id": credential.id}]);
    let reply = answer(key, ORIGIN, options);
    let mut reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    reply["response"]["userHandle"] = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        user.id.0.as_bytes(),
    )
    .into();
    reply.to_string()
}

fn origin() -> Origin<'static> {
    Origin {
        address: Some("192.0.2.7".parse().unwrap()),
        door: AuditDoor::Web,
        source: "test",
    }
}

#[tokio::test]
async fn a_passkey_alone_signs_in_as_the_user_it_names_and_only_them() {
    let site = site().await;
    let ctx = &site.ctx;
    let alice = new_user(ctx, "alice").await;
    let bob = new_user(ctx, "bob").await;
    let (mut key, added) = add_passkey(ctx, &alice, "key").await;

    let started = start_passwordless(ctx).await.unwrap();
    let reply = passwordless_answer(&mut key, &added.credential, &alice, started.options);
    let (user, authentication) = check_passwordless(ctx, &started.challenge, &reply, origin())
        .await
        .unwrap()
        .expect("alice signs in");
    assert_eq!(user.id, alice.id);
    assert_eq!(authentication.amr, ["hwk", "user", "mfa"]);
    // Once only.
    assert!(
        check_passwordless(ctx, &started.challenge, &reply, origin())
            .await
            .unwrap()
            .is_none()
    );

    // Alice's key, claiming to be bob's: bob has no such passkey.
    let started = start_passwordless(ctx).await.unwrap();
    let reply = passwordless_answer(&mut key, &added.credential, &bob, started.options);
    assert!(
        check_passwordless(ctx, &started.challenge, &reply, origin())
            .await
            .unwrap()
            .is_none()
    );

    // A handle that names no account.
    let nobody = User::for_tests("nobody");
    let started = start_passwordless(ctx).await.unwrap();
    let reply = passwordless_answer(&mut key, &added.credential, &nobody, started.options);
    assert!(
        check_passwordless(ctx, &started.challenge, &reply, origin())
            .await
            .unwrap()
            .is_none()
    );
    let trail = ctx
        .store
        .audit_log()
        .newest(0, 50, &|_| true)
        .await
        .unwrap();
    assert!(
        trail
            .iter()
            .any(|e| e.action == AuditAction::SignInFailed && e.subject.as_deref() == Some("bob")),
        "{trail:?}"
    );
}

#[tokio::test]
async fn passwordless_sign_in_can_be_turned_off_and_a_disabled_user_is_refused() {
    let site = site().await;
    let ctx = &site.ctx;
    let alice = new_user(ctx, "alice").await;
    let (mut key, added) = add_passkey(ctx, &alice, "key").await;
    let started = start_passwordless(ctx).await.unwrap();
    ctx.store
        .update_site_settings(Box::new(|s| Ok(s.set("webauthn.passwordless", "false")?)))
        .await
        .unwrap();
    assert!(start_passwordless(ctx).await.is_err());
    // A challenge handed out before the change no longer works either.
    let reply = passwordless_answer(&mut key, &added.credential, &alice, started.options);
    assert!(
        check_passwordless(ctx, &started.challenge, &reply, origin())
            .await
            .unwrap()
            .is_none()
    );

    ctx.store
        .update_site_settings(Box::new(|s| Ok(s.set("webauthn.passwordless", "true")?)))
        .await
        .unwrap();
    ctx.store
        .update_user(
            alice.id,
            Box::new(|u| {
                u.disabled = true;
                Ok(())
            }),
        )
        .await
        .unwrap();
    let started = start_passwordless(ctx).await.unwrap();
    let reply = passwordless_answer(&mut key, &added.credential, &alice, started.options);
    assert!(
        check_passwordless(ctx, &started.challenge, &reply, origin())
            .await
            .unwrap()
            .is_none()
    );
}
