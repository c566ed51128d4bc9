//! Remembered devices: after a second factor, the browser gets a random cookie; for the site's
//! window after its last successful sign-in there, the second factor is not asked again. Only a
//! hash is kept, under the user's id, so all of a user's devices can be listed and forgotten
//! (password change, MFA reset). Another browser or a private window is another device.

use crate::context::Context;
use crate::model::UserId;
use crate::model::grants::RememberedDevice;
use crate::secrets::{random_token, token_hash};
use crate::store::batch::{Batch, Put};
use crate::store::{Change, RecordKey, StoreError};

/// The cookie value: `<user id>.<random token>`.
pub fn cookie_value(user_id: UserId, token: &str) -> String {
    format!("{user_id}.{token}")
}

fn key(user_id: UserId, token: &str) -> RecordKey {
    RecordKey::owned(user_id, token_hash(token))
}

/// Remembers this browser for `user_id`; returns the cookie value and its lifetime, or `None`
/// when the site's window is 0 (remembering is off).
pub async fn remember(
    ctx: &Context,
    user_id: UserId,
    label: &str,
    address: Option<std::net::IpAddr>,
    batch: &Batch,
) -> Result<Option<(String, u64)>, StoreError> {
    let window = ctx.store.site_settings().await?.remember_device_seconds;
    if window == 0 {
        return Ok(None);
    }
    let now = ctx.clock.unix_now();
    let token = random_token();
    let device = RememberedDevice {
        label: short_label(label),
        remembered_from: address.map(|a| a.to_string()),
        created_at: now,
        last_used_at: now,
        expires_at: now + window,
    };
    let put = Put::RememberedDevice(key(user_id, &token), device);
    batch.put(&*ctx.store, put).await?;
    Ok(Some((cookie_value(user_id, &token), window)))
}

/// Whether `cookie` remembers this browser for `user_id` now. On success the window slides
/// (it counts from the last successful sign-in) and the new lifetime is returned.
pub async fn recognise(
    ctx: &Context,
    user_id: UserId,
    cookie: Option<&str>,
) -> Result<Option<u64>, StoreError> {
    let Some((id, token)) = cookie.and_then(|c| c.split_once('.')) else {
        return Ok(None);
    };
    if id != user_id.to_string() {
        return Ok(None);
    }
    let window = ctx.store.site_settings().await?.remember_device_seconds;
    let now = ctx.clock.unix_now();
    let seen = ctx
        .store
        .remembered_devices()
        .update(&key(user_id, token), now, &mut |device| {
            // The site's window may have shrunk since the device was remembered.
            if device.last_used_at + window > now {
                Change::Replace(RememberedDevice {
                    last_used_at: now,
                    expires_at: now + window,
                    ..device.clone()
                })
            } else {
                Change::Remove
            }
        })
        .await?;
    Ok(seen
        .filter(|device| window > 0 && device.last_used_at + window > now)
        .map(|_| window))
}

/// A user's remembered devices, newest use first, with an id usable for `forget_one`.
pub async fn list(
    ctx: &Context,
    user_id: UserId,
) -> Result<Vec<(String, RememberedDevice)>, StoreError> {
    let now = ctx.clock.unix_now();
    let mut devices: Vec<(String, RememberedDevice)> = ctx
        .store
        .remembered_devices()
        .of_owner(user_id, now)
        .await?
        .into_iter()
        .map(|(key, device)| (key.short_id(), device))
        .collect();
    devices.sort_by_key(|(_, device)| std::cmp::Reverse(device.last_used_at));
    Ok(devices)
}

/// Forgets one device, by the id `list` gave it; false if there is none such.
pub async fn forget_one(
    ctx: &Context,
    user_id: UserId,
    device_id: &str,
) -> Result<bool, StoreError> {
    let now = ctx.clock.unix_now();
    for (key, _) in ctx
        .store
        .remembered_devices()
        .of_owner(user_id, now)
        .await?
    {
        if key.short_id() == device_id {
            ctx.store.remembered_devices().remove(&key).await?;
            return Ok(true);
        }
    }
    Ok(false)
}

/// Forgets every device (and PAM remembered host) of a user: after a password change or an
/// MFA reset.
pub async fn forget_all(ctx: &Context, user_id: UserId) -> Result<usize, StoreError> {
    let hosts = hosts::forget_all(ctx, user_id).await?;
    Ok(hosts
        + ctx
            .store
            .remembered_devices()
            .remove_of_owner(user_id)
            .await?)
}

/// "Firefox on Linux", "Chrome on Android", or the first words of an unknown User-Agent.
pub(crate) fn short_label(user_agent: &str) -> String {
    let browser = ["Edg/", "Firefox/", "Chrome/", "Safari/"]
        .iter()
        .find(|marker| user_agent.contains(*marker))
        .map(|marker| match *marker {
            "Edg/" => "Edge",
            "Firefox/" => "Firefox",
            "Chrome/" => "Chrome",
            _ => "Safari",
        });
    let system = ["Android", "iPhone", "iPad", "Windows", "Mac OS X", "Linux"]
        .iter()
        .find(|marker| user_agent.contains(*marker))
        .map(|marker| {
            if *marker == "Mac OS X" {
                "macOS"
            } else {
                marker
            }
        });
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        _ => user_agent
            .chars()
            .take(40)
            .collect::<String>()
            .trim()
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_short_and_readable() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(short_label(firefox), "Firefox on Linux");
        let chrome = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126 Mobile Safari/537.36";
        assert_eq!(short_label(chrome), "Chrome on Android");
        assert_eq!(short_label("curl/8.5"), "curl/8.5");
    }

    #[tokio::test]
    async fn a_device_is_recognised_for_its_user_within_the_window_only() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::for_tests(dir.path()).await;
        let alice = UserId::random();
        let (cookie, window) = remember(&ctx, alice, "Firefox/1 Linux", None, &Batch::now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(window, 86_400);
        assert_eq!(
            recognise(&ctx, alice, Some(&cookie)).await.unwrap(),
            Some(86_400)
        );
        assert_eq!(
            recognise(&ctx, UserId::random(), Some(&cookie))
                .await
                .unwrap(),
            None,
            "another user"
        );
        assert_eq!(recognise(&ctx, alice, Some("garbage")).await.unwrap(), None);
        assert_eq!(list(&ctx, alice).await.unwrap().len(), 1);

        ctx.test_clock.as_ref().unwrap().advance(86_399);
        assert!(
            recognise(&ctx, alice, Some(&cookie))
                .await
                .unwrap()
                .is_some(),
            "used again: the window slides"
        );
        ctx.test_clock.as_ref().unwrap().advance(86_400);
        assert_eq!(
            recognise(&ctx, alice, Some(&cookie)).await.unwrap(),
            None,
            "24 h after its last use"
        );

        let (cookie, _) = remember(&ctx, alice, "x", None, &Batch::now())
            .await
            .unwrap()
            .unwrap();
        assert!(forget_all(&ctx, alice).await.unwrap() >= 1);
        assert_eq!(recognise(&ctx, alice, Some(&cookie)).await.unwrap(), None);
        assert!(list(&ctx, alice).await.unwrap().is_empty());
    }
}

/// PAM's remembered hosts (`[pam] remember`): a user who passed the second factor for a service
/// from a host is not asked again there for that long. Off (0) by default.
pub mod hosts {
    use crate::context::Context;
    use crate::model::UserId;
    use crate::model::grants::RememberedHost;
    use crate::secrets::token_hash;
    use crate::store::{RecordKey, StoreError};

    fn key(user_id: UserId, service: &str, host: &str) -> RecordKey {
        RecordKey::owned(user_id, token_hash(&format!("{service}\0{host}")))
    }

    /// Whether this (user, service, host) passed the second factor recently enough.
    pub async fn recognise(
        ctx: &Context,
        user_id: UserId,
        service: &str,
        host: Option<&str>,
    ) -> Result<bool, StoreError> {
        let (Some(host), false) = (host, ctx.config.pam.remember.0.is_zero()) else {
            return Ok(false);
        };
        let now = ctx.clock.unix_now();
        Ok(ctx
            .store
            .remembered_hosts()
            .get(&key(user_id, service, host), now)
            .await?
            .is_some())
    }

    pub async fn remember(
        ctx: &Context,
        user_id: UserId,
        service: &str,
        host: Option<&str>,
    ) -> Result<(), StoreError> {
        let window = ctx.config.pam.remember.0.as_secs();
        let Some(host) = host.filter(|_| window > 0) else {
            return Ok(());
        };
        let expires_at = ctx.clock.unix_now() + window;
        ctx.store
            .remembered_hosts()
            .put(&key(user_id, service, host), &RememberedHost { expires_at })
            .await
    }

    /// Forgets them all for a user (password change, MFA reset).
    pub async fn forget_all(ctx: &Context, user_id: UserId) -> Result<usize, StoreError> {
        ctx.store.remembered_hosts().remove_of_owner(user_id).await
    }
}
