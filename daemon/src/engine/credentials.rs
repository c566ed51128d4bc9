//! What a change to how a user proves who they are brings with it, written once for every door
//! (the account page, the admin socket, and later self-service reset): a new password or a
//! removed second factor makes every remembered browser and PAM host prove itself again, and
//! is made durable before anyone is told it is done. Sessions elsewhere end by themselves: the
//! session policy sees the password's fingerprint change (`session_policy`).

use super::devices;
use crate::context::Context;
use crate::model::UserId;
use crate::store::StoreError;

/// Sets a user's password (already checked against the policy and hashed).
pub async fn set_password(
    ctx: &Context,
    user_id: UserId,
    password_hash: String,
) -> Result<(), StoreError> {
    let now = ctx.clock.unix_now();
    ctx.store
        .update_user(
            user_id,
            Box::new(move |user| {
                user.password_hash = password_hash.clone();
                user.password_changed_at = now;
                Ok(())
            }),
        )
        .await?;
    forget_trusted_places(ctx, user_id).await
}

/// Removes a user's second factor, recovery codes included (the user turned it off, or an
/// administrator reset it after a lost phone). A role that requires MFA makes them enrol again
/// at their next sign-in; whether they may turn it off is the caller's question.
pub async fn remove_second_factor(ctx: &Context, user_id: UserId) -> Result<(), StoreError> {
    ctx.store
        .update_user(
            user_id,
            Box::new(|user| {
                user.mfa = None;
                Ok(())
            }),
        )
        .await?;
    forget_trusted_places(ctx, user_id).await
}

/// Deletes a user with everything kept for them.
pub async fn delete_user(ctx: &Context, user_id: UserId) -> Result<(), StoreError> {
    ctx.store.delete_user(user_id).await?;
    forget_trusted_places(ctx, user_id).await
}

async fn forget_trusted_places(ctx: &Context, user_id: UserId) -> Result<(), StoreError> {
    devices::forget_all(ctx, user_id).await?;
    ctx.store.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::User;

    #[tokio::test]
    async fn a_new_password_or_a_removed_factor_forgets_every_remembered_browser() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::for_tests(dir.path()).await;
        let user = User::for_tests("lee");
        ctx.store.insert_user(&user).await.unwrap();

        let (cookie, _) =
            devices::remember(&ctx, user.id, "Firefox/1 Linux", None, &Default::default())
                .await
                .unwrap()
                .unwrap();
        set_password(&ctx, user.id, "$argon2id$new".into())
            .await
            .unwrap();
        assert_eq!(
            devices::recognise(&ctx, user.id, Some(&cookie))
                .await
                .unwrap(),
            None
        );
        let stored = ctx.store.user(user.id).await.unwrap().unwrap();
        assert_eq!(stored.password_hash, "$argon2id$new");

        let (cookie, _) =
            devices::remember(&ctx, user.id, "Firefox/1 Linux", None, &Default::default())
                .await
                .unwrap()
                .unwrap();
        remove_second_factor(&ctx, user.id).await.unwrap();
        assert_eq!(
            devices::recognise(&ctx, user.id, Some(&cookie))
                .await
                .unwrap(),
            None
        );
    }
}
