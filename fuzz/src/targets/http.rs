//! HTTP requests to the real router, in this process, over a real (temporary) sled store with
//! a user and a client: authorize, token, logout (`id_token_hint`), introspection, revocation,
//! userinfo, the device grant and every page, with their parameters, cookies and
//! authorization headers. An input is a request written as text:
//!
//! ```text
//! POST /token
//! authorization: Basic ...
//! cookie: postern_session=...
//!
//! grant_type=refresh_token&refresh_token=...
//! ```
//!
//! A panic, a hang, or a 500 (an internal error, which a healthy store never causes) is a
//! finding: bad input must get a clear 4xx.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use postern_daemon::clock::{Clock, SystemClock};
use postern_daemon::config::Config;
use postern_daemon::context::{Context, Parts};
use postern_daemon::model::{Client, SigningAlg, User, UserId};
use postern_daemon::secrets::MasterKey;
use postern_daemon::tokens::keys::KeyRing;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const CLIENT_ID: &str = "fuzz-client";
const SECRET: &str = "fuzz-secret";
const REDIRECT: &str = "https%3A%2F%2Fapp.example.com%2Fcb";
/// A JWT's shape, for `id_token_hint`: header, claims, signature.
const JWT: &str = "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjkiLCJzdWIiOiIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDciLCJhdWQiOiJmdXp6LWNsaWVudCIsImV4cCI6OTk5OTk5OTk5OX0.c2lnbmF0dXJl";
const SESSION: &str = "00000000-0000-0000-0000-000000000007.c2Vzc2lvbg";
/// A minted access token's shape (`tokens::access::minted`): payload, then MAC.
const MINTED: &str = "AQcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHAAAAAAAAA-gAAAAAAAAGWAAAAAAAAAAAAAAAAAAAAABvcGVuaWQgcHJvZmlsZQ.bWFjbWFjbWFjbWFjbWFjbWFjbWFjbWFjbWFjbWFjbWE";

pub struct Http {
    /// How many answers of each status: a run that only ever gets 404 tests nothing.
    pub statuses: std::collections::BTreeMap<u16, u64>,
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Http")
    }
}

impl Http {
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut config = Config {
            state_dir: dir.path().join("state"),
            ..Config::default()
        };
        config.secrets.key_file = dir.path().join("master.key");
        config.mail.outbox_dir = dir.path().join("outbox");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let router = runtime.block_on(async {
            let store = postern_daemon::store::open(&config).await?;
            let master = MasterKey::load_or_create(&config.secrets.key_file)?;
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let keys = KeyRing::load(&*store, &master, clock.unix_now(), 3600).await?;
            let user = User {
                password_hash: postern_daemon::factors::password::hash("fuzz password")?,
                ..super::records::user()
            };
            let user = User {
                id: UserId(uuid::Uuid::from_u128(7)),
                roles: Default::default(),
                mfa: None,
                ..user
            };
            store.insert_user(&user).await?;
            store
                .insert_client(&Client {
                    id: CLIENT_ID.into(),
                    name: "fuzz".into(),
                    secret_hash: Some(postern_daemon::secrets::token_hash(SECRET)),
                    redirect_uris: vec!["https://app.example.com/cb".into()],
                    post_logout_redirect_uris: vec!["https://app.example.com/bye".into()],
                    signing_alg: SigningAlg::EdDSA,
                    require_pkce: false,
                    consent: true,
                    device_flow: true,
                    created_at: 1,
                })
                .await?;
            let ctx = Context::new(Parts {
                config,
                store,
                clock,
                test_clock: None,
                master_key: master,
                keys,
                http_addr: "127.0.0.1:9".parse()?,
                metrics_addr: None,
                issuer: openidconnect::IssuerUrl::new("http://127.0.0.1:9".into())?,
            })
            .map_err(anyhow::Error::msg)?;
            let web = postern_daemon::web::Web::new(Arc::new(ctx)).map_err(anyhow::Error::msg)?;
            Ok::<_, anyhow::Error>(postern_daemon::web::router(Arc::new(web)))
        })?;
        Ok(Self {
            statuses: Default::default(),
            runtime,
            router,
            _dir: dir,
        })
    }

    pub fn run(&mut self, input: &[u8]) -> Result<(), String> {
        let Some(request) = parse(input) else {
            // Not a request the HTTP layer would pass on (a bad method, path or header).
            return Ok(());
        };
        let router = self.router.clone();
        let response = self.runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), router.oneshot(request)).await
        });
        let status = match response {
            Ok(Ok(response)) => response.status(),
            Ok(Err(never)) => match never {},
            Err(_) => return Err("no answer within 10 seconds".into()),
        };
        *self.statuses.entry(status.as_u16()).or_default() += 1;
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return Err("answered 500 Internal Server Error".into());
        }
        Ok(())
    }
}

/// The request an input describes, if it is one the HTTP layer would accept.
fn parse(input: &[u8]) -> Option<Request<Body>> {
    let text = String::from_utf8_lossy(input);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let (method, path) = lines.next()?.split_once(' ')?;
    let method = match method {
        "GET" | "POST" | "HEAD" | "PUT" | "DELETE" | "OPTIONS" => method,
        _ => "GET",
    };
    let mut builder = Request::builder().method(method).uri(path);
    for line in lines {
        let (name, value) = line.split_once(':')?;
        builder = builder.header(name.trim(), value.trim());
    }
    if method == "POST" && !head.to_ascii_lowercase().contains("content-type") {
        builder = builder.header("content-type", "application/x-www-form-urlencoded");
    }
    let mut request = builder.body(Body::from(body.to_owned())).ok()?;
    // Addresses vary with the input, so the per-address limit does not end the run's reach
    // after its first few hundred wrong passwords.
    let spread = input
        .iter()
        .fold(0u32, |h, b| h.rotate_left(5) ^ u32::from(*b));
    let [a, b, c, _] = spread.to_be_bytes();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([10, a, b, c], 40000))));
    Some(request)
}

pub fn seeds() -> Vec<Vec<u8>> {
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    [
        format!("GET /authorize?response_type=code&client_id={CLIENT_ID}&redirect_uri={REDIRECT}&scope=openid%20profile%20offline_access&state=s&nonce=n&code_challenge={challenge}&code_challenge_method=S256&prompt=login&max_age=60&acr_values=postern:mfa&login_hint=alice"),
        format!("POST /authorize\n\nresponse_type=code&client_id={CLIENT_ID}&redirect_uri={REDIRECT}&scope=openid&prompt=none"),
        format!("POST /token\n\ngrant_type=authorization_code&code=abc&redirect_uri={REDIRECT}&client_id={CLIENT_ID}&client_secret={SECRET}&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "POST /token\nauthorization: Basic ZnV6ei1jbGllbnQ6ZnV6ei1zZWNyZXQ=\n\ngrant_type=refresh_token&refresh_token=abc&scope=openid".into(),
        format!("POST /token\n\ngrant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=BCDFGHJK.secret&client_id={CLIENT_ID}&client_secret={SECRET}"),
        format!("POST /device_authorization\n\nclient_id={CLIENT_ID}&client_secret={SECRET}&scope=openid"),
        format!("GET /logout?id_token_hint={JWT}&post_logout_redirect_uri=https%3A%2F%2Fapp.example.com%2Fbye&state=x&client_id={CLIENT_ID}"),
        format!("POST /logout\ncookie: postern_csrf=abc; postern_session={SESSION}\n\ncsrf=abc&id_token_hint={JWT}"),
        "POST /introspect\nauthorization: Basic ZnV6ei1jbGllbnQ6ZnV6ei1zZWNyZXQ=\n\ntoken=abc&token_type_hint=refresh_token".into(),
        format!("POST /revoke\n\nclient_id={CLIENT_ID}&client_secret={SECRET}&token=abc"),
        "GET /userinfo\nauthorization: Bearer abc".into(),
        format!("GET /userinfo\nauthorization: Bearer {MINTED}"),
        format!("POST /introspect\nauthorization: Basic ZnV6ei1jbGllbnQ6ZnV6ei1zZWNyZXQ=\n\ntoken={MINTED}"),
        format!("POST /revoke\n\nclient_id={CLIENT_ID}&client_secret={SECRET}&token={MINTED}"),
        format!("GET /login\ncookie: postern_session={SESSION}; postern_device=x.y; postern_browser=abc"),
        "POST /login\ncookie: postern_csrf=abc; postern_flow=f\n\ncsrf=abc&flow=f&username=alice&email_code=1".into(),
        format!("GET /account\ncookie: postern_session={SESSION}"),
        "POST /account\ncookie: postern_csrf=abc\n\ncsrf=abc&action=sign_out_elsewhere".into(),
        "GET /approve?code=BCDF-GHJK".into(),
        "POST /welcome\ncookie: postern_csrf=abc\n\ncsrf=abc&username=alice&code=BCDF-GHJK-LMNP&password=x&repeat=x".into(),
        "POST /forgot\ncookie: postern_csrf=abc\n\ncsrf=abc&identifier=alice%40example.com".into(),
        "GET /.well-known/openid-configuration".into(),
        "GET /jwks".into(),
        "GET /healthz".into(),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect()
}

pub const DICTIONARY: &[&[u8]] = &[
    b"&",
    b"=",
    b"%20",
    b"%2F",
    b"+",
    b"client_id=",
    b"redirect_uri=",
    b"response_type=code",
    b"scope=openid",
    b"prompt=none",
    b"prompt=consent",
    b"max_age=",
    b"acr_values=postern:phr",
    b"code_challenge_method=plain",
    b"grant_type=",
    b"refresh_token=",
    b"id_token_hint=",
    b"eyJ",
    b"..",
    b"Basic ",
    b"Bearer ",
    b"cookie: ",
    b"postern_session=",
    b"postern_csrf=",
    b"postern_device=",
    b"__Host-postern_session=",
    b"00000000-0000-0000-0000-000000000007.",
    b"\n",
    b"\n\n",
];
