//! The single sign-on session: a random cookie whose hash keys a `Session` record.

use super::{Web, cookies};
use crate::model::User;
use crate::model::grants::{Authentication, Session};
use crate::secrets::{random_token, token_hash};
use crate::store::StoreError;
use axum::http::{HeaderMap, HeaderValue};

/// The browser's live session and its user, if it has one and the user may still sign in.
pub fn current(web: &Web, headers: &HeaderMap) -> Result<Option<(Session, User)>, StoreError> {
    let Some(cookie) = cookies::get(headers, cookies::SESSION) else {
        return Ok(None);
    };
    let now = web.ctx.clock.unix_now();
    let Some(session) = web.ctx.store.sessions().get(&token_hash(cookie), now)? else {
        return Ok(None);
    };
    match web.ctx.store.user(session.authentication.user_id)? {
        Some(user) if !user.disabled => Ok(Some((session, user))),
        _ => Ok(None),
    }
}

/// Starts a new session (replacing any the browser had) and returns its cookie.
pub fn start(
    web: &Web,
    headers: &HeaderMap,
    authentication: Authentication,
) -> Result<HeaderValue, StoreError> {
    end(web, headers)?;
    let now = web.ctx.clock.unix_now();
    let lifetime = web.ctx.config.session.lifetime.0.as_secs();
    let token = random_token();
    web.ctx.store.sessions().put(
        &token_hash(&token),
        &Session {
            authentication,
            created_at: now,
            expires_at: now + lifetime,
        },
    )?;
    Ok(cookies::set(
        cookies::SESSION,
        &token,
        Some(lifetime),
        web.ctx.config.secure_cookies(),
    ))
}

/// Ends the browser's session, if any, and returns the cookie that clears it.
pub fn end(web: &Web, headers: &HeaderMap) -> Result<HeaderValue, StoreError> {
    if let Some(cookie) = cookies::get(headers, cookies::SESSION) {
        web.ctx.store.sessions().remove(&token_hash(cookie))?;
    }
    Ok(cookies::clear(
        cookies::SESSION,
        web.ctx.config.secure_cookies(),
    ))
}
