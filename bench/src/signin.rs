//! A complete browser sign-in, as a relying party and a browser see it: authorize, the
//! password page, the TOTP page, the code back at the application, the token exchange, and the
//! ID token's signature and claims verified with openidconnect.

use crate::http::Connection;
use crate::jwk::RingJwk;
use anyhow::{Context, bail};
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, COOKIE, HOST, LOCATION, SET_COOKIE};
use openidconnect::core::{CoreIdToken, CoreJwsSigningAlgorithm};
use openidconnect::{ClientId, ClientSecret, IdTokenVerifier, IssuerUrl, JsonWebKeySet, Nonce};
use sha2::{Digest, Sha256};
use std::str::FromStr;

pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

/// A registered application, with what it needs to verify ID tokens.
pub struct RelyingParty {
    pub client_id: String,
    pub basic: String,
    verifier: IdTokenVerifier<'static, RingJwk>,
}

impl RelyingParty {
    pub async fn new(
        issuer: &str,
        client_id: String,
        secret: String,
        alg: CoreJwsSigningAlgorithm,
    ) -> anyhow::Result<Self> {
        let jwks_bytes = Connection::open(issuer).await?.get("/jwks", None).await?;
        let jwks: JsonWebKeySet<RingJwk> = serde_json::from_slice(&jwks_bytes)?;
        let verifier = IdTokenVerifier::new_confidential_client(
            ClientId::new(client_id.clone()),
            ClientSecret::new(secret.clone()),
            IssuerUrl::new(issuer.to_owned())?,
            jwks,
        )
        .set_allowed_algs(vec![alg]);
        Ok(Self {
            basic: crate::http::basic_auth(&client_id, &secret),
            client_id,
            verifier,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
}

/// Signs user `index` in through `connection`: a fresh cookie jar but for the cookie that marks
/// the browser as one the user signed in with before.
pub async fn sign_in(
    connection: &mut Connection,
    rp: &RelyingParty,
    (index, code): (u64, String),
) -> anyhow::Result<Tokens> {
    let mut browser = Browser {
        connection,
        cookies: vec![(
            "postern_browser".to_owned(),
            crate::seed::browser_cookie(index),
        )],
    };
    use postern_daemon::secrets::random_token;
    let verifier = random_token();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    let (state, nonce) = (random_token(), random_token());
    let authorize = format!(
        "/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid%20profile%20email%20offline_access&state={state}&nonce={nonce}&code_challenge={challenge}&code_challenge_method=S256",
        rp.client_id,
        encode(REDIRECT_URI)
    );
    let login_page = browser.follow("GET", &authorize, None).await?.page()?;

    let username = crate::seed::username(index);
    let form = format!(
        "csrf={}&flow={}&username={username}&password={}",
        hidden(&login_page, "csrf")?,
        hidden(&login_page, "flow")?,
        encode(crate::seed::PASSWORD)
    );
    let code_page = browser.follow("POST", "/login", Some(form)).await?.page()?;
    let form = format!(
        "csrf={}&flow={}&code={}",
        hidden(&code_page, "csrf")?,
        hidden(&code_page, "flow")?,
        code
    );
    let Landing::Away(back) = browser.follow("POST", "/login", Some(form)).await? else {
        bail!("the code did not lead back to the application");
    };
    let back = url::Url::parse(&back)?;
    let query = |key: &str| {
        back.query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    };
    if query("state").as_deref() != Some(state.as_str()) {
        bail!("state does not match: {back}");
    }
    let code = query("code").context("no code in the redirect")?;

    let form = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}",
        encode(REDIRECT_URI)
    );
    let body = browser
        .connection
        .post_form("/token", &form, Some(&rp.basic))
        .await?;
    let response: serde_json::Value = serde_json::from_slice(&body)?;
    let id_token = CoreIdToken::from_str(response["id_token"].as_str().context("no id_token")?)?;
    id_token.claims(&rp.verifier, &Nonce::new(nonce))?;
    Ok(Tokens {
        access_token: response["access_token"]
            .as_str()
            .context("no access_token")?
            .to_owned(),
        refresh_token: response["refresh_token"]
            .as_str()
            .context("no refresh_token")?
            .to_owned(),
    })
}

struct Browser<'a> {
    connection: &'a mut Connection,
    cookies: Vec<(String, String)>,
}

enum Landing {
    Page(Bytes),
    /// A redirect off the issuer: to the application.
    Away(String),
}

impl Landing {
    fn page(self) -> anyhow::Result<String> {
        match self {
            Landing::Page(body) => Ok(String::from_utf8(body.to_vec())?),
            Landing::Away(to) => bail!("expected a page, was sent to {to}"),
        }
    }
}

impl Browser<'_> {
    /// Sends a request and follows redirects on the issuer, as a browser would.
    async fn follow(
        &mut self,
        method: &str,
        path: &str,
        form: Option<String>,
    ) -> anyhow::Result<Landing> {
        let (mut method, mut path, mut form) = (method.to_owned(), path.to_owned(), form);
        for _ in 0..5 {
            let mut request = hyper::Request::builder()
                .method(method.as_str())
                .uri(&path)
                .header(HOST, self.connection.host());
            if !self.cookies.is_empty() {
                let cookies: Vec<String> = self
                    .cookies
                    .iter()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect();
                request = request.header(COOKIE, cookies.join("; "));
            }
            if form.is_some() {
                request = request.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
            }
            let body = Full::new(Bytes::from(form.take().unwrap_or_default()));
            let (status, headers, body) = self.connection.exchange(request.body(body)?).await?;
            for cookie in headers.get_all(SET_COOKIE) {
                self.remember(cookie.to_str()?);
            }
            if status.is_redirection() {
                let location = headers
                    .get(LOCATION)
                    .context("a redirect without Location")?
                    .to_str()?;
                if !location.starts_with('/') {
                    return Ok(Landing::Away(location.to_owned()));
                }
                (method, path) = ("GET".to_owned(), location.to_owned());
                continue;
            }
            if !status.is_success() {
                bail!(
                    "{method} {path}: {status}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
            return Ok(Landing::Page(body));
        }
        bail!("too many redirects")
    }

    fn remember(&mut self, set_cookie: &str) {
        let pair = set_cookie.split(';').next().unwrap_or_default();
        if let Some((name, value)) = pair.split_once('=') {
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }
}

fn hidden(page: &str, name: &str) -> anyhow::Result<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .with_context(|| format!("no {name} field on the page: {}", excerpt(page)))?
        + marker.len();
    let end = page[start..].find('"').context("unterminated value")?;
    Ok(encode(&page[start..start + end]))
}

fn excerpt(page: &str) -> String {
    page.chars().take(400).collect()
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
