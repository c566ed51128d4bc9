//! The single sign-on session: a cookie `<user id>.<random token>` whose token's hash keys a
//! `Session` record under the user (`engine::sessions`). Each use judges the session against
//! the user's current policy (`engine::session_policy`).

use super::Web;
use super::cookies::Cookie;
use crate::engine::session_policy::{self, Standing};
use crate::engine::{devices, sessions};
use crate::model::User;
use crate::model::grants::{Authentication, Session};
use crate::secrets::random_token;
use crate::store::batch::{Batch, Put};
use crate::store::{RecordKey, StoreError};
use axum::http::{HeaderMap, HeaderValue, header};
use std::net::IpAddr;

/// A browser's live session, judged against its user's current policy.
#[derive(Debug)]
pub struct LiveSession {
    /// The record's key (the hash of the cookie).
    pub key: RecordKey,
    /// The session, with only what still counts of its authentication.
    pub session: Session,
    pub user: User,
    /// The session proves less than the user's policy now requires: a second factor (or an
    /// enrolment) comes first.
    pub needs_second_factor: bool,
}

/// The browser's live session, if it has one that may still be used. A session that policy
/// has ended (a disabled user, a password changed elsewhere) is removed.
pub async fn current(web: &Web, headers: &HeaderMap) -> Result<Option<LiveSession>, StoreError> {
    // A cookie of another shape (one from before sessions were kept per user) is no session.
    let Some(key) = web
        .cookies
        .get(headers, Cookie::Session)
        .and_then(sessions::key_of)
    else {
        return Ok(None);
    };
    let now = web.ctx.clock.unix_now();
    let Some(mut session) = web.ctx.store.sessions().get(&key, now).await? else {
        return Ok(None);
    };
    let user = web.ctx.store.user(session.authentication.user_id).await?;
    let (authentication, needs_second_factor) =
        match session_policy::standing(&web.ctx, user.as_ref(), &session).await? {
            Standing::Ended(why) => {
                tracing::info!(reason = why, "ended a session that policy no longer allows");
                web.ctx.store.sessions().remove(&key).await?;
                return Ok(None);
            }
            Standing::Valid(authentication) => (authentication, false),
            Standing::NeedsSecondFactor(authentication) => (authentication, true),
        };
    let Some(user) = user else {
        return Ok(None);
    };
    session.authentication = authentication;
    Ok(Some(LiveSession {
        key,
        session,
        user,
        needs_second_factor,
    }))
}

/// Starts a new session (replacing any the browser had) from `address`, and returns its
/// cookie.
pub async fn start(
    web: &Web,
    headers: &HeaderMap,
    user: &User,
    authentication: Authentication,
    address: IpAddr,
    batch: &Batch,
) -> Result<HeaderValue, StoreError> {
    end(web, headers).await?;
    let now = web.ctx.clock.unix_now();
    let lifetime = web.ctx.config.session.lifetime.0.as_secs();
    let token = random_token();
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let session = Session {
        authentication,
        created_at: now,
        password_fingerprint: Some(session_policy::password_fingerprint(user)),
        generation: user.session_generation,
        pending_totp_seed: None,
        expires_at: now + lifetime,
        browser: devices::short_label(user_agent),
        source: address.to_string(),
    };
    let put = Put::Session(sessions::key(user.id, &token), session);
    batch.put(&*web.ctx.store, put).await?;
    let cookie = sessions::cookie_value(user.id, &token);
    Ok(web.cookies.set(Cookie::Session, &cookie, Some(lifetime)))
}

/// After the user changed their password from this session: the session knows of the change,
/// so it lives on while the user's other sessions end.
pub async fn saw_password_change(web: &Web, live: &LiveSession) -> Result<(), StoreError> {
    let Some(user) = web.ctx.store.user(live.user.id).await? else {
        return Ok(());
    };
    let fingerprint = session_policy::password_fingerprint(&user);
    change(web, live, |session| {
        session.password_fingerprint = Some(fingerprint.clone());
    })
    .await
}

/// Keeps (or, with `None`, drops) the authenticator-app seed offered on the account page, so
/// the confirmation finds it here and no form carries it.
pub async fn set_pending_totp_seed(
    web: &Web,
    live: &LiveSession,
    sealed_seed: Option<Vec<u8>>,
) -> Result<(), StoreError> {
    change(web, live, |session| {
        session.pending_totp_seed = sealed_seed.clone();
    })
    .await
}

/// Changes the stored record of a live session, atomically (`edit` may run more than once).
async fn change(
    web: &Web,
    live: &LiveSession,
    edit: impl Fn(&mut Session) + Send + Sync,
) -> Result<(), StoreError> {
    let now = web.ctx.clock.unix_now();
    web.ctx
        .store
        .sessions()
        .update(&live.key, now, &mut |session| {
            let mut changed = session.clone();
            edit(&mut changed);
            crate::store::Change::Replace(changed)
        })
        .await?;
    Ok(())
}

/// Ends the browser's session, if any, and returns the cookie that clears it.
pub async fn end(web: &Web, headers: &HeaderMap) -> Result<HeaderValue, StoreError> {
    if let Some(key) = web
        .cookies
        .get(headers, Cookie::Session)
        .and_then(sessions::key_of)
    {
        web.ctx.store.sessions().remove(&key).await?;
    }
    Ok(web.cookies.clear(Cookie::Session))
}
