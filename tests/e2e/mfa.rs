//! Multi-factor sign-in: forced TOTP enrolment, codes computed independently with totp-rs,
//! replay and window rules, recovery codes, exemptions, relying-party demands, admin resets.

use crate::browser::*;
use crate::fixture::{Daemon, Site, advance_clock, daemon_clock};

/// A site where `staff` requires MFA and `alice` holds it.
fn site_requiring_mfa() -> (Site, Daemon, RelyingParty) {
    let site = Site::new();
    let daemon = site.start();
    site.ok(&["role", "add", "staff", "--require-mfa"]);
    site.add_user("alice", &["staff"]);
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    (site, daemon, rp)
}

/// An authenticator app holding the key read from the enrolment page.
struct App(String);

impl App {
    fn from_page(body: &str) -> Self {
        Self(manual_key(body))
    }

    fn code(&self, at: u64) -> String {
        totp_code(&self.0, at)
    }
}

/// Signs alice in for the first time: password, forced enrolment, recovery codes, back to the app.
/// What an enrolment through the sign-in leaves the test.
struct Enrolled {
    app: App,
    recovery_codes: Vec<String>,
    claims: serde_json::Value,
    /// The app code that confirmed the enrolment, now spent.
    typed: String,
}

fn enrol(site: &Site, browser: &Browser, rp: &RelyingParty) -> Enrolled {
    let request = rp.request(&[]);
    let enrol_page = browser.sign_in(browser.visit(&request.url), "alice", PASSWORD);
    let body = page_body(&enrol_page);
    assert!(
        body.contains("Set up two-step verification") && body.contains("<svg"),
        "{body}"
    );
    let app = App::from_page(&body);

    let wrong = submit_code(browser, &enrol_page, "000000");
    assert_eq!(page_status(&wrong), 401);
    let typed = app.code(daemon_clock(site));
    let codes_page = submit_code(browser, &wrong, &typed);
    let body = page_body(&codes_page);
    let list = &body[body.find("id=\"recovery-codes\">").expect("recovery codes")..];
    let codes: Vec<String> = list
        .split("<li>")
        .skip(1)
        .map(|item| item.split('<').next().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
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
    Enrolled {
        app,
        recovery_codes: codes,
        claims: id_token_claims(&tokens),
        typed,
    }
}

/// Signs alice in on a fresh browser up to the code page.
fn code_page(daemon: &Daemon, rp: &RelyingParty) -> (Browser, Landing, Request) {
    let browser = Browser::new(daemon);
    let request = rp.request(&[]);
    let page = browser.sign_in(browser.visit(&request.url), "alice", PASSWORD);
    assert!(
        page_body(&page).contains("Two-step verification"),
        "{}",
        page_body(&page)
    );
    (browser, page, request)
}

#[test]
fn a_required_role_forces_enrolment_and_the_tokens_say_mfa() {
    let (site, daemon, rp) = site_requiring_mfa();
    let Enrolled { claims, .. } = enrol(&site, &Browser::new(&daemon), &rp);
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "postern:mfa");
    let shown = site.ok(&["user", "show", "alice"]);
    assert!(
        shown.contains("totp (required by a role)") && shown.contains("10 left"),
        "{shown}"
    );
    assert!(
        site.ok(&["audit", "--user", "alice"])
            .contains("mfa_enrolled")
    );
}

#[test]
fn totp_codes_work_once_and_only_within_one_step() {
    let (site, daemon, rp) = site_requiring_mfa();
    let Enrolled { app, typed, .. } = enrol(&site, &Browser::new(&daemon), &rp);

    // The code just used for enrolment is spent. (The very code typed: a code computed now
    // could belong to the next step, which is fresh.)
    let (browser, page, _) = code_page(&daemon, &rp);
    let replay = submit_code(&browser, &page, &typed);
    assert_eq!(page_status(&replay), 401, "a code is never accepted twice");
    let wrong = submit_code(&browser, &replay, "000000");
    assert_eq!(page_status(&wrong), 401);
    let audit = site.ok(&["audit", "--user", "alice"]);
    assert!(
        audit.contains("replayed code: already used") && audit.contains("wrong code"),
        "a replay and a wrong code are told apart: {audit}"
    );

    // One step old is still good.
    advance_clock(&site, 90);
    let (browser, page, request) = code_page(&daemon, &rp);
    let back = away(submit_code(
        &browser,
        &page,
        &app.code(daemon_clock(&site) - 30),
    ));
    rp.exchange(&query(&back, "code").unwrap(), request)
        .unwrap();

    // Two steps old is not.
    advance_clock(&site, 90);
    let (browser, page, _) = code_page(&daemon, &rp);
    let late = submit_code(&browser, &page, &app.code(daemon_clock(&site) - 60));
    assert_eq!(page_status(&late), 401);
    let fresh = submit_code(&browser, &late, &app.code(daemon_clock(&site)));
    away(fresh);
}

#[test]
fn a_recovery_code_signs_in_once() {
    let (site, daemon, rp) = site_requiring_mfa();
    let Enrolled {
        recovery_codes: codes,
        ..
    } = enrol(&site, &Browser::new(&daemon), &rp);
    let (browser, page, _) = code_page(&daemon, &rp);
    away(submit_code(&browser, &page, &codes[0].to_uppercase()));
    let (browser, page, _) = code_page(&daemon, &rp);
    assert_eq!(page_status(&submit_code(&browser, &page, &codes[0])), 401);
    assert!(site.ok(&["user", "show", "alice"]).contains("9 left"));
}

#[test]
fn wrong_codes_count_toward_the_lockout() {
    let (site, daemon, rp) = site_requiring_mfa();
    let Enrolled { app, .. } = enrol(&site, &Browser::new(&daemon), &rp);
    advance_clock(&site, 30);
    let (browser, mut page, _) = code_page(&daemon, &rp);
    for _ in 0..5 {
        page = submit_code(&browser, &page, "123456");
    }
    let refused = submit_code(&browser, &page, &app.code(daemon_clock(&site)));
    assert_eq!(
        page_status(&refused),
        401,
        "locked: even the right code is refused"
    );
    assert!(
        site.ok(&["user", "show", "alice"])
            .contains("too many failed sign-ins")
    );
}

#[test]
fn wrong_codes_add_up_across_sign_ins_with_the_right_password() {
    let (site, daemon, rp) = site_requiring_mfa();
    let Enrolled { app, .. } = enrol(&site, &Browser::new(&daemon), &rp);
    advance_clock(&site, 30);
    let (browser, mut page, _) = code_page(&daemon, &rp);
    for _ in 0..4 {
        page = submit_code(&browser, &page, "123456");
    }
    // A new sign-in with the right password does not start the count again.
    let (browser, page, _) = code_page(&daemon, &rp);
    let page = submit_code(&browser, &page, "123456");
    let refused = submit_code(&browser, &page, &app.code(daemon_clock(&site)));
    assert_eq!(page_status(&refused), 401, "locked after five wrong codes");
    assert!(
        site.ok(&["user", "show", "alice"])
            .contains("too many failed sign-ins")
    );
}

#[test]
fn an_api_access_role_is_exempt() {
    let site = Site::new();
    let daemon = site.start();
    site.ok(&["role", "add", "staff", "--require-mfa"]);
    site.ok(&["role", "add", "robots", "--api-access"]);
    site.add_user("alice", &["staff", "robots"]);
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    let browser = Browser::new(&daemon);
    let (code, request) = sign_in_and_get_code(&browser, &rp, "alice");
    let claims = id_token_claims(&rp.exchange(&code, request).unwrap());
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
}

#[test]
fn acr_values_make_an_unrequired_user_enrol_and_a_password_session_is_not_enough() {
    let site = Site::new();
    let daemon = site.start();
    site.add_user("alice", &[]);
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    let browser = Browser::new(&daemon);
    sign_in_and_get_code(&browser, &rp, "alice");

    // Signed in with a password only; the application now asks for MFA.
    let request = rp.request(&[("acr_values", "postern:mfa")]);
    let page = browser.visit(&request.url);
    assert!(
        page_body(&page).contains("name=\"password\""),
        "a password-only session does not satisfy acr_values"
    );
    let enrol_page = browser.sign_in(page, "alice", PASSWORD);
    assert!(page_body(&enrol_page).contains("Set up two-step verification"));
}

#[test]
fn prompt_login_asks_for_the_second_factor_again() {
    let (site, daemon, rp) = site_requiring_mfa();
    let browser = Browser::new(&daemon);
    enrol(&site, &browser, &rp);
    let request = rp.request(&[("prompt", "login")]);
    let page = browser.sign_in(browser.visit(&request.url), "alice", PASSWORD);
    assert!(page_body(&page).contains("Two-step verification"));
}

#[test]
fn an_admin_reset_makes_the_user_enrol_again() {
    let (site, daemon, rp) = site_requiring_mfa();
    let Enrolled { app: old_app, .. } = enrol(&site, &Browser::new(&daemon), &rp);
    site.ok(&["mfa", "reset", "alice"]);
    let shown = site.ok(&["user", "show", "alice"]);
    assert!(
        shown.contains("off (required by a role)") && shown.contains("0 left"),
        "{shown}"
    );

    advance_clock(&site, 30);
    let Enrolled { claims, .. } = enrol(&site, &Browser::new(&daemon), &rp);
    assert_eq!(claims["acr"], "postern:mfa");
    let (browser, page, _) = code_page(&daemon, &rp);
    advance_clock(&site, 30);
    assert_eq!(
        page_status(&submit_code(
            &browser,
            &page,
            &old_app.code(daemon_clock(&site))
        )),
        401,
        "the old app is void"
    );
    assert!(site.ok(&["audit", "--user", "alice"]).contains("mfa_reset"));
}

#[test]
fn set_method_totp_makes_the_user_enrol_a_new_app() {
    let site = Site::new();
    let daemon = site.start();
    site.add_user("alice", &[]);
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    site.ok(&["mfa", "set-method", "alice", "totp"]);
    let browser = Browser::new(&daemon);
    let request = rp.request(&[]);
    let page = browser.sign_in(browser.visit(&request.url), "alice", PASSWORD);
    assert!(page_body(&page).contains("Set up two-step verification"));
}

/// The code in the newest message of the outbox, and the message's text.
#[test]
fn set_method_says_what_will_happen_and_refuses_a_method_the_site_does_not_offer() {
    let site = Site::new();
    let _daemon = site.start();
    site.add_user("alice", &[]);
    let email = site.ok(&["mfa", "set-method", "alice", "email"]);
    assert!(
        email.contains("sent a code at alice@example.com") && !email.contains("authenticator"),
        "{email}"
    );
    let totp = site.ok(&["mfa", "set-method", "alice", "totp"]);
    assert!(totp.contains("enrol an authenticator app"), "{totp}");
    site.ok(&["site", "set", "mfa.methods", "totp"]);
    let refused = site.cli(&["mfa", "set-method", "alice", "email"]);
    assert!(!refused.status.success());
    assert!(
        crate::fixture::stderr(&refused).contains("does not offer email codes"),
        "{}",
        crate::fixture::stderr(&refused)
    );
}

fn last_mailed_code(site: &Site) -> (String, String) {
    let mut files: Vec<_> = std::fs::read_dir(site.dir.path().join("outbox"))
        .expect("outbox")
        .map(|e| e.unwrap())
        .collect();
    files.sort_by_key(|f| f.metadata().unwrap().modified().unwrap());
    // The newest message with a code: security notices land in the outbox too.
    let text = files
        .iter()
        .rev()
        .map(|f| std::fs::read_to_string(f.path()).unwrap())
        .find(|text| text.contains("Subject: Your Postern"))
        .expect("a message with a code");
    let code = six_digit_code(&text);
    (code, text)
}

#[test]
fn email_codes_enrol_and_sign_in_through_the_outbox() {
    let (site, daemon, rp) = site_requiring_mfa();
    let browser = Browser::new(&daemon);
    let request = rp.request(&[]);
    let enrol_page = browser.sign_in(browser.visit(&request.url), "alice", PASSWORD);
    let body = page_body(&enrol_page);
    let email_page = browser.submit(
        "/login",
        &[
            ("csrf", &hidden(&body, "csrf")),
            ("flow", &hidden(&body, "flow")),
            ("choose", "email"),
        ],
    );
    assert!(
        page_body(&email_page).contains("a•••@example.com"),
        "{}",
        page_body(&email_page)
    );
    assert!(
        site.ok(&["user", "show", "alice"])
            .contains("alice@example.com (not verified)")
    );
    let (code, message) = last_mailed_code(&site);
    assert!(
        !message.contains("http://") && !message.contains("https://"),
        "no link in the mail:\n{message}"
    );
    assert!(
        message.contains("Subject: Your Postern verification code"),
        "{message}"
    );
    let codes_page = submit_code(&browser, &email_page, &code);
    let body = page_body(&codes_page);
    let back = away(browser.submit(
        "/login",
        &[
            ("csrf", &hidden(&body, "csrf")),
            ("flow", &hidden(&body, "flow")),
        ],
    ));
    let claims = id_token_claims(
        &rp.exchange(&query(&back, "code").unwrap(), request)
            .unwrap(),
    );
    assert_eq!(claims["acr"], "postern:mfa");
    assert_eq!(
        claims["email_verified"], true,
        "the typed code proved the address"
    );
    let shown = site.ok(&["user", "show", "alice"]);
    assert!(
        shown.contains("email (required by a role)")
            && shown.contains("alice@example.com (verified)"),
        "{shown}"
    );

    // Next sign-in, another browser: a code is mailed on the way.
    let fresh = Browser::new(&daemon);
    let request = rp.request(&[]);
    let page = fresh.sign_in(fresh.visit(&request.url), "alice", PASSWORD);
    assert!(
        page_body(&page).contains("We sent a 6-digit code to <strong>a•••@example.com</strong>")
    );
    let (code, message) = last_mailed_code(&site);
    assert!(
        message.contains("Subject: Your Postern sign-in code"),
        "{message}"
    );
    let back = away(submit_code(&fresh, &page, &code));
    rp.exchange(&query(&back, "code").unwrap(), request)
        .unwrap();

    let log: serde_json::Value = serde_json::from_str(&site.ok(&[
        "--json",
        "mail",
        "log",
        "--to",
        "alice",
        "--subject",
        "code",
    ]))
    .unwrap();
    let rows = log.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["status"].as_str(), rows[0]["to"].as_str()),
        (Some("sent"), Some("alice@example.com"))
    );
    assert!(
        site.ok(&["mail", "log"])
            .contains("Your Postern sign-in code")
    );
}

#[test]
fn an_email_code_expires_and_new_ones_are_throttled() {
    let site = Site::new();
    let daemon = site.start();
    site.add_user("alice", &[]);
    let (browser, page) = email_code_page(&site, &daemon);
    let (code, _) = last_mailed_code(&site);

    let body = page_body(&page);
    let resend = [
        ("csrf", hidden(&body, "csrf")),
        ("flow", hidden(&body, "flow")),
        ("resend", "1".into()),
    ];
    let resend: Vec<(&str, &str)> = resend.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let throttled = browser.submit("/login", &resend);
    assert!(
        page_body(&throttled).contains("less than a minute ago"),
        "{}",
        page_body(&throttled)
    );

    advance_clock(&site, 15 * 60 + 1);
    let expired = submit_code(&browser, &throttled, &code);
    assert_eq!(page_status(&expired), 401, "refused after 15 minutes");
    let renewed = browser.submit("/login", &resend);
    assert!(page_body(&renewed).contains("We sent a new code"));
    let (code, _) = last_mailed_code(&site);
    away(submit_code(&browser, &renewed, &code));
}

#[test]
fn the_report_lists_every_user_with_their_mfa_state() {
    let (site, daemon, rp) = site_requiring_mfa();
    site.add_user("bob", &[]);
    enrol(&site, &Browser::new(&daemon), &rp);
    let report: serde_json::Value =
        serde_json::from_str(&site.ok(&["--json", "mfa", "report"])).unwrap();
    let rows = report.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["username"], "alice");
    assert_eq!(
        rows[0]["mfa"],
        serde_json::json!({"enabled": true, "method": "totp", "required": true, "recovery_codes_left": 10, "passkeys": []})
    );
    assert_eq!(rows[1]["mfa"]["enabled"], false);
    let csv = site.ok(&["mfa", "report", "--csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "username,roles,mfa_enabled,method,required,passkeys,last_sign-in"
    );
    assert!(lines[1].starts_with("alice,staff,yes,totp,yes,0,"), "{csv}");
    assert!(lines[2].starts_with("bob,,no,-,no,0,never"), "{csv}");
}

/// Signs out of Postern in this browser (the remembered-device cookie stays).
fn sign_out(browser: &Browser) {
    let confirm = browser.visit(&format!("{}/logout", browser.issuer));
    let csrf = hidden(&page_body(&confirm), "csrf");
    assert!(
        page_body(&browser.submit("/logout", &[("csrf", &csrf)])).contains("You are signed out")
    );
}

#[test]
fn a_remembered_browser_skips_the_code_for_a_day_and_only_that_browser() {
    let (site, daemon, rp) = site_requiring_mfa();
    let browser = Browser::new(&daemon);
    enrol(&site, &browser, &rp);
    sign_out(&browser);

    // Same browser, within 24 hours: password only, and the tokens still say MFA.
    advance_clock(&site, 23 * 3600);
    let request = rp.request(&[]);
    let back = away(browser.sign_in(browser.visit(&request.url), "alice", PASSWORD));
    let claims = id_token_claims(
        &rp.exchange(&query(&back, "code").unwrap(), request)
            .unwrap(),
    );
    assert_eq!(claims["acr"], "postern:mfa");
    assert!(
        site.ok(&["audit", "--user", "alice"])
            .contains("remembered_device_used")
    );
    sign_out(&browser);

    // Another browser (another cookie jar) is another device.
    code_page(&daemon, &rp);

    // prompt=login asks for a fresh code even here.
    let request = rp.request(&[("prompt", "login")]);
    let page = browser.sign_in(browser.visit(&request.url), "alice", PASSWORD);
    assert!(page_body(&page).contains("Two-step verification"));

    // 24 hours after the last successful sign-in in this browser, it is forgotten.
    advance_clock(&site, 24 * 3600 + 1);
    let request = rp.request(&[]);
    let page = browser.sign_in(browser.visit(&request.url), "alice", PASSWORD);
    assert!(page_body(&page).contains("Two-step verification"));
}

#[test]
fn a_password_change_forgets_remembered_browsers_and_window_zero_remembers_none() {
    let (site, daemon, rp) = site_requiring_mfa();
    let browser = Browser::new(&daemon);
    let Enrolled { app, .. } = enrol(&site, &browser, &rp);
    sign_out(&browser);
    site.ok_with_stdin(
        &["user", "set-password", "alice", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    let request = rp.request(&[]);
    let page = browser.sign_in(browser.visit(&request.url), "alice", PASSWORD);
    assert!(
        page_body(&page).contains("Two-step verification"),
        "forgotten after the password change"
    );

    // With the window at 0, a code sign-in remembers nothing.
    site.ok(&["site", "set", "remember_device.window", "0"]);
    advance_clock(&site, 30);
    let browser = Browser::new(&daemon);
    let request = rp.request(&[]);
    let page = browser.sign_in(browser.visit(&request.url), "alice", PASSWORD);
    away(submit_code(&browser, &page, &app.code(daemon_clock(&site))));
    sign_out(&browser);
    let request = rp.request(&[]);
    let page = browser.sign_in(browser.visit(&request.url), "alice", PASSWORD);
    assert!(
        page_body(&page).contains("Two-step verification"),
        "nothing was remembered"
    );
}

#[test]
fn five_wrong_email_codes_void_the_code_even_after_an_unlock() {
    let site = Site::new();
    let daemon = site.start();
    site.add_user("alice", &[]);
    let (browser, mut page) = email_code_page(&site, &daemon);
    let (code, _) = last_mailed_code(&site);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        page = submit_code(&browser, &page, wrong);
    }
    // Five failures also lock the account; lift that, and the code is still void.
    site.ok(&["user", "unlock", "alice"]);
    assert_eq!(page_status(&submit_code(&browser, &page, &code)), 401);
}
