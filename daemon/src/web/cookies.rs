//! Reading and writing cookies. All of Postern's cookies are HttpOnly, SameSite=Lax and Path=/.
//! Whenever the issuer is https they are also Secure and carry the `__Host-` prefix, which
//! browsers accept only from a secure origin, with Path=/ and no Domain: a sibling subdomain or
//! a plain-http page cannot plant or overwrite them.

use axum::http::{HeaderMap, HeaderValue, header};

/// Which of Postern's cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cookie {
    /// The single sign-on session.
    Session,
    /// The CSRF secret that binds forms and sign-in flows to one browser.
    Csrf,
    /// A remembered device.
    Device,
    /// Marks a browser the user signed in with before (`engine::known_browsers`).
    Browser,
}

impl Cookie {
    fn base_name(self) -> &'static str {
        match self {
            Self::Session => "postern_session",
            Self::Csrf => "postern_csrf",
            Self::Device => "postern_device",
            Self::Browser => "postern_browser",
        }
    }
}

/// The cookie rules of this daemon: secure (https issuer) or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cookies {
    secure: bool,
}

impl Cookies {
    pub fn new(secure: bool) -> Self {
        Self { secure }
    }

    /// The cookie's name on the wire.
    pub fn name(self, cookie: Cookie) -> String {
        if self.secure {
            format!("__Host-{}", cookie.base_name())
        } else {
            cookie.base_name().to_owned()
        }
    }

    pub fn get(self, headers: &HeaderMap, cookie: Cookie) -> Option<&str> {
        let name = self.name(cookie);
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
    pub fn set(self, cookie: Cookie, value: &str, max_age: Option<u64>) -> HeaderValue {
        let mut text = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax",
            self.name(cookie)
        );
        if let Some(seconds) = max_age {
            text.push_str(&format!("; Max-Age={seconds}"));
        }
        if self.secure {
            text.push_str("; Secure");
        }
        HeaderValue::from_str(&text)
            .unwrap_or_else(|_| HeaderValue::from_static("invalid=1; Max-Age=0"))
    }

    pub fn clear(self, cookie: Cookie) -> HeaderValue {
        self.set(cookie, "", Some(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others_and_written_safely() {
        let plain = Cookies::new(false);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; postern_session=xyz; b=2"),
        );
        assert_eq!(plain.get(&headers, Cookie::Session), Some("xyz"));
        assert_eq!(plain.get(&headers, Cookie::Device), None);
        assert_eq!(
            plain.set(Cookie::Session, "v", Some(60)),
            "postern_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        );
    }

    #[test]
    fn over_https_cookies_are_secure_host_cookies() {
        let secure = Cookies::new(true);
        assert_eq!(
            secure.set(Cookie::Session, "v", Some(60)),
            "__Host-postern_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("postern_session=planted; __Host-postern_session=real"),
        );
        assert_eq!(secure.get(&headers, Cookie::Session), Some("real"));
    }
}
