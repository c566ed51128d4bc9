//! A live single sign-on session meets the user's current policy on every use: a new MFA
//! requirement, an administrator's reset, a disabled account or a password changed elsewhere
//! reaches a browser that signed in before the change.

use crate::browser::*;
use crate::fixture::{Site, daemon_clock};

#[test]
fn a_new_mfa_requirement_stops_a_password_session_until_the_user_enrols() {
    let site = Site::new();
    let daemon = site.start();
    site.ok(&["role", "add", "staff", "--require-mfa"]);
    site.add_user("alice", &[]);
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    let browser = Browser::new(&daemon);
    let (code, request) = sign_in_and_get_code(&browser, &rp, "alice");
    let claims = id_token_claims(&rp.exchange(&code, request).unwrap());
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));

    // The administrator now requires MFA of alice. Her session proved a password only.
    site.ok(&["user", "add-role", "alice", "staff"]);
    let account = browser.visit(&format!("{}/account", browser.issuer));
    assert!(
        page_body(&account).contains("Set up two-step verification"),
        "the account page asks for enrolment first"
    );
    let request = rp.request(&[]);
    let silent = rp.request(&[("prompt", "none")]);
    let back = away(browser.visit(&silent.url));
    assert_eq!(
        query(&back, "error").as_deref(),
        Some("interaction_required")
    );
    let enrol_page = browser.visit(&request.url);
    let body = page_body(&enrol_page);
    assert!(
        body.contains("Set up two-step verification") && !body.contains("name=\"password\""),
        "the missing step, not the password again: {body}"
    );
    let key = manual_key(&body);
    let codes_page = submit_code(&browser, &enrol_page, &totp_code(&key, daemon_clock(&site)));
    let body = page_body(&codes_page);
    let back = away(browser.submit(
        "/login",
        &[
            ("csrf", &hidden(&body, "csrf")),
            ("flow", &hidden(&body, "flow")),
        ],
    ));
    let tokens = rp
        .exchange(&query(&back, "code").unwrap(), request)
        .unwrap();
    assert_eq!(id_token_claims(&tokens)["acr"], "postern:mfa");
    // And the new session is enough from now on.
    let (code, request) = (away(browser.visit(&rp.request(&[]).url)), rp.request(&[]));
    assert!(query(&code, "code").is_some());
    drop(request);
}

#[test]
fn an_admin_reset_voids_the_second_factor_a_session_proved() {
    let site = Site::new();
    let daemon = site.start();
    site.ok(&["role", "add", "staff", "--require-mfa"]);
    site.add_user("alice", &["staff"]);
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    let browser = Browser::new(&daemon);
    let enrol_page = browser.sign_in(browser.visit(&rp.request(&[]).url), "alice", PASSWORD);
    let key = manual_key(&page_body(&enrol_page));
    let codes = submit_code(&browser, &enrol_page, &totp_code(&key, daemon_clock(&site)));
    let body = page_body(&codes);
    away(browser.submit(
        "/login",
        &[
            ("csrf", &hidden(&body, "csrf")),
            ("flow", &hidden(&body, "flow")),
        ],
    ));
    assert!(query(&away(browser.visit(&rp.request(&[]).url)), "code").is_some());

    site.ok(&["mfa", "reset", "alice"]);
    let page = browser.visit(&rp.request(&[]).url);
    assert!(
        page_body(&page).contains("Set up two-step verification"),
        "after the reset the user enrols again before any code"
    );
}

#[test]
fn disabling_the_user_or_changing_the_password_elsewhere_ends_the_session() {
    let site = Site::new();
    let daemon = site.start();
    site.add_user("alice", &[]);
    site.add_user("bob", &[]);
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);

    let browser = Browser::new(&daemon);
    sign_in_and_get_code(&browser, &rp, "alice");
    site.ok(&["user", "disable", "alice"]);
    site.ok(&["user", "enable", "alice"]);
    let page = browser.visit(&rp.request(&[]).url);
    assert!(
        page_body(&page).contains("name=\"password\""),
        "a disabled user's session ended and does not come back when enabled"
    );

    let browser = Browser::new(&daemon);
    sign_in_and_get_code(&browser, &rp, "bob");
    site.ok_with_stdin(
        &["user", "set-password", "bob", "--password-stdin"],
        "a brand new password\n",
    );
    let page = browser.visit(&format!("{}/account", browser.issuer));
    assert!(page_body(&page).contains("name=\"password\""));
}
