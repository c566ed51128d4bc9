//! CSRF protection for every form: a signed double-submit token. The browser holds a random
//! `postern_csrf` cookie; each form carries HMAC(key, cookie). Another site can make a browser
//! send the cookie but cannot read it, so it cannot produce the form value.
//!
//! The cookie also identifies the browser a sign-in started in, so a login flow cannot be
//! finished from another browser.

use super::Web;
use super::cookies::Cookie;
use crate::secrets::{constant_time_eq, random_token, token_hash};
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a page needs to render a form.
#[derive(Debug)]
pub struct FormGuard {
    /// The value of the form's hidden `csrf` field.
    pub token: String,
    /// A stable, non-secret identifier of this browser (the cookie's hash).
    pub browser: [u8; 32],
    /// Set when the browser had no cookie yet.
    pub set_cookie: Option<HeaderValue>,
}

pub fn guard(web: &Web, headers: &HeaderMap) -> FormGuard {
    match web.cookies.get(headers, Cookie::Csrf) {
        Some(value) => FormGuard {
            token: sign(web, value),
            browser: token_hash(value),
            set_cookie: None,
        },
        None => {
            let value = random_token();
            FormGuard {
                token: sign(web, &value),
                browser: token_hash(&value),
                set_cookie: Some(web.cookies.set(Cookie::Csrf, &value, None)),
            }
        }
    }
}

/// Checks a submitted form; returns the browser's identifier.
pub fn check(web: &Web, headers: &HeaderMap, submitted: Option<&str>) -> Option<[u8; 32]> {
    let cookie = web.cookies.get(headers, Cookie::Csrf)?;
    let submitted = submitted.filter(|s| !s.is_empty())?;
    constant_time_eq(sign(web, cookie).as_bytes(), submitted.as_bytes()).then(|| token_hash(cookie))
}

fn sign(web: &Web, cookie: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&web.csrf_key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(cookie.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}
