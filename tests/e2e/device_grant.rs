//! RFC 8628, the device authorization grant, as a command-line tool uses it: raw requests to
//! `/device_authorization` and the token endpoint (its ID token checked with the openidconnect
//! crate), and a person allowing or denying it on the approval page in a browser.

use crate::browser::{Browser, Landing, PASSWORD, RelyingParty, hidden, page_body, page_status};
use crate::fixture::{Daemon, Site, advance_clock};
use openidconnect::core::CoreTokenResponse;
use openidconnect::{Nonce, OAuth2TokenResponse, TokenResponse};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn site_with_tool() -> (Site, Daemon, RelyingParty) {
    let site = Site::new();
    let daemon = site.start();
    site.add_user("alice", &[]);
    let tool = RelyingParty::register(&site, &daemon, "tool", &["--device-flow"]);
    (site, daemon, tool)
}

/// Asks for a device code; returns the answer.
fn device_authorization(tool: &RelyingParty, issuer: &str, scope: &str) -> serde_json::Value {
    let (status, answer) = tool.post(
        &format!("{issuer}/device_authorization"),
        &[("scope", scope)],
    );
    assert_eq!(status, 200, "{answer}");
    answer
}

fn poll(tool: &RelyingParty, issuer: &str, device_code: &str) -> (u16, serde_json::Value) {
    tool.post(
        &format!("{issuer}/token"),
        &[("grant_type", GRANT), ("device_code", device_code)],
    )
}

fn poll_error(tool: &RelyingParty, issuer: &str, device_code: &str) -> String {
    let (status, answer) = poll(tool, issuer, device_code);
    assert_eq!(status, 400, "{answer}");
    answer["error"].as_str().unwrap_or_default().to_owned()
}

/// Opens the approval page with the user code as typed, in `browser`.
fn open_approval(browser: &Browser, user_code: &str) -> Landing {
    let page = browser.visit(&format!("{}/approve", browser.issuer));
    let csrf = hidden(&page_body(&page), "csrf");
    browser.submit(
        "/approve",
        &[("csrf", &csrf), ("action", "find"), ("code", user_code)],
    )
}

fn press(browser: &Browser, page: &Landing, action: &str) -> Landing {
    let body = page_body(page);
    let (csrf, code) = (hidden(&body, "csrf"), hidden(&body, "code"));
    browser.submit(
        "/approve",
        &[("csrf", &csrf), ("action", action), ("code", &code)],
    )
}

#[test]
fn a_tool_waits_is_slowed_down_and_gets_tokens_once_the_user_allows_it() {
    let (site, daemon, tool) = site_with_tool();
    let issuer = format!("http://{}", daemon.http);
    let discovery: serde_json::Value =
        reqwest::blocking::get(format!("{issuer}/.well-known/openid-configuration"))
            .unwrap()
            .json()
            .unwrap();
    assert_eq!(
        discovery["device_authorization_endpoint"],
        format!("{issuer}/device_authorization")
    );
    assert!(
        discovery["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&GRANT.into())
    );

    let started = device_authorization(&tool, &issuer, "openid offline_access");
    assert_eq!(started["verification_uri"], format!("{issuer}/approve"));
    assert_eq!(started["expires_in"], 300);
    assert_eq!(started["interval"], 5);
    let device_code = started["device_code"].as_str().unwrap().to_owned();
    let user_code = started["user_code"].as_str().unwrap().to_owned();

    assert_eq!(
        poll_error(&tool, &issuer, &device_code),
        "authorization_pending"
    );
    assert_eq!(poll_error(&tool, &issuer, &device_code), "slow_down");

    // Alice opens the page the tool names, signs in from there, and is brought back to allow it.
    let browser = Browser::new(&daemon);
    let page = browser.visit(started["verification_uri_complete"].as_str().unwrap());
    let body = page_body(&page);
    assert!(
        body.contains("sign in as you to") && body.contains("openid offline_access"),
        "{body}"
    );
    assert!(body.contains("Sign in to continue"), "{body}");
    let login = browser.visit(&format!(
        "{issuer}/login?approve={}",
        user_code.replace('-', "")
    ));
    let page = browser.sign_in(login, "alice", PASSWORD);
    let body = page_body(&page);
    assert!(body.contains("Allow, as alice"), "{body}");
    let done = press(&browser, &page, "allow");
    assert!(
        page_body(&done).contains("Allowed."),
        "{}",
        page_body(&done)
    );

    // Polling on time (the interval grew to ten seconds) gets the tokens.
    advance_clock(&site, 10);
    let (status, answer) = poll(&tool, &issuer, &device_code);
    assert_eq!(status, 200, "{answer}");
    let tokens: CoreTokenResponse = serde_json::from_value(answer).unwrap();
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&tool.client.id_token_verifier(), |_: Option<&Nonce>| Ok(()))
        .expect("a valid ID token");
    let (_, userinfo) = tool.userinfo(&issuer, tokens.access_token().secret());
    assert_eq!(userinfo["sub"], claims.subject().as_str());
    assert!(
        tokens.refresh_token().is_some(),
        "offline_access was asked for"
    );

    // The device code works once.
    assert_eq!(poll_error(&tool, &issuer, &device_code), "expired_token");
    let audit = site.ok(&["audit", "--since", "1h"]);
    assert!(
        audit.contains("approval_granted") && audit.contains("client"),
        "{audit}"
    );
}

#[test]
fn a_denied_expired_or_foreign_request_gets_no_tokens() {
    let (site, daemon, tool) = site_with_tool();
    let issuer = format!("http://{}", daemon.http);
    let browser = Browser::new(&daemon);

    // Denied on the page.
    let started = device_authorization(&tool, &issuer, "openid");
    let device_code = started["device_code"].as_str().unwrap();
    let page = open_approval(&browser, started["user_code"].as_str().unwrap());
    let denied = press(&browser, &page, "deny");
    assert!(page_body(&denied).contains("Denied."));
    assert_eq!(poll_error(&tool, &issuer, device_code), "access_denied");

    // Never allowed in five minutes.
    let started = device_authorization(&tool, &issuer, "openid");
    advance_clock(&site, 5 * 60 + 1);
    let device_code = started["device_code"].as_str().unwrap();
    assert_eq!(poll_error(&tool, &issuer, device_code), "expired_token");
    let stale = open_approval(&browser, started["user_code"].as_str().unwrap());
    assert_eq!(page_status(&stale), 400);

    // Another client's device code, a client not allowed the grant, a malformed request.
    let started = device_authorization(&tool, &issuer, "openid");
    let other = RelyingParty::register(&site, &daemon, "other", &["--device-flow"]);
    let device_code = started["device_code"].as_str().unwrap();
    assert_eq!(poll_error(&other, &issuer, device_code), "expired_token");
    assert_eq!(
        poll_error(&tool, &issuer, device_code),
        "authorization_pending"
    );
    let plain = RelyingParty::register(&site, &daemon, "plain", &[]);
    let (status, answer) = plain.post(
        &format!("{issuer}/device_authorization"),
        &[("scope", "openid")],
    );
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (status, answer) = tool.post(
        &format!("{issuer}/device_authorization"),
        &[("scope", "profile")],
    );
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let (status, answer) = tool.post(&format!("{issuer}/token"), &[("grant_type", GRANT)]);
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_request"))
    );
    assert_eq!(poll_error(&tool, &issuer, "garbage"), "expired_token");

    // An administrator can take the grant away again.
    site.ok(&["client", "set", "tool", "--device-flow", "false"]);
    let (status, answer) = tool.post(
        &format!("{issuer}/device_authorization"),
        &[("scope", "openid")],
    );
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
}
