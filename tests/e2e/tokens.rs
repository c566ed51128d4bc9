//! Refresh tokens and introspection: rotation, reuse detection, scopes and clients, as a
//! relying party meets them at the token and introspection endpoints.

use crate::browser::*;
use crate::fixture::advance_clock;
use crate::oidc::site_with_alice;
use openidconnect::OAuth2TokenResponse;

#[test]
fn a_refresh_token_is_issued_only_for_offline_access() {
    let (site, daemon) = site_with_alice();
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    let browser = Browser::new(&daemon);
    let mut request = rp.request(&[]);
    let before = request.url.clone();
    request.url = request
        .url
        .replace("+offline_access", "")
        .replace("%20offline_access", "");
    assert_ne!(before, request.url, "the scope was taken out");
    let back = away(browser.sign_in(browser.visit(&request.url), "alice", PASSWORD));
    let tokens = rp
        .exchange(&query(&back, "code").unwrap(), request)
        .unwrap();
    assert!(tokens.refresh_token().is_none());
    assert!(!tokens.access_token().secret().is_empty());
}

#[test]
fn a_reused_refresh_token_revokes_its_family() {
    let (site, daemon) = site_with_alice();
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    let browser = Browser::new(&daemon);
    let (code, request) = sign_in_and_get_code(&browser, &rp, "alice");
    let tokens = rp.exchange(&code, request).unwrap();
    let token_url = format!("{}/token", browser.issuer);
    let old = refresh_token(&tokens);
    let (status, fresh) = rp.post(
        &token_url,
        &[("grant_type", "refresh_token"), ("refresh_token", &old)],
    );
    assert_eq!(status, 200, "{fresh}");
    let (status, body) = rp.post(
        &token_url,
        &[("grant_type", "refresh_token"), ("refresh_token", &old)],
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let newest = fresh["refresh_token"].as_str().unwrap();
    let (status, body) = rp.post(
        &token_url,
        &[("grant_type", "refresh_token"), ("refresh_token", newest)],
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "the whole family is revoked: {body}"
    );
    let (status, _) = rp.userinfo(&browser.issuer, fresh["access_token"].as_str().unwrap());
    assert_eq!(status, 401);
    assert!(site.ok(&["audit"]).contains("refresh_token_reused"));
}

#[test]
fn a_refresh_token_is_refused_to_another_client_and_a_wider_scope_and_stays_usable() {
    let (site, daemon) = site_with_alice();
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    let other = RelyingParty::register(&site, &daemon, "other", &[]);
    let browser = Browser::new(&daemon);
    let (code, request) = sign_in_and_get_code(&browser, &rp, "alice");
    let tokens = rp.exchange(&code, request).unwrap();
    let token_url = format!("{}/token", browser.issuer);
    let refresh = refresh_token(&tokens);
    let grant = [("grant_type", "refresh_token"), ("refresh_token", &refresh)];

    let (status, body) = other.post(&token_url, &grant);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("another client")
    );
    let wider = [grant[0], grant[1], ("scope", "openid profile admin")];
    let (status, body) = rp.post(&token_url, &wider);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );

    let narrower = [grant[0], grant[1], ("scope", "openid")];
    let (status, body) = rp.post(&token_url, &narrower);
    assert_eq!(status, 200, "neither refusal used the token up: {body}");
    assert_eq!(body["scope"], "openid");
    assert!(!site.ok(&["audit"]).contains("refresh_token_reused"));
}

#[test]
fn introspection_reports_live_and_dead_tokens() {
    let (site, daemon) = site_with_alice();
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    let browser = Browser::new(&daemon);
    let (code, request) = sign_in_and_get_code(&browser, &rp, "alice");
    let tokens = rp.exchange(&code, request).unwrap();
    let url = format!("{}/introspect", browser.issuer);
    let (status, body) = rp.post(&url, &[("token", &access_token(&tokens))]);
    assert_eq!(
        (status, body["active"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    assert_eq!(body["username"], "alice");
    advance_clock(&site, 11 * 60);
    let (_, body) = rp.post(&url, &[("token", &access_token(&tokens))]);
    assert_eq!(body, serde_json::json!({ "active": false }));
}

#[test]
fn an_access_token_revoked_alone_is_dead_everywhere_and_its_refresh_token_lives_on() {
    let (site, daemon) = site_with_alice();
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    let other = RelyingParty::register(&site, &daemon, "other", &[]);
    let browser = Browser::new(&daemon);
    let (code, request) = sign_in_and_get_code(&browser, &rp, "alice");
    let tokens = rp.exchange(&code, request).unwrap();
    let access = access_token(&tokens);

    // One changed character is a forgery, not another token.
    let middle = access.len() / 2;
    let flipped = if &access[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    let forged = format!("{}{flipped}{}", &access[..middle], &access[middle + 1..]);
    let (status, _) = rp.userinfo(&browser.issuer, &forged);
    assert_eq!(status, 401, "a changed token is refused");

    let revoke = format!("{}/revoke", browser.issuer);
    let (status, _) = other.post(&revoke, &[("token", &access)]);
    assert_eq!(
        status, 200,
        "RFC 7009: another client's token is answered 200"
    );
    assert_eq!(
        rp.userinfo(&browser.issuer, &access).0,
        200,
        "and left alone"
    );

    let (status, _) = rp.post(&revoke, &[("token", &access)]);
    assert_eq!(status, 200);
    assert_eq!(rp.userinfo(&browser.issuer, &access).0, 401);
    let introspect = format!("{}/introspect", browser.issuer);
    let (_, body) = rp.post(&introspect, &[("token", &access)]);
    assert_eq!(body, serde_json::json!({ "active": false }));

    let token_url = format!("{}/token", browser.issuer);
    let (status, fresh) = rp.post(
        &token_url,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token(&tokens)),
        ],
    );
    assert_eq!(status, 200, "the grant goes on: {fresh}");
    let newer = fresh["access_token"].as_str().unwrap();
    assert_eq!(rp.userinfo(&browser.issuer, newer).0, 200);
    assert!(
        site.ok(&["audit", "--user", "alice"])
            .contains("token_revoked")
    );
}
