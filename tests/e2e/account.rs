//! The account page: users enrol, switch, renew, forget browsers, turn MFA off (unless a role
//! requires it) and change their password.

use crate::browser::*;
use crate::fixture::{Site, daemon_clock};

fn signed_in(site: &Site, roles: &[&str]) -> (crate::fixture::Daemon, Browser) {
    let daemon = site.start();
    site.add_user("alice", roles);
    let browser = Browser::new(&daemon);
    let landing = browser.sign_in(
        browser.visit(&format!("{}/login", browser.issuer)),
        "alice",
        PASSWORD,
    );
    assert!(
        page_body(&landing).contains("Your account"),
        "{}",
        page_body(&landing)
    );
    (daemon, browser)
}

fn account(browser: &Browser) -> String {
    page_body(&browser.visit(&format!("{}/account", browser.issuer)))
}

fn act(browser: &Browser, fields: &[(&str, &str)]) -> String {
    let csrf = hidden(&account(browser), "csrf");
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    page_body(&browser.submit("/account", &form))
}

fn code_from(body: &str, at: u64) -> String {
    totp_code(&manual_key(body), at)
}

#[test]
fn a_user_turns_on_an_app_renews_codes_and_turns_it_off() {
    let site = Site::new();
    let (_daemon, browser) = signed_in(&site, &[]);
    assert!(account(&browser).contains("id=\"mfa-status\">Off."));
    let unstarted = act(&browser, &[("action", "confirm_totp"), ("code", "123456")]);
    assert!(
        unstarted.contains("That enrolment expired. Start again."),
        "{unstarted}"
    );

    let enrol = act(&browser, &[("action", "enrol_totp")]);
    assert!(
        !enrol.contains("name=\"seed\""),
        "the seed stays on the server"
    );
    let code = code_from(&enrol, daemon_clock(&site));
    let csrf = hidden(&enrol, "csrf");
    // A seed smuggled into the form (another user's, say) is not read.
    let done = page_body(&browser.submit(
        "/account",
        &[
            ("csrf", &csrf),
            ("action", "confirm_totp"),
            ("seed", "c2VhbGVkIGZvciBzb21lYm9keSBlbHNl"),
            ("code", &code),
        ],
    ));
    assert!(
        done.contains("Two-step verification is on") && done.contains("id=\"recovery-codes\""),
        "{done}"
    );
    assert!(site.ok(&["user", "show", "alice"]).contains("10 left"));

    let renewed = act(&browser, &[("action", "recovery_codes")]);
    assert!(renewed.contains("New recovery codes are ready"));
    let off = act(&browser, &[("action", "disable")]);
    assert!(
        off.contains("Two-step verification is off") && off.contains("id=\"mfa-status\">Off."),
        "{off}"
    );
    assert!(
        site.ok(&["audit", "--user", "alice"])
            .contains("mfa_disabled")
    );
}

#[test]
fn turning_mfa_off_is_refused_while_a_role_requires_it() {
    let site = Site::new();
    let daemon = site.start();
    site.ok(&["role", "add", "staff", "--require-mfa"]);
    site.add_user("alice", &["staff"]);
    let browser = Browser::new(&daemon);
    let enrol_page = browser.sign_in(
        browser.visit(&format!("{}/login", browser.issuer)),
        "alice",
        PASSWORD,
    );
    let body = page_body(&enrol_page);
    let csrf = hidden(&body, "csrf");
    let flow = hidden(&body, "flow");
    let code = code_from(&body, daemon_clock(&site));
    let codes_page = page_body(&browser.submit(
        "/login",
        &[("csrf", &csrf), ("flow", &flow), ("code", &code)],
    ));
    browser.submit(
        "/login",
        &[
            ("csrf", &hidden(&codes_page, "csrf")),
            ("flow", &hidden(&codes_page, "flow")),
        ],
    );

    let refused = act(&browser, &[("action", "disable")]);
    assert!(
        refused.contains("A role of yours requires two-step verification"),
        "{refused}"
    );
    assert!(
        site.ok(&["user", "show", "alice"])
            .contains("totp (required by a role)")
    );
    // The page says why instead of offering a button that would be refused.
    let listed = account(&browser);
    assert!(
        listed.contains("cannot be turned off: a role of yours requires it")
            && !listed.contains("Turn off two-step verification"),
        "{listed}"
    );
    // The browser was remembered, with when and from where, so two browsers of one kind can
    // be told apart; the user can forget it.
    assert!(
        listed.contains("skip the second step for 1 day")
            && listed.contains("first remembered ")
            && listed.contains(" from 127.0.0.1, last used "),
        "{listed}"
    );
    let device = hidden(&listed, "device");
    let forgotten = act(
        &browser,
        &[("action", "forget_device"), ("device", &device)],
    );
    assert!(
        forgotten.contains("will be asked for the second step again")
            && forgotten.contains("None."),
        "{forgotten}"
    );
}

#[test]
fn a_password_change_needs_the_current_one() {
    let site = Site::new();
    let (daemon, browser) = signed_in(&site, &[]);
    let second = Browser::new(&daemon);
    second.sign_in(
        second.visit(&format!("{}/login", second.issuer)),
        "alice",
        PASSWORD,
    );
    let wrong = act(
        &browser,
        &[
            ("action", "password"),
            ("current", "nope"),
            ("new", "a brand new password"),
            ("repeat", "a brand new password"),
        ],
    );
    assert!(wrong.contains("current password is not right"), "{wrong}");
    let short = act(
        &browser,
        &[
            ("action", "password"),
            ("current", PASSWORD),
            ("new", "short"),
            ("repeat", "short"),
        ],
    );
    assert!(short.contains("at least 8 characters"), "{short}");
    let ok = act(
        &browser,
        &[
            ("action", "password"),
            ("current", PASSWORD),
            ("new", "a brand new password"),
            ("repeat", "a brand new password"),
        ],
    );
    assert!(ok.contains("Your password is changed"), "{ok}");
    let still = browser.visit(&format!("{}/account", browser.issuer));
    assert!(
        !page_body(&still).contains("name=\"password\""),
        "the session that changed the password lives on"
    );
    let elsewhere = page_body(&second.visit(&format!("{}/account", second.issuer)));
    assert!(
        elsewhere.contains("name=\"password\""),
        "a session elsewhere ends with the old password"
    );

    let other = Browser::new(&daemon);
    let login = other.visit(&format!("{}/login", other.issuer));
    assert_eq!(
        page_status(&other.sign_in(login, "alice", PASSWORD)),
        401,
        "the old password is gone"
    );
}

#[test]
fn the_account_page_needs_a_session_and_its_forms_need_their_token() {
    let site = Site::new();
    let (daemon, browser) = signed_in(&site, &[]);
    let stranger = Browser::new(&daemon);
    let landing = stranger.visit(&format!("{}/account", stranger.issuer));
    assert!(
        page_body(&landing).contains("name=\"password\""),
        "sent to sign in"
    );
    let forged = browser.submit("/account", &[("csrf", "forged"), ("action", "disable")]);
    assert_eq!(page_status(&forged), 403);
}

#[test]
fn sign_out_everywhere_else_ends_other_sessions_and_refresh_tokens() {
    let site = Site::new();
    let (daemon, browser) = signed_in(&site, &[]);
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    let laptop = Browser::new(&daemon);
    let (code, request) = sign_in_and_get_code(&laptop, &rp, "alice");
    let tokens = rp.exchange(&code, request).expect("tokens");

    let listed = account(&browser);
    let sessions = listed
        .split("id=\"sessions\"")
        .nth(1)
        .and_then(|rest| rest.split("</ul>").next())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(sessions.matches("<li>").count(), 2, "{sessions}");
    assert_eq!(sessions.matches("(this browser)").count(), 1, "{sessions}");
    assert!(sessions.contains("from 127.0.0.1"), "{sessions}");

    let done = act(&browser, &[("action", "sign_out_elsewhere")]);
    assert!(done.contains("1 other session ended"), "{done}");
    assert!(
        account(&browser).contains("Where you are signed in"),
        "this browser stays signed in"
    );
    let elsewhere = page_body(&laptop.visit(&format!("{}/account", laptop.issuer)));
    assert!(
        elsewhere.contains("name=\"password\""),
        "the other browser is signed out: {elsewhere}"
    );
    let (status, body) = rp.post(
        &format!("{}/token", browser.issuer),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token(&tokens)),
        ],
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let trail = site.ok(&["audit", "--user", "alice"]);
    assert!(trail.contains("signed_out_elsewhere"), "{trail}");
}
