//! Approvals through the engine, on a real (sled) store, with a software key on the approval
//! page's side.

use super::*;
use crate::model::User;
use crate::model::UserId;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

const ORIGIN: &str = "http://localhost:8080";

async fn context() -> (tempfile::TempDir, Context) {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::for_tests(dir.path()).await;
    (dir, ctx)
}

/// A user with one software passkey.
async fn user_with_key(ctx: &Context, name: &str) -> (User, SoftPasskey) {
    let user = User::for_tests(name);
    ctx.store.insert_user(&user).await.unwrap();
    let mut key = SoftPasskey::new(true);
    let started = passkeys::start_registration(ctx, &user).await.unwrap();
    let options: CreationChallengeResponse = serde_json::from_value(started.options).unwrap();
    let reply = key
        .do_registration(Url::parse(ORIGIN).unwrap(), options)
        .unwrap();
    passkeys::finish_registration(
        ctx,
        user.id,
        &started.challenge,
        "key",
        &serde_json::to_string(&reply).unwrap(),
        passkeys::Actor {
            name,
            door: crate::audit::AuditDoor::Web,
            source: "test",
        },
    )
    .await
    .unwrap();
    (user, key)
}

fn login_of(user: &User) -> ApprovalRequest {
    ApprovalRequest::Login {
        user_id: user.id,
        username: user.username.clone(),
        service: "sshd".into(),
        host: "bastion".into(),
        remote_host: Some("192.0.2.9".into()),
    }
}

fn origin() -> Origin<'static> {
    Origin {
        address: Some("192.0.2.50".parse().unwrap()),
        door: crate::audit::AuditDoor::Web,
        source: "web 192.0.2.50",
    }
}

/// What `key` answers to the approval page's challenge for `user_code`.
async fn page_answer(ctx: &Context, key: &mut SoftPasskey, user_code: &str) -> (String, String) {
    let waiting = find(ctx, user_code, None).await.unwrap().expect("waiting");
    let started = start_passkey(ctx, user_code, &waiting).await.unwrap();
    let options: RequestChallengeResponse = serde_json::from_value(started.options).unwrap();
    let reply = key
        .do_authentication(Url::parse(ORIGIN).unwrap(), options)
        .unwrap();
    (started.challenge, serde_json::to_string(&reply).unwrap())
}

#[tokio::test]
async fn a_login_approved_with_its_users_passkey_is_read_once() {
    let (_dir, ctx) = context().await;
    let (alice, mut key) = user_with_key(&ctx, "alice").await;
    let started = start(&ctx, login_of(&alice)).await.unwrap();
    assert_eq!(started.user_code.len(), 9, "{}", started.user_code);
    assert_eq!(
        poll(&ctx, &started.device_code, None).await.unwrap(),
        Poll::Pending
    );

    // The page is reached with the code typed any which way.
    let typed = started.user_code.to_lowercase().replace('-', " ");
    let (challenge, reply) = page_answer(&ctx, &mut key, &typed).await;
    assert!(
        approve_with_passkey(&ctx, &typed, &challenge, &reply, &origin())
            .await
            .unwrap()
    );
    let Poll::Approved {
        request,
        authentication,
    } = poll(&ctx, &started.device_code, None).await.unwrap()
    else {
        panic!("approved");
    };
    assert_eq!(request, login_of(&alice));
    assert_eq!(authentication.user_id, alice.id);
    assert_eq!(authentication.amr, ["mfa", "hwk", "user"]);
    // Spent: neither the waiting side nor the page sees it again.
    assert_eq!(
        poll(&ctx, &started.device_code, None).await.unwrap(),
        Poll::Expired
    );
    assert!(
        find(&ctx, &started.user_code, None)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn an_answer_for_another_approval_or_from_another_user_is_refused() {
    let (_dir, ctx) = context().await;
    let (alice, mut alice_key) = user_with_key(&ctx, "alice").await;
    let (_bob, mut bob_key) = user_with_key(&ctx, "bob").await;
    let first = start(&ctx, login_of(&alice)).await.unwrap();
    let second = start(&ctx, login_of(&alice)).await.unwrap();

    // The page showed the first login; its answer is sent with the second's code.
    let (challenge, reply) = page_answer(&ctx, &mut alice_key, &first.user_code).await;
    assert!(
        !approve_with_passkey(&ctx, &second.user_code, &challenge, &reply, &origin())
            .await
            .unwrap()
    );
    assert_eq!(
        poll(&ctx, &second.device_code, None).await.unwrap(),
        Poll::Pending
    );

    // Bob's key cannot answer for alice's login.
    let waiting = find(&ctx, &first.user_code, None).await.unwrap().unwrap();
    let started = start_passkey(&ctx, &first.user_code, &waiting)
        .await
        .unwrap();
    let options: RequestChallengeResponse = serde_json::from_value(started.options).unwrap();
    assert!(
        bob_key
            .do_authentication(Url::parse(ORIGIN).unwrap(), options)
            .is_err(),
        "bob's key holds none of the credentials alice's challenge allows"
    );

    // A spent challenge does not approve twice.
    let (challenge, reply) = page_answer(&ctx, &mut alice_key, &first.user_code).await;
    assert!(
        approve_with_passkey(&ctx, &first.user_code, &challenge, &reply, &origin())
            .await
            .unwrap()
    );
    let again = start(&ctx, login_of(&alice)).await.unwrap();
    assert!(
        !approve_with_passkey(&ctx, &again.user_code, &challenge, &reply, &origin())
            .await
            .unwrap()
    );
    // A device code with a wrong secret reads nothing.
    let (code, _) = first.device_code.split_once('.').unwrap();
    let forged = format!("{code}.{}", random_token());
    assert_eq!(poll(&ctx, &forged, None).await.unwrap(), Poll::Expired);
    assert!(matches!(
        poll(&ctx, &first.device_code, None).await.unwrap(),
        Poll::Approved { .. }
    ));
}

#[tokio::test]
async fn a_denied_or_expired_approval_is_refused() {
    let (_dir, ctx) = context().await;
    let (alice, mut key) = user_with_key(&ctx, "alice").await;
    let denied = start(&ctx, login_of(&alice)).await.unwrap();
    assert!(deny(&ctx, &denied.user_code, "", &origin()).await.unwrap());
    let (challenge, reply) = {
        // A denied login is no longer shown, so no answer can be made for it.
        assert!(find(&ctx, &denied.user_code, None).await.unwrap().is_none());
        let other = start(&ctx, login_of(&alice)).await.unwrap();
        page_answer(&ctx, &mut key, &other.user_code).await
    };
    assert!(
        !approve_with_passkey(&ctx, &denied.user_code, &challenge, &reply, &origin())
            .await
            .unwrap()
    );
    assert_eq!(
        poll(&ctx, &denied.device_code, None).await.unwrap(),
        Poll::Denied
    );

    let late = start(&ctx, login_of(&alice)).await.unwrap();
    let (challenge, reply) = page_answer(&ctx, &mut key, &late.user_code).await;
    ctx.test_clock
        .as_ref()
        .unwrap()
        .advance(APPROVAL_SECONDS + 1);
    assert!(
        !approve_with_passkey(&ctx, &late.user_code, &challenge, &reply, &origin())
            .await
            .unwrap()
    );
    assert_eq!(
        poll(&ctx, &late.device_code, None).await.unwrap(),
        Poll::Expired
    );
}

#[tokio::test]
async fn a_client_polling_too_fast_is_slowed_down() {
    let (_dir, ctx) = context().await;
    let started = start(
        &ctx,
        ApprovalRequest::Client {
            client_id: "cli".into(),
            scopes: vec!["openid".into()],
        },
    )
    .await
    .unwrap();
    assert_eq!(
        poll(&ctx, &started.device_code, Some("cli")).await.unwrap(),
        Poll::Pending
    );
    assert_eq!(
        poll(&ctx, &started.device_code, Some("cli")).await.unwrap(),
        Poll::SlowDown
    );
    let clock = ctx.test_clock.as_ref().unwrap();
    clock.advance(POLL_INTERVAL);
    assert_eq!(
        poll(&ctx, &started.device_code, Some("cli")).await.unwrap(),
        Poll::SlowDown,
        "the interval grew by five seconds"
    );
    clock.advance(POLL_INTERVAL + 10);
    assert_eq!(
        poll(&ctx, &started.device_code, Some("cli")).await.unwrap(),
        Poll::Pending
    );
    // Another client, or PAM, holding the device code reads nothing.
    assert_eq!(
        poll(&ctx, &started.device_code, Some("other"))
            .await
            .unwrap(),
        Poll::Expired
    );
    assert_eq!(
        poll(&ctx, &started.device_code, None).await.unwrap(),
        Poll::Expired
    );

    let approver = Authentication {
        user_id: UserId(uuid::Uuid::new_v4()),
        auth_time: 1,
        amr: vec!["pwd".into()],
    };
    assert!(
        approve_as(&ctx, &started.user_code, &approver, "alice", &origin())
            .await
            .unwrap()
    );
    assert!(matches!(
        poll(&ctx, &started.device_code, Some("cli")).await.unwrap(),
        Poll::Approved { .. }
    ));
}

#[tokio::test]
async fn typed_codes_are_forgiving_and_wrong_ones_lock_the_address() {
    assert_eq!(normalize("bcdf-ghjk").as_deref(), Some("BCDFGHJK"));
    assert_eq!(normalize(" BCDF GHJK ").as_deref(), Some("BCDFGHJK"));
    assert_eq!(
        normalize("BCDF-GHJA"),
        None,
        "vowels are not in the alphabet"
    );
    assert_eq!(normalize("BCDF"), None);
    assert_eq!(normalize(&"B".repeat(1000)), None);

    let (_dir, ctx) = context().await;
    let address = Some("192.0.2.66".parse().unwrap());
    let mut locked = false;
    for _ in 0..=ctx.config.limits.address_max_failures {
        match find(&ctx, "BCDF-GHJK", address).await {
            Ok(None) => {}
            Err(EngineError::Refused(_)) => {
                locked = true;
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(locked, "guessing codes locks the address");
}
