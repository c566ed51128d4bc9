//! Browsers a user has signed in with, so that a sign-in from one not seen before is told to
//! them by a security notice (site setting `notices.new_browser`). The browser keeps a random
//! `postern_browser` cookie; the user's record keeps a hash of it among their last 20 browsers.
//! The first browser an account ever signs in with (a new account, or an older one the first
//! time after this was added) is noted without a notice: there is nothing to compare it with.

use super::sign_in::{DeviceCookie, Door};
use crate::audit::{AuditAction, AuditEvent, Outcome};
use crate::context::Context;
use crate::model::{KnownBrowser, User};
use crate::secrets::{random_token, token_hash};
use crate::store::StoreError;

/// How long the cookie lives: the longest a browser keeps one.
pub const COOKIE_LIFETIME: u64 = 400 * 24 * 3600;
/// How many browsers a user's record keeps; the least recently seen goes first.
const KEPT: usize = 20;
/// A known browser's last sighting is written at most this often, not at every sign-in.
const TOUCH_AFTER: u64 = 24 * 3600;

/// What the user's record keeps of a browser's cookie value.
pub fn hash_of(cookie: &str) -> String {
    token_hash(cookie)[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// After a sign-in through the web door with `cookie`: notes the browser, sends the notice
/// if it is new to the user, and returns the cookie for the browser to keep.
pub async fn signed_in(
    ctx: &Context,
    user: &User,
    cookie: Option<&str>,
    browser: &str,
    door: &Door,
) -> Result<DeviceCookie, StoreError> {
    // Only a value of the shape this module makes is believed; anything else is replaced.
    let token = cookie
        .filter(|c| {
            c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map_or_else(random_token, str::to_owned);
    let hash = hash_of(&token);
    let now = ctx.clock.unix_now();
    let known = user.known_browsers.iter().find(|b| b.hash == hash);
    if known.is_none_or(|b| b.last_seen + TOUCH_AFTER <= now) {
        let seen = hash.clone();
        ctx.store
            .update_seen_user(
                user,
                Box::new(move |u| {
                    u.known_browsers.retain(|b| b.hash != seen);
                    u.known_browsers.push(KnownBrowser {
                        hash: seen.clone(),
                        last_seen: now,
                    });
                    u.known_browsers.sort_by_key(|b| b.last_seen);
                    let excess = u.known_browsers.len().saturating_sub(KEPT);
                    u.known_browsers.drain(..excess);
                    Ok(())
                }),
            )
            .await?;
    }
    let first_ever = user.known_browsers.is_empty();
    if known.is_none() && !first_ever && ctx.store.site_settings().await?.notice_new_browser {
        ctx.record(
            AuditEvent::new(
                now,
                &user.username,
                AuditAction::NewBrowserSignIn,
                door.audit_door(),
                door.source.clone(),
                Outcome::Success,
            )
            .subject(&user.username)
            .detail(browser),
        )
        .await?;
    }
    Ok(DeviceCookie {
        value: token,
        max_age: COOKIE_LIFETIME,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sign_in::DoorKind;

    fn door() -> Door {
        Door {
            kind: DoorKind::Web {
                rp_wants_mfa: false,
                rp_wants_phishing_resistant: false,
                fresh_factor: false,
                device_cookie: None,
                browser_cookie: None,
                user_agent: String::new(),
            },
            address: None,
            source: "web 192.0.2.1".into(),
            batch: crate::store::batch::Batch::now(),
        }
    }

    async fn notices(ctx: &Context) -> usize {
        let all = ctx
            .store
            .audit_log()
            .newest(0, 100, &|_| true)
            .await
            .unwrap();
        all.iter()
            .filter(|e| e.action == AuditAction::NewBrowserSignIn)
            .count()
    }

    #[tokio::test]
    async fn a_browser_is_new_once_and_the_first_one_is_not_news() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::for_tests(dir.path()).await;
        let user = User::for_tests("kai");
        ctx.store.insert_user(&user).await.unwrap();
        let reload = || async { ctx.store.user(user.id).await.unwrap().unwrap() };

        let first = signed_in(&ctx, &reload().await, None, "Firefox", &door())
            .await
            .unwrap();
        assert_eq!(first.value.len(), 43);
        assert_eq!(notices(&ctx).await, 0, "the first browser ever");
        let (user_now, web) = (reload().await, door());
        let again = signed_in(&ctx, &user_now, Some(&first.value), "Firefox", &web).await;
        assert_eq!(again.unwrap().value, first.value);
        assert_eq!(notices(&ctx).await, 0, "a known browser");

        // A cookie of another shape is not believed: a new one, and a notice.
        let user_now = reload().await;
        let forged = signed_in(&ctx, &user_now, Some("x; y"), "Chrome", &web).await;
        assert_ne!(forged.unwrap().value, "x; y");
        assert_eq!(notices(&ctx).await, 1);
        assert_eq!(reload().await.known_browsers.len(), 2);
    }

    #[tokio::test]
    async fn a_user_keeps_their_last_twenty_browsers() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::for_tests(dir.path()).await;
        let user = User::for_tests("kai");
        ctx.store.insert_user(&user).await.unwrap();
        for _ in 0..25 {
            let current = ctx.store.user(user.id).await.unwrap().unwrap();
            signed_in(&ctx, &current, None, "Firefox", &door())
                .await
                .unwrap();
        }
        let kept = ctx.store.user(user.id).await.unwrap().unwrap();
        assert_eq!(kept.known_browsers.len(), KEPT);
    }
}
