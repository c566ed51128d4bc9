//! Forgotten passwords, end to end: the same answer for every name, the emailed code from the
//! outbox, the app code a TOTP user must add, the lock that wrong codes build, and a reset
//! that ends the user's sessions and refresh tokens.

use crate::browser::*;
use crate::fixture::{Site, advance_clock, daemon_clock};

const NEW: &str = "a brand new long password";

fn outbox(site: &Site) -> std::collections::BTreeSet<std::path::PathBuf> {
    std::fs::read_dir(site.dir.path().join("outbox"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

/// Waits (the mail goes out after the page answers) for a reset mail not in `before`; returns
/// its code. (Notices land in the outbox too, so the newest file is not always the code.)
fn reset_code_after(
    site: &Site,
    before: &std::collections::BTreeSet<std::path::PathBuf>,
) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        for path in outbox(site).difference(before) {
            let text = std::fs::read_to_string(path).unwrap();
            if text.contains("Subject: Reset your Postern password") {
                return six_digit_code(&text);
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reset mail arrived"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn ask(browser: &Browser, identifier: &str) -> Landing {
    let page = browser.visit(&format!("{}/forgot", browser.issuer));
    let csrf = hidden(&page_body(&page), "csrf");
    browser.submit(
        "/forgot",
        &[
            ("csrf", &csrf),
            ("action", "send"),
            ("identifier", identifier),
        ],
    )
}

fn reset(browser: &Browser, page: &Landing, code: &str, second: &str, password: &str) -> Landing {
    let body = page_body(page);
    browser.submit(
        "/forgot",
        &[
            ("csrf", &hidden(&body, "csrf")),
            ("action", "reset"),
            ("identifier", &hidden(&body, "identifier")),
            ("code", code),
            ("second_factor", second),
            ("password", password),
            ("repeat", password),
        ],
    )
}

#[test]
fn a_totp_user_resets_with_the_mailed_code_and_the_app_and_is_signed_out_everywhere() {
    let site = Site::new();
    let daemon = site.start();
    site.ok(&["role", "add", "staff", "--require-mfa"]);
    site.add_user("alice", &["staff"]);
    let (key, _) = enrol_app_on_web(&site, &daemon, "alice");

    // Alice is signed in to an application, with a refresh token.
    advance_clock(&site, 30);
    let rp = RelyingParty::register(&site, &daemon, "wiki", &[]);
    let request = rp.request(&[]);
    let signed_in = Browser::new(&daemon);
    let second = signed_in.sign_in(signed_in.visit(&request.url), "alice", PASSWORD);
    let back = away(submit_code(
        &signed_in,
        &second,
        &totp_code(&key, daemon_clock(&site)),
    ));
    let tokens = rp
        .exchange(&query(&back, "code").unwrap(), request)
        .unwrap();
    let refresh = refresh_token(&tokens);

    // The sign-in page offers the reset; unknown and known names get the same page.
    let browser = Browser::new(&daemon);
    let login = page_body(&browser.visit(&format!("{}/login", browser.issuer)));
    assert!(login.contains("Forgot your password?"), "{login}");
    let before = outbox(&site);
    let unknown = page_body(&ask(&browser, "nobody")).replace("nobody", "NAME");
    let known = ask(&browser, "alice");
    assert_eq!(page_body(&known).replace("alice", "NAME"), unknown);
    let code = reset_code_after(&site, &before);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        outbox(&site).len(),
        before.len() + 1,
        "nothing was mailed for `nobody`"
    );

    // The code alone does not do for a user with an app; the refusal spends the code.
    advance_clock(&site, 30);
    let refused = reset(&browser, &known, &code, "", NEW);
    assert!(page_body(&refused).contains("authenticator code or recovery code was not accepted"));
    let again = reset(
        &browser,
        &known,
        &code,
        &totp_code(&key, daemon_clock(&site)),
        NEW,
    );
    assert!(
        page_body(&again).contains("That code is not right"),
        "{}",
        page_body(&again)
    );

    // Wrong emailed codes add up to the account's lock.
    let mut locked = false;
    for _ in 0..12 {
        let wrong = page_body(&reset(&browser, &known, "000000", "", NEW));
        if wrong.contains("Too many wrong codes") {
            locked = true;
            break;
        }
    }
    assert!(locked, "wrong codes lock the account");
    site.ok(&["user", "unlock", "alice"]);

    // A new code (a minute later), the app's code, a new password.
    advance_clock(&site, 61);
    let before = outbox(&site);
    let page = ask(&browser, "alice@example.com");
    let code = reset_code_after(&site, &before);
    let done = reset(
        &browser,
        &page,
        &code,
        &totp_code(&key, daemon_clock(&site)),
        NEW,
    );
    assert!(
        page_body(&done).contains("Your password is changed"),
        "{}",
        page_body(&done)
    );

    // Everything that was signed in is out: the browser's session and the refresh token.
    let account = signed_in.visit(&format!("{}/account", signed_in.issuer));
    assert!(
        page_body(&account).contains("id=\"password\""),
        "signed out"
    );
    let (status, answer) = rp.post(
        &format!("{}/token", browser.issuer),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    );
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // The new password signs in, with the app as before.
    advance_clock(&site, 30);
    let fresh = Browser::new(&daemon);
    let login = fresh.visit(&format!("{}/login", fresh.issuer));
    let second = fresh.sign_in(login, "alice", NEW);
    let home = submit_code(&fresh, &second, &totp_code(&key, daemon_clock(&site)));
    let body = page_body(&home);
    assert!(body.contains("Signed in as <strong>alice</strong>"));
    // Her account page lists what happened, the failures included.
    let activity = &body[body.find("id=\"activity\"").expect("recent activity")..];
    for shown in [
        "password reset",
        "failed:</strong> password reset refused",
        "signed in",
    ] {
        assert!(activity.contains(shown), "{shown}: {activity}");
    }
    let audit = site.ok(&["audit", "--user", "alice"]);
    for action in [
        "password_reset_requested",
        "password_reset_refused",
        "password_reset",
    ] {
        assert!(audit.contains(action), "{action}: {audit}");
    }
}

#[test]
fn the_site_can_turn_self_service_reset_off() {
    let site = Site::new();
    let daemon = site.start();
    site.add_user("bob", &[]);
    site.ok(&["site", "set", "password_reset.enabled", "false"]);
    let browser = Browser::new(&daemon);
    let login = page_body(&browser.visit(&format!("{}/login", browser.issuer)));
    assert!(!login.contains("Forgot your password?"));
    let page = browser.visit(&format!("{}/forgot", browser.issuer));
    assert_eq!(page_status(&page), 404);
}
