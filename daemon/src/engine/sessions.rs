//! A user's browser sessions as they see them on the account page: which are live, and "sign
//! out everywhere else". Sessions are kept under their user's id (the cookie is
//! `<user id>.<random token>`, the store keeps only the token's hash), so a user's sessions can
//! be listed and ended without a scan of everyone's.

use crate::audit::{AuditAction, AuditDoor, AuditEvent, Outcome};
use crate::context::Context;
use crate::model::grants::Session;
use crate::model::{User, UserId};
use crate::secrets::token_hash;
use crate::store::{Change, RecordKey, StoreError};

/// The cookie value of a new session of `user_id`.
pub fn cookie_value(user_id: UserId, token: &str) -> String {
    format!("{user_id}.{token}")
}

/// Where the session of `user_id` with `token` is kept.
pub fn key(user_id: UserId, token: &str) -> RecordKey {
    RecordKey::owned(user_id, token_hash(token))
}

/// The record key a session cookie names; `None` for a cookie of another shape.
pub fn key_of(cookie: &str) -> Option<RecordKey> {
    let (id, token) = cookie.split_once('.')?;
    let id = uuid::Uuid::parse_str(id).ok()?;
    (!token.is_empty()).then(|| key(UserId(id), token))
}

/// A user's live sessions, most recent first, each with the id the account page shows.
pub async fn list(ctx: &Context, user_id: UserId) -> Result<Vec<(RecordKey, Session)>, StoreError> {
    let now = ctx.clock.unix_now();
    let mut sessions = ctx.store.sessions().of_owner(user_id, now).await?;
    sessions.sort_by_key(|(_, session)| std::cmp::Reverse(session.created_at));
    Ok(sessions)
}

/// Ends every session of `user` but `keep` (the browser asking), and every refresh token they
/// hold: the user's session generation moves on, which refresh tokens issued before are
/// checked against, and `keep` moves on with it. Returns how many other sessions ended.
pub async fn end_elsewhere(
    ctx: &Context,
    user: &User,
    keep: &RecordKey,
    source: &str,
) -> Result<usize, StoreError> {
    let updated = ctx
        .store
        .update_user(
            user.id,
            Box::new(|u| {
                u.session_generation += 1;
                Ok(())
            }),
        )
        .await?;
    let now = ctx.clock.unix_now();
    ctx.store
        .sessions()
        .update(keep, now, &mut |session| {
            Change::Replace(Session {
                generation: updated.session_generation,
                ..session.clone()
            })
        })
        .await?;
    let mut ended = 0;
    for (key, _) in ctx.store.sessions().of_owner(user.id, now).await? {
        if key != *keep && ctx.store.sessions().remove(&key).await? {
            ended += 1;
        }
    }
    ctx.store.flush().await?;
    ctx.record(
        AuditEvent::new(
            now,
            &user.username,
            AuditAction::SignedOutElsewhere,
            AuditDoor::Web,
            source,
            Outcome::Success,
        )
        .subject(&user.username)
        .detail(format!(
            "{ended} other session(s) ended, refresh tokens revoked"
        )),
    )
    .await?;
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_cookie_of_the_right_shape_names_a_session() {
        let user = UserId::random();
        let cookie = cookie_value(user, "token");
        assert_eq!(key_of(&cookie), Some(key(user, "token")));
        assert_eq!(key_of(&cookie).and_then(|k| k.owner), Some(user));
        for malformed in ["token", "not-a-uuid.token", &format!("{user}."), "", "."] {
            assert_eq!(key_of(malformed), None, "{malformed:?}");
        }
    }
}
