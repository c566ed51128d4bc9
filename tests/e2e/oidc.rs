//! The OpenID Connect provider, driven by the `openidconnect` crate as the relying party and a
//! cookie-keeping HTTP client as the browser.

use crate::browser::*;
use crate::fixture::{Site, advance_clock};
use openidconnect::OAuth2TokenResponse;

pub(crate) fn site_with_alice() -> (Site, crate::fixture::Daemon) {
    let site = Site::new();
    let daemon = site.start();
    site.ok(&["role", "add", "staff"]);
    site.add_user("alice", &["staff"]);
    (site, daemon)
}

/// The whole journey for one kind of client: sign in, exchange, userinfo, refresh, revoke.
fn full_flow(extra: &[&str]) {
    let (site, daemon) = site_with_alice();
    let rp = RelyingParty::register(&site, &daemon, "app", extra);
    let browser = Browser::new(&daemon);
    let (code, request) = sign_in_and_get_code(&browser, &rp, "alice");
    let tokens = rp.exchange(&code, request).expect("code exchange");

    let claims = {
        let id_token = openidconnect::TokenResponse::id_token(&tokens)
            .unwrap()
            .to_string();
        let payload = id_token.split('.').nth(1).unwrap();
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap();
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
    };
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(claims["acr"], "postern:pwd");
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["groups"], serde_json::json!(["staff"]));
    assert!(
        claims["auth_time"].is_u64()
            && claims["at_hash"].is_string()
            && claims["c_hash"].is_string()
    );

    let (status, info) = rp.userinfo(&browser.issuer, &access_token(&tokens));
    assert_eq!(status, 200);
    assert_eq!(info["sub"], claims["sub"]);
    assert_eq!(info["email"], "alice@example.com");

    let refreshed = rp
        .client
        .exchange_refresh_token(&openidconnect::RefreshToken::new(refresh_token(&tokens)))
        .unwrap()
        .request(&rp.http)
        .expect("refresh");
    assert_ne!(
        refresh_token(&refreshed),
        refresh_token(&tokens),
        "refresh tokens rotate"
    );
    let (status, _) = rp.userinfo(&browser.issuer, refreshed.access_token().secret());
    assert_eq!(status, 200);

    let (status, _) = rp.post(
        &format!("{}/revoke", browser.issuer),
        &[("token", &refresh_token(&refreshed))],
    );
    assert_eq!(status, 200);
    let (status, _) = rp.userinfo(&browser.issuer, refreshed.access_token().secret());
    assert_eq!(
        status, 401,
        "revoking the refresh token revokes its access tokens"
    );

    // Refreshes are counted in the metrics, not audited one by one.
    let audit = site.ok(&["audit", "--user", "alice"]);
    for action in ["signed_in", "tokens_issued", "token_revoked"] {
        assert!(audit.contains(action), "{action} in {audit}");
    }
}

#[test]
fn a_confidential_rs256_client_signs_in_refreshes_and_revokes() {
    full_flow(&[]);
}

#[test]
fn a_public_eddsa_client_signs_in_with_pkce_alone() {
    full_flow(&["--public", "--signing-alg", "EdDSA"]);
}

#[test]
fn an_es256_client_gets_es256_id_tokens() {
    full_flow(&["--signing-alg", "ES256"]);
}

#[test]
fn single_sign_on_skips_the_password_until_prompt_login_or_max_age_ask_for_it() {
    let (site, daemon) = site_with_alice();
    let first = RelyingParty::register(&site, &daemon, "first", &[]);
    let second = RelyingParty::register(&site, &daemon, "second", &[]);
    let browser = Browser::new(&daemon);
    sign_in_and_get_code(&browser, &first, "alice");

    let request = second.request(&[]);
    let back = away(browser.visit(&request.url));
    let code = query(&back, "code").expect("a code without a password");
    second.exchange(&code, request).unwrap();

    for extra in [[("prompt", "login")], [("max_age", "0")]] {
        advance_clock(&site, 2);
        let request = second.request(&extra);
        let landing = browser.visit(&request.url);
        assert!(
            page_body(&landing).contains("name=\"password\""),
            "{extra:?} asks for the password again"
        );
    }
}

#[test]
fn prompt_none_without_a_session_is_login_required() {
    let (site, daemon) = site_with_alice();
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    let browser = Browser::new(&daemon);
    let request = rp.request(&[("prompt", "none")]);
    let back = away(browser.visit(&request.url));
    assert_eq!(query(&back, "error").as_deref(), Some("login_required"));
    assert_eq!(
        query(&back, "state").as_deref(),
        Some(request.state.secret().as_str())
    );
    // Without PKCE too, as the OpenID conformance plan and many relying parties send it.
    let back = away(browser.visit(&without_pkce(&rp.request(&[("prompt", "none")]))));
    assert_eq!(query(&back, "error").as_deref(), Some("login_required"));
}

#[test]
fn an_unregistered_redirect_uri_gets_an_error_page_not_a_redirect() {
    let (site, daemon) = site_with_alice();
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    let browser = Browser::new(&daemon);
    let request = rp.request(&[]);
    let evil = request
        .url
        .replace("127.0.0.1%3A9%2Fapp", "evil.example%2Fapp");
    assert_ne!(evil, request.url);
    let landing = browser.visit(&evil);
    assert_eq!(page_status(&landing), 400);
    assert!(
        page_body(&landing).contains("not registered"),
        "{landing:?}"
    );
}

#[test]
fn the_web_sign_in_takes_the_username_in_any_case() {
    // Usernames are unique without regard to case, so `ALICE` names alice alone (PAM, where
    // login names are case-sensitive, takes only the exact name).
    let (site, daemon) = site_with_alice();
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    let (code, request) = sign_in_and_get_code(&Browser::new(&daemon), &rp, "ALICE");
    rp.exchange(&code, request).unwrap();
}

/// The request's URL without its PKCE parameters, as many relying parties send it.
fn without_pkce(request: &Request) -> String {
    request
        .url
        .split('&')
        .filter(|p| !p.starts_with("code_challenge"))
        .collect::<Vec<_>>()
        .join("&")
}

#[test]
fn a_request_without_pkce_goes_back_with_invalid_request_where_pkce_is_required() {
    let (site, daemon) = site_with_alice();
    let strict = RelyingParty::register(&site, &daemon, "strict", &["--require-pkce"]);
    let public = RelyingParty::register(&site, &daemon, "spa", &["--public"]);
    for rp in [&strict, &public] {
        let browser = Browser::new(&daemon);
        let back = away(browser.visit(&without_pkce(&rp.request(&[]))));
        assert_eq!(query(&back, "error").as_deref(), Some("invalid_request"));
        assert!(query(&back, "error_description").unwrap().contains("PKCE"));
    }
    // A public client can never be told to skip it.
    let refused = site.cli(&["client", "set", "spa", "--require-pkce", "false"]);
    assert!(!refused.status.success());
    assert!(crate::fixture::stderr(&refused).contains("public"));
    site.ok(&["client", "set", "strict", "--require-pkce", "false"]);
    let browser = Browser::new(&daemon);
    let request = strict.request(&[]);
    let back = away(browser.sign_in(browser.visit(&without_pkce(&request)), "alice", PASSWORD));
    assert!(query(&back, "code").is_some(), "{back}");
}

#[test]
fn a_confidential_client_may_sign_in_without_pkce_but_not_downgrade_it() {
    let (site, daemon) = site_with_alice();
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    assert!(
        site.ok(&["client", "show", "app"])
            .contains("checked when sent")
    );
    let token_url = format!("http://{}/token", daemon.http);
    let code_without_pkce = || {
        let browser = Browser::new(&daemon);
        let request = rp.request(&[]);
        let back = away(browser.sign_in(browser.visit(&without_pkce(&request)), "alice", PASSWORD));
        query(&back, "code").expect("a code")
    };
    // A verifier for a code issued without a challenge is a PKCE downgrade: refused, and the
    // code stays usable.
    let code = code_without_pkce();
    let exchange = |verifier: Option<&str>| {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", rp.redirect_uri.as_str()),
        ];
        form.extend(verifier.map(|v| ("code_verifier", v)));
        rp.post(&token_url, &form)
    };
    let (status, body) = exchange(Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = exchange(None);
    assert_eq!(status, 200, "{body}");
    assert!(body["id_token"].is_string());
    // A challenge that is sent is always checked.
    let browser = Browser::new(&daemon);
    let request = rp.request(&[]);
    let back = away(browser.sign_in(browser.visit(&request.url), "alice", PASSWORD));
    let (status, body) = rp.post(
        &token_url,
        &[
            ("grant_type", "authorization_code"),
            ("code", &query(&back, "code").unwrap()),
            ("redirect_uri", &rp.redirect_uri),
        ],
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[test]
fn a_wrong_or_missing_verifier_is_refused_without_using_up_the_code() {
    let (site, daemon) = site_with_alice();
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    let browser = Browser::new(&daemon);
    let (code, request) = sign_in_and_get_code(&browser, &rp, "alice");
    let token_url = format!("{}/token", browser.issuer);
    let base = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", rp.redirect_uri.as_str()),
    ];
    let (status, body) = rp.post(&token_url, &base);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let wrong = "x".repeat(43);
    let (status, body) = rp.post(
        &token_url,
        &[base.as_slice(), &[("code_verifier", wrong.as_str())]].concat(),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    rp.exchange(&code, request)
        .expect("the right verifier still works");
}

#[test]
fn a_reused_code_is_refused_and_revokes_what_it_gave() {
    let (site, daemon) = site_with_alice();
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    let browser = Browser::new(&daemon);
    let (code, request) = sign_in_and_get_code(&browser, &rp, "alice");
    let verifier = request.verifier.secret().clone();
    let tokens = rp.exchange(&code, request).unwrap();
    let (status, body) = rp.post(
        &format!("{}/token", browser.issuer),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &rp.redirect_uri),
            ("code_verifier", &verifier),
        ],
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let (status, _) = rp.userinfo(&browser.issuer, &access_token(&tokens));
    assert_eq!(status, 401, "tokens from the first exchange are revoked");
    assert!(site.ok(&["audit"]).contains("code_reused"));
}

#[test]
fn an_expired_code_is_refused() {
    let (site, daemon) = site_with_alice();
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    let browser = Browser::new(&daemon);
    let (code, request) = sign_in_and_get_code(&browser, &rp, "alice");
    advance_clock(&site, 61);
    let error = rp.exchange(&code, request).unwrap_err();
    assert!(error.contains("invalid_grant"), "{error}");
}

#[test]
fn a_wrong_client_secret_is_invalid_client() {
    let (site, daemon) = site_with_alice();
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    let browser = Browser::new(&daemon);
    let (code, _) = sign_in_and_get_code(&browser, &rp, "alice");
    let response = rp
        .http
        .post(format!("{}/token", browser.issuer))
        .basic_auth(&rp.client_id, Some("not-the-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &rp.redirect_uri),
        ])
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let body: serde_json::Value = response.json().unwrap();
    assert_eq!(body["error"], "invalid_client");
}

#[test]
fn a_form_without_its_csrf_token_is_refused() {
    let (site, daemon) = site_with_alice();
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    let browser = Browser::new(&daemon);
    let request = rp.request(&[]);
    let body = page_body(&browser.visit(&request.url));
    let flow = hidden(&body, "flow");
    let landing = browser.submit(
        "/login",
        &[
            ("flow", &flow),
            ("username", "alice"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(page_status(&landing), 403);
    let landing = browser.submit(
        "/login",
        &[
            ("csrf", "forged"),
            ("flow", &flow),
            ("username", "alice"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(page_status(&landing), 403);
    // A fresh browser (another cookie jar) cannot finish this browser's flow either.
    let other = Browser::new(&daemon);
    let landing = other.visit(&format!("{}/login?flow={flow}", other.issuer));
    assert_eq!(page_status(&landing), 400);
}

#[test]
fn repeated_failures_lock_the_account_visibly_and_indistinguishably() {
    let (site, daemon) = site_with_alice();
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    let browser = Browser::new(&daemon);
    let request = rp.request(&[]);
    let mut landing = browser.visit(&request.url);
    let mut messages = Vec::new();
    for _ in 0..5 {
        landing = browser.sign_in(landing, "alice", "wrong password!");
        assert_eq!(page_status(&landing), 401);
        messages.push(page_body(&landing));
    }
    // Now even the right password gets the same answer.
    landing = browser.sign_in(landing, "alice", PASSWORD);
    assert_eq!(page_status(&landing), 401);
    assert!(page_body(&landing).contains("Wrong username or password."));
    let unknown = browser.sign_in(landing, "nobody-here", PASSWORD);
    assert!(page_body(&unknown).contains("Wrong username or password."));

    let shown = site.ok(&["user", "show", "alice"]);
    assert!(shown.contains("too many failed sign-ins"), "{shown}");
    assert!(
        site.ok(&["audit", "--user", "alice"])
            .contains("account_locked")
    );
    site.ok(&["user", "unlock", "alice"]);
    let request = rp.request(&[]);
    away(browser.sign_in(browser.visit(&request.url), "alice", PASSWORD));
}

#[test]
fn logout_with_an_id_token_hint_ends_the_session_and_returns_to_the_app() {
    let site = Site::new();
    let daemon = site.start();
    site.add_user("alice", &[]);
    let rp = RelyingParty::register(
        &site,
        &daemon,
        "app",
        &["--post-logout-redirect-uri", "http://127.0.0.1:9/bye"],
    );
    let browser = Browser::new(&daemon);
    let (code, request) = sign_in_and_get_code(&browser, &rp, "alice");
    let tokens = rp.exchange(&code, request).unwrap();
    let hint = openidconnect::TokenResponse::id_token(&tokens)
        .unwrap()
        .to_string();

    let unregistered = browser.visit(&format!(
        "{}/logout?id_token_hint={hint}&post_logout_redirect_uri=https://evil.example/",
        browser.issuer
    ));
    assert_eq!(page_status(&unregistered), 400);

    let back = away(browser.visit(&format!(
        "{}/logout?id_token_hint={hint}&post_logout_redirect_uri=http://127.0.0.1:9/bye&state=s1",
        browser.issuer
    )));
    assert_eq!(
        (back.path(), query(&back, "state").as_deref()),
        ("/bye", Some("s1"))
    );
    let request = rp.request(&[("prompt", "none")]);
    assert_eq!(
        query(&away(browser.visit(&request.url)), "error").as_deref(),
        Some("login_required")
    );
    assert!(site.ok(&["audit"]).contains("signed_out"));
}

#[test]
fn logout_without_a_hint_asks_first() {
    let site = Site::new();
    let daemon = site.start();
    site.add_user("alice", &[]);
    let browser = Browser::new(&daemon);
    let login = browser.visit(&format!("{}/login", browser.issuer));
    let home = browser.sign_in(login, "alice", PASSWORD);
    assert!(page_body(&home).contains("Your account"));
    let confirm = browser.visit(&format!("{}/logout", browser.issuer));
    assert!(page_body(&confirm).contains("Sign out?"));
    let csrf = hidden(&page_body(&confirm), "csrf");
    let done = browser.submit("/logout", &[("csrf", &csrf)]);
    assert!(page_body(&done).contains("You are signed out"));
    let again = browser.visit(&format!("{}/", browser.issuer));
    assert!(
        page_body(&again).contains("name=\"password\""),
        "signed out for real"
    );
}

#[test]
fn discovery_names_the_issuer_and_pkce() {
    let site = Site::new();
    let daemon = site.start();
    let body: serde_json::Value = reqwest::blocking::get(format!(
        "http://{}/.well-known/openid-configuration",
        daemon.http
    ))
    .unwrap()
    .json()
    .unwrap();
    assert_eq!(body["issuer"], format!("http://{}", daemon.http));
    assert_eq!(
        body["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        body["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert!(
        body["end_session_endpoint"]
            .as_str()
            .unwrap()
            .ends_with("/logout")
    );
    assert_eq!(
        body["prompt_values_supported"],
        serde_json::json!(["none", "login", "consent"])
    );
    for unsupported in [
        "claims_parameter_supported",
        "request_parameter_supported",
        "request_uri_parameter_supported",
    ] {
        assert_eq!(body[unsupported], false, "{unsupported}");
    }
    for endpoint in ["revocation", "introspection"] {
        assert_eq!(
            body[format!("{endpoint}_endpoint_auth_methods_supported")],
            serde_json::json!(["client_secret_basic", "client_secret_post", "none"])
        );
    }
    // Plain http (loopback) sends no HSTS: it would be ignored, and it would be a lie.
    let login = reqwest::blocking::get(format!("http://{}/login", daemon.http)).unwrap();
    assert!(login.headers().get("strict-transport-security").is_none());
    // Every published key names its algorithm.
    let jwks: serde_json::Value = reqwest::blocking::get(format!("http://{}/jwks", daemon.http))
        .unwrap()
        .json()
        .unwrap();
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs.len(), 3);
    for alg in ["RS256", "EdDSA", "ES256"] {
        assert!(algs.contains(&alg), "{algs:?}");
    }
    drop(site);
}
