//! Invitations through the engine, on a real (sled) store, reading the outbox.

use super::*;

async fn context() -> (tempfile::TempDir, Context) {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::for_tests(dir.path()).await;
    (dir, ctx)
}

/// The invitation code in the newest outbox message.
fn mailed_code(dir: &std::path::Path) -> String {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("outbox"))
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    files.sort_by_key(|f| f.metadata().unwrap().modified().unwrap());
    let text = std::fs::read_to_string(files.last().unwrap().path()).unwrap();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("code:"))
        .expect("a code line")
        .trim()
        .to_owned()
}

fn origin() -> Origin<'static> {
    Origin {
        address: Some("192.0.2.3".parse().unwrap()),
        source: "web 192.0.2.3",
    }
}

const NEW_PASSWORD: &str = "a long enough password";

#[tokio::test]
async fn an_invitation_is_accepted_once_with_its_code_and_a_good_password() {
    let (dir, ctx) = context().await;
    let sent = invite(&ctx, User::for_tests("ines"), "admin")
        .await
        .unwrap();
    assert!(sent.delivered);
    let code = mailed_code(dir.path());
    assert_eq!(code.len(), 14, "{code}");

    // No password signs in meanwhile, not even an empty one.
    let stored = ctx.store.user_by_name("ines").await.unwrap().unwrap();
    assert!(stored.password_hash.is_empty() && stored.invited_at.is_some());

    // A short password spends nothing; a wrong code is refused.
    assert!(
        accept(&ctx, "ines", &code, "short", origin())
            .await
            .is_err()
    );
    assert!(
        accept(&ctx, "ines", "BCDF-GHJK-LMNP", NEW_PASSWORD, origin())
            .await
            .is_err()
    );
    let (user, authentication) = accept(&ctx, "Ines", &code.to_lowercase(), NEW_PASSWORD, origin())
        .await
        .unwrap();
    assert!(user.invited_at.is_none() && user.email_verified);
    assert!(password::verify(NEW_PASSWORD, &user.password_hash).await);
    assert_eq!(authentication.amr, ["pwd"]);
    // Spent.
    assert!(
        accept(&ctx, "ines", &code, NEW_PASSWORD, origin())
            .await
            .is_err()
    );
    assert!(resend(&ctx, &user, "admin").await.is_err());
}

#[tokio::test]
async fn a_resent_invitation_voids_the_last_code_and_an_old_one_expires() {
    let (dir, ctx) = context().await;
    invite(&ctx, User::for_tests("ines"), "admin")
        .await
        .unwrap();
    let first = mailed_code(dir.path());
    let user = ctx.store.user_by_name("ines").await.unwrap().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    resend(&ctx, &user, "admin").await.unwrap();
    let second = mailed_code(dir.path());
    assert_ne!(first, second);
    assert!(
        accept(&ctx, "ines", &first, NEW_PASSWORD, origin())
            .await
            .is_err()
    );

    let lifetime = ctx
        .store
        .site_settings()
        .await
        .unwrap()
        .invitation_lifetime_seconds;
    ctx.test_clock.as_ref().unwrap().advance(lifetime + 1);
    assert!(
        accept(&ctx, "ines", &second, NEW_PASSWORD, origin())
            .await
            .is_err()
    );

    // Withdrawn: the user is gone.
    revoke(&ctx, &user, "admin").await.unwrap();
    assert!(ctx.store.user_by_name("ines").await.unwrap().is_none());
}
