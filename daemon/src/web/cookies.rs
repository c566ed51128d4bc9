//! Reading and writing cookies. All of Postern's cookies are HttpOnly, SameSite=Lax, Path=/,
//! and Secure whenever the issuer is https.

use axum::http::{HeaderMap, HeaderValue, header};

pub const SESSION: &str = "postern_session";
pub const CSRF: &str = "postern_csrf";
pub const DEVICE: &str = "postern_device";

pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// A `Set-Cookie` value; `max_age` `None` makes a browser-session cookie.
pub fn set(name: &str, value: &str, max_age: Option<u64>, secure: bool) -> HeaderValue {
    let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(seconds) = max_age {
        text.push_str(&format!("; Max-Age={seconds}"));
    }
    if secure {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text)
        .unwrap_or_else(|_| HeaderValue::from_static("invalid=1; Max-Age=0"))
}

pub fn clear(name: &str, secure: bool) -> HeaderValue {
    set(name, "", Some(0), secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others_and_written_safely() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; postern_session=xyz; b=2"),
        );
        assert_eq!(get(&headers, SESSION), Some("xyz"));
        assert_eq!(get(&headers, "missing"), None);
        let cookie = set(SESSION, "v", Some(60), true);
        assert_eq!(
            cookie,
            "postern_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
    }
}
