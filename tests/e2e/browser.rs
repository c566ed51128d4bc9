//! A browser (cookie jar, no automatic redirects) and an OpenID Connect relying party built on
//! the `openidconnect` crate, as a real application would use it.

use crate::fixture::{Daemon, Site};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreTokenResponse,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope,
};
use reqwest::blocking::{Client, Response};
use reqwest::redirect::Policy;

pub const PASSWORD: &str = "correct horse battery staple";

/// A browser: keeps cookies, shows each redirect instead of following it.
pub struct Browser {
    pub http: Client,
    pub issuer: String,
}

/// Where following a chain of redirects inside Postern ended.
#[derive(Debug)]
pub enum Landing {
    /// A Postern page.
    Page {
        status: u16,
        url: String,
        body: String,
    },
    /// A redirect out of Postern (to an application).
    Away(String),
}

impl Browser {
    pub fn new(daemon: &Daemon) -> Self {
        Self {
            http: Client::builder()
                .cookie_store(true)
                .redirect(Policy::none())
                .build()
                .unwrap(),
            issuer: format!("http://{}", daemon.http),
        }
    }

    /// GETs `url` and follows redirects while they stay on Postern.
    pub fn visit(&self, url: &str) -> Landing {
        let mut url = url.to_owned();
        for _ in 0..10 {
            let response = self.http.get(&url).send().unwrap();
            match self.next(response, &url) {
                Ok(landing) => return landing,
                Err(next) => url = next,
            }
        }
        panic!("too many redirects");
    }

    /// POSTs a form and follows redirects while they stay on Postern.
    pub fn submit(&self, path: &str, form: &[(&str, &str)]) -> Landing {
        let url = format!("{}{path}", self.issuer);
        let response = self.http.post(&url).form(form).send().unwrap();
        match self.next(response, &url) {
            Ok(landing) => landing,
            Err(next) => self.visit(&next),
        }
    }

    fn next(&self, response: Response, url: &str) -> Result<Landing, String> {
        let status = response.status().as_u16();
        if let Some(location) = response.headers().get("location") {
            let location = location.to_str().unwrap();
            let absolute = if location.starts_with('/') {
                format!("{}{location}", self.issuer)
            } else {
                location.to_owned()
            };
            return if absolute.starts_with(&self.issuer) {
                Err(absolute)
            } else {
                Ok(Landing::Away(absolute))
            };
        }
        Ok(Landing::Page {
            status,
            url: url.to_owned(),
            body: response.text().unwrap(),
        })
    }

    /// Submits the sign-in step shown at `page` (its flow and CSRF token) with `fields`.
    pub fn answer(&self, page: &Landing, fields: &[(&str, &str)]) -> Landing {
        let body = page_body(page);
        let (csrf, flow) = (hidden(&body, "csrf"), hidden(&body, "flow"));
        let mut form = vec![("csrf", csrf.as_str()), ("flow", flow.as_str())];
        form.extend_from_slice(fields);
        self.submit("/login", &form)
    }

    /// Fills and submits the sign-in form shown at `landing`.
    pub fn sign_in(&self, landing: Landing, username: &str, password: &str) -> Landing {
        let body = page_body(&landing);
        let csrf = hidden(&body, "csrf");
        let flow = hidden(&body, "flow");
        self.submit(
            "/login",
            &[
                ("csrf", &csrf),
                ("flow", &flow),
                ("username", username),
                ("password", password),
            ],
        )
    }
}

pub fn page_body(landing: &Landing) -> String {
    match landing {
        Landing::Page { body, .. } => body.clone(),
        Landing::Away(url) => panic!("expected a Postern page, went to {url}"),
    }
}

pub fn page_status(landing: &Landing) -> u16 {
    match landing {
        Landing::Page { status, .. } => *status,
        Landing::Away(url) => panic!("expected a Postern page, went to {url}"),
    }
}

pub fn away(landing: Landing) -> url::Url {
    match landing {
        Landing::Away(url) => url::Url::parse(&url).unwrap(),
        Landing::Page { status, url, body } => {
            panic!("expected a redirect to the application, got {status} at {url}:\n{body}")
        }
    }
}

pub fn query(url: &url::Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The value of a hidden form field.
pub fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in:\n{body}"))
        + marker.len();
    body[start..].split('"').next().unwrap().to_owned()
}

pub type OidcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// An application registered with Postern and configured from discovery.
pub struct RelyingParty {
    pub client: OidcClient,
    pub client_id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
    pub alg: CoreJwsSigningAlgorithm,
    pub http: Client,
}

/// One authorization request in flight.
pub struct Request {
    pub url: String,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

impl RelyingParty {
    pub fn register(site: &Site, daemon: &Daemon, name: &str, extra: &[&str]) -> Self {
        Self::register_at(site, &format!("http://{}", daemon.http), name, extra)
    }

    /// Registers an application with a daemon whose issuer is `issuer` (a host name, say).
    pub fn register_at(site: &Site, issuer: &str, name: &str, extra: &[&str]) -> Self {
        let redirect_uri = format!("http://127.0.0.1:9/{name}/callback");
        let mut args = vec![
            "--json",
            "client",
            "add",
            name,
            "--redirect-uri",
            &redirect_uri,
        ];
        args.extend_from_slice(extra);
        let created: serde_json::Value = serde_json::from_str(&site.ok(&args)).unwrap();
        let client_id = created["client"]["client_id"].as_str().unwrap().to_owned();
        let secret = created["client_secret"].as_str().map(str::to_owned);
        let alg = match created["client"]["signing_alg"].as_str().unwrap() {
            "EdDSA" => CoreJwsSigningAlgorithm::EdDsa,
            "ES256" => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            _ => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        };
        Self::configure_at(issuer, client_id, secret, alg, redirect_uri)
    }

    /// An application already registered (say, in a restored store), configured anew from the
    /// daemon's discovery document.
    pub fn configure(
        daemon: &Daemon,
        client_id: String,
        secret: Option<String>,
        alg: CoreJwsSigningAlgorithm,
        redirect_uri: String,
    ) -> Self {
        let issuer = format!("http://{}", daemon.http);
        Self::configure_at(&issuer, client_id, secret, alg, redirect_uri)
    }

    fn configure_at(
        issuer: &str,
        client_id: String,
        secret: Option<String>,
        alg: CoreJwsSigningAlgorithm,
        redirect_uri: String,
    ) -> Self {
        let http = Client::builder().redirect(Policy::none()).build().unwrap();
        let issuer = IssuerUrl::new(issuer.to_owned()).unwrap();
        let metadata = CoreProviderMetadata::discover(&issuer, &http).expect("discovery");
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(client_id.clone()),
            secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::new(redirect_uri.clone()).unwrap());
        Self {
            client,
            client_id,
            secret,
            redirect_uri,
            alg,
            http,
        }
    }

    pub fn request(&self, extra: &[(&str, &str)]) -> Request {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut builder = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("groups".into()))
            .add_scope(Scope::new("offline_access".into()))
            .set_pkce_challenge(challenge);
        for (key, value) in extra {
            builder = builder.add_extra_param(*key, *value);
        }
        let (url, state, nonce) = builder.url();
        Request {
            url: url.to_string(),
            state,
            nonce,
            verifier,
        }
    }

    /// Exchanges a code with the right verifier and verifies the ID token, nonce included.
    pub fn exchange(&self, code: &str, request: Request) -> Result<CoreTokenResponse, String> {
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| e.to_string())?
            .set_pkce_verifier(request.verifier)
            .request(&self.http)
            .map_err(|e| format!("{e:?}"))?;
        let id_token = openidconnect::TokenResponse::id_token(&response).ok_or("no id_token")?;
        let verifier = self
            .client
            .id_token_verifier()
            .set_allowed_algs(vec![self.alg.clone()]);
        id_token
            .claims(&verifier, &request.nonce)
            .map_err(|e| format!("ID token: {e}"))?;
        Ok(response)
    }

    /// A raw POST to a Postern endpoint, authenticated as this client.
    pub fn post(&self, url: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let mut form: Vec<(&str, &str)> = form.to_vec();
        form.push(("client_id", &self.client_id));
        if let Some(secret) = &self.secret {
            form.push(("client_secret", secret));
        }
        let response = self.http.post(url).form(&form).send().unwrap();
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    pub fn userinfo(&self, issuer: &str, access_token: &str) -> (u16, serde_json::Value) {
        let response = self
            .http
            .get(format!("{issuer}/userinfo"))
            .bearer_auth(access_token)
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().unwrap_or_default())
    }
}

/// Signs in from scratch: the application's request, Postern's form, the code back.
pub fn sign_in_and_get_code(
    browser: &Browser,
    rp: &RelyingParty,
    username: &str,
) -> (String, Request) {
    let request = rp.request(&[]);
    let login = browser.visit(&request.url);
    let back = away(browser.sign_in(login, username, PASSWORD));
    assert_eq!(
        query(&back, "state").as_deref(),
        Some(request.state.secret().as_str())
    );
    (query(&back, "code").expect("a code"), request)
}

/// Submits the code (or enrolment) step shown at `page` with `code`.
pub fn submit_code(browser: &Browser, page: &Landing, code: &str) -> Landing {
    browser.answer(page, &[("code", code)])
}

/// The claims of a token response's ID token (its signature was checked by `exchange`).
pub fn id_token_claims(tokens: &CoreTokenResponse) -> serde_json::Value {
    let id_token = openidconnect::TokenResponse::id_token(tokens)
        .unwrap()
        .to_string();
    let payload = id_token.split('.').nth(1).unwrap();
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub fn access_token(response: &CoreTokenResponse) -> String {
    response.access_token().secret().clone()
}

pub fn refresh_token(response: &CoreTokenResponse) -> String {
    response
        .refresh_token()
        .expect("a refresh token")
        .secret()
        .clone()
}

/// The manual-entry key shown on an enrolment page, without its spaces.
pub fn manual_key(body: &str) -> String {
    let marker = "id=\"manual-key\">";
    let start = body.find(marker).expect("a manual key on the page") + marker.len();
    body[start..]
        .split('<')
        .next()
        .unwrap()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// What an authenticator app holding `key` (base32) shows at time `at`, computed with
/// totp-rs, independently of Postern.
pub fn totp_code(key: &str, at: u64) -> String {
    let key: String = key.chars().filter(|c| !c.is_whitespace()).collect();
    let seed = totp_rs::Secret::try_from_base32(&key)
        .expect("a base32 key")
        .as_bytes()
        .to_vec();
    let totp = totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_secret(seed)
        .build()
        .unwrap();
    totp.generate(at).to_string()
}

/// Signs `username` in on Postern's own sign-in page and enrols an authenticator app (a role
/// of theirs must require MFA, so enrolment is offered); returns the app's key and the
/// recovery codes shown.
pub fn enrol_app_on_web(
    site: &crate::fixture::Site,
    daemon: &Daemon,
    username: &str,
) -> (String, Vec<String>) {
    let browser = Browser::new(daemon);
    let page = browser.sign_in(
        browser.visit(&format!("{}/login", browser.issuer)),
        username,
        PASSWORD,
    );
    let body = page_body(&page);
    let key = manual_key(&body);
    let code = totp_code(&key, crate::fixture::daemon_clock(site));
    let codes_page = page_body(&browser.submit(
        "/login",
        &[
            ("csrf", &hidden(&body, "csrf")),
            ("flow", &hidden(&body, "flow")),
            ("code", &code),
        ],
    ));
    let list = &codes_page[codes_page
        .find("id=\"recovery-codes\">")
        .expect("recovery codes")..];
    let codes = list
        .split("<li>")
        .skip(1)
        .map(|item| item.split('<').next().unwrap_or_default().to_owned())
        .collect();
    (key, codes)
}

/// The 6-digit code on a line of its own in a mail's text.
pub fn six_digit_code(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|line| line.len() == 6 && line.chars().all(|c| c.is_ascii_digit()))
        .expect("a 6-digit code in the message")
        .to_owned()
}

/// Makes `alice` (already added) use emailed codes, and signs her in from an application up to
/// the code page; a code is mailed on the way. Returns the page and the browser on it.
pub fn email_code_page(site: &crate::fixture::Site, daemon: &Daemon) -> (Browser, Landing) {
    site.ok(&["mfa", "set-method", "alice", "email"]);
    let rp = RelyingParty::register(site, daemon, "app", &[]);
    let browser = Browser::new(daemon);
    let request = rp.request(&[]);
    let page = browser.sign_in(browser.visit(&request.url), "alice", PASSWORD);
    (browser, page)
}
