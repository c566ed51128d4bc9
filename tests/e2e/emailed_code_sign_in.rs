//! Signing in with an emailed code instead of the password (`sign_in.email_code`): through the
//! real OIDC flow with the code read from the outbox, then the app's code; never the mailbox
//! for both steps; the same page for an unknown account; and at the PAM door with pamtester.

use crate::browser::*;
use crate::fixture::{Site, daemon_clock};
use crate::pam_module::{PamService, available, output_text};
use std::process::Command;

fn site_offering_codes() -> (Site, crate::fixture::Daemon) {
    let site = Site::new();
    let daemon = site.start();
    site.ok(&["site", "set", "sign_in.email_code", "true"]);
    (site, daemon)
}

/// The code of the newest "sign-in code" mail to alice.
fn mailed_code(site: &Site) -> String {
    let mut files: Vec<_> = std::fs::read_dir(site.dir.path().join("outbox"))
        .expect("outbox")
        .map(|e| e.unwrap())
        .collect();
    files.sort_by_key(|f| f.metadata().unwrap().modified().unwrap());
    let text = files
        .iter()
        .rev()
        .map(|f| std::fs::read_to_string(f.path()).unwrap())
        .find(|text| text.contains("Subject: Your Postern sign-in code"))
        .expect("a sign-in code mail");
    six_digit_code(&text)
}

/// Asks for a code for `username` on the sign-in page `login`; returns the page that waits.
fn email_me_a_code(browser: &Browser, login: &Landing, username: &str) -> Landing {
    let body = page_body(login);
    assert!(body.contains("Email me a code instead"), "{body}");
    browser.answer(login, &[("username", username), ("email_code", "1")])
}

/// Waits (briefly) for the code the daemon mails after answering.
fn wait_for_code(site: &Site) -> String {
    for _ in 0..100 {
        if let Ok(code) = std::panic::catch_unwind(|| mailed_code(site)) {
            return code;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    mailed_code(site)
}

#[test]
fn an_emailed_code_then_the_app_code_signs_in_through_oidc() {
    let (site, daemon) = site_offering_codes();
    site.ok(&["role", "add", "staff", "--require-mfa"]);
    site.add_user("alice", &["staff"]);
    let (key, _) = enrol_app_on_web(&site, &daemon, "alice");
    let rp = RelyingParty::register(&site, &daemon, "app", &[]);
    let browser = Browser::new(&daemon);
    let request = rp.request(&[]);
    let waiting = email_me_a_code(&browser, &browser.visit(&request.url), "alice");
    assert!(page_body(&waiting).contains("Check your email"));
    let second = browser.answer(&waiting, &[("code", &wait_for_code(&site))]);
    let body = page_body(&second);
    assert!(
        body.contains("authenticator app"),
        "the app's code comes next: {body}"
    );
    let totp = totp_code(&key, daemon_clock(&site) + 30);
    let back = away(browser.answer(&second, &[("code", &totp)]));
    let tokens = rp
        .exchange(&query(&back, "code").expect("a code"), request)
        .expect("tokens");
    let claims = id_token_claims(&tokens);
    let amr: Vec<&str> = claims["amr"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        amr.contains(&"email") && amr.contains(&"mfa") && !amr.contains(&"pwd"),
        "{claims}"
    );
}

#[test]
fn an_email_only_user_is_asked_for_the_password_too() {
    let (site, daemon) = site_offering_codes();
    site.add_user("alice", &[]);
    site.ok(&["mfa", "set-method", "alice", "email"]);
    let browser = Browser::new(&daemon);
    let login = browser.visit(&format!("{}/login", browser.issuer));
    let waiting = email_me_a_code(&browser, &login, "alice");
    let after = browser.answer(&waiting, &[("code", &wait_for_code(&site))]);
    let body = page_body(&after);
    assert!(
        body.contains("cannot be both steps") && body.contains("name=\"password\""),
        "the code alone signs no one in: {body}"
    );
    assert!(
        !page_body(&browser.visit(&format!("{}/account", browser.issuer))).contains("Your account"),
        "not signed in yet"
    );
    let wrong = browser.answer(&after, &[("password", "not the password")]);
    assert_eq!(page_status(&wrong), 401);
    let done = browser.answer(&wrong, &[("password", PASSWORD)]);
    assert!(
        page_body(&done).contains("Your account"),
        "{}",
        page_body(&done)
    );
}

#[test]
fn unknown_and_known_accounts_get_the_same_page_and_the_option_is_off_by_default() {
    let (site, daemon) = site_offering_codes();
    site.add_user("alice", &[]);
    let shown = |username: &str| {
        let browser = Browser::new(&daemon);
        let login = browser.visit(&format!("{}/login", browser.issuer));
        let page = email_me_a_code(&browser, &login, username);
        let body = page_body(&page);
        let (csrf, flow) = (hidden(&body, "csrf"), hidden(&body, "flow"));
        (
            page_status(&page),
            body.replace(&csrf, "")
                .replace(&flow, "")
                .replace(username, ""),
        )
    };
    assert_eq!(shown("alice"), shown("nobody"));
    let wrong = {
        let browser = Browser::new(&daemon);
        let login = browser.visit(&format!("{}/login", browser.issuer));
        let waiting = email_me_a_code(&browser, &login, "nobody");
        page_body(&browser.answer(&waiting, &[("code", "123456")]))
    };
    assert!(wrong.contains("That code is not right"), "{wrong}");

    site.ok(&["site", "set", "sign_in.email_code", "false"]);
    let browser = Browser::new(&daemon);
    let login = browser.visit(&format!("{}/login", browser.issuer));
    assert!(!page_body(&login).contains("Email me a code"));
    let refused = browser.answer(&login, &[("username", "alice"), ("email_code", "1")]);
    assert_eq!(page_status(&refused), 400, "{}", page_body(&refused));
}

#[test]
fn pamtester_signs_in_with_an_emailed_code_for_an_empty_password() {
    if !available() || !std::path::Path::new("/usr/bin/expect").exists() {
        assert!(std::env::var_os("CI").is_none(), "CI needs expect");
        return;
    }
    let (site, _daemon) = site_offering_codes();
    site.add_user("alice", &[]);
    let service = PamService::new(&site, &site.pam_socket(), "mode=full");
    let outbox = site.dir.path().join("outbox");
    let script = format!(
        r#"set timeout 20
spawn bwrap --bind / / --bind {pam} /etc/pam.d --dev /dev pamtester -v postern-test alice authenticate
expect "Password (or press Enter to get a code by email):" {{ send "\r" }} timeout {{ exit 2 }}
expect "one was emailed to you" {{}} timeout {{ exit 3 }}
expect "Emailed code:" {{}} timeout {{ exit 4 }}
sleep 1
set code [exec sh -c {{grep -hoE '^ +[0-9]{{6}}' {outbox}/*.eml | tr -d ' \r' | tail -n 1}}]
send "$code\r"
expect {{
  "successfully authenticated" {{ exit 0 }}
  timeout {{ exit 5 }}
  eof {{ exit 1 }}
}}
"#,
        pam = service.dir.path().display(),
        outbox = outbox.display(),
    );
    let out = Command::new("expect")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let trail = site.ok(&["audit", "--user", "alice"]);
    assert!(trail.contains("signed_in"), "{trail}");
}
