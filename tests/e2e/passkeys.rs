//! Passkeys in a real browser: headless Chromium with a virtual authenticator (the WebDriver
//! WebAuthn extension) adds a passkey on the account page, then signs in with password and
//! passkey, through Postern's own pages and through an application's OIDC request. The
//! issuer is `http://localhost:PORT`: WebAuthn needs a host name, and `localhost` is a secure
//! origin without TLS. Screenshots go to target/test-artifacts/passkeys/.

use crate::browser::{PASSWORD, RelyingParty, id_token_claims, query};
use crate::fixture::{Daemon, Site};
use crate::webdriver::Chromium;

pub(crate) fn chromium() -> Option<Chromium> {
    match Chromium::start() {
        Ok(chromium) => Some(chromium),
        // CI installs Chromium (tests/run); elsewhere a missing browser is reported, not hidden.
        Err(reason) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: {reason}");
            None
        }
        Err(reason) => panic!("{reason}"),
    }
}

/// A site whose issuer is `http://localhost:PORT`, started.
pub(crate) fn localhost_site() -> (Site, Daemon, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let issuer = format!("http://localhost:{port}");
    let site = Site::with_sections(
        &format!("issuer = \"{issuer}\""),
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    let daemon = site.start();
    (site, daemon, issuer)
}

fn metrics_text(site: &Site) -> String {
    let status: serde_json::Value = serde_json::from_str(&site.ok(&["--json", "status"])).unwrap();
    let addr = status["metrics_listen"].as_str().expect("metrics are on");
    reqwest::blocking::get(format!("http://{addr}/metrics"))
        .and_then(reqwest::blocking::Response::text)
        .expect("metrics")
}

pub(crate) fn sign_in_with_password(chromium: &Chromium, username: &str) {
    chromium.type_into("#username", username);
    chromium.type_into("#password", PASSWORD);
    chromium.click("button[type=submit]");
}

#[test]
fn a_passkey_added_on_the_account_page_signs_in_through_the_browser() {
    let Some(chromium) = chromium() else {
        return;
    };
    let (site, _daemon, issuer) = localhost_site();
    site.add_user("alice", &[]);
    let authenticator = chromium.add_virtual_authenticator();
    let shots =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts/passkeys");

    chromium.open(&format!("{issuer}/login"));
    sign_in_with_password(&chromium, "alice");
    chromium.wait_for("Passkeys and security keys");
    chromium.screenshot(&shots, "1-account-without-passkeys");

    chromium.type_into("#passkey_name", "laptop");
    chromium.click("#add-passkey button");
    chromium.wait_for("Passkey “laptop” added.");
    assert_eq!(
        chromium.text("#recovery-codes").lines().count(),
        10,
        "a first second factor comes with recovery codes"
    );
    assert!(chromium.text("#mfa-status").contains("On, with passkeys"));
    assert!(chromium.text("#passkeys").contains("laptop"));
    let credentials = chromium.authenticator_credentials(&authenticator);
    assert_eq!(credentials.len(), 1, "{credentials:?}");
    assert_eq!(
        credentials[0]["isResidentCredential"], true,
        "the passkey is discoverable"
    );
    chromium.screenshot(&shots, "2-passkey-added");

    let shown = site.ok(&["audit", "--since", "1h"]);
    assert!(shown.contains("passkey_added"), "{shown}");

    chromium.click("form[action='/logout'] button");
    chromium.wait_for("You are signed out");

    // An application asks; the password is not enough; the passkey finishes the sign-in.
    let rp = RelyingParty::register_at(&site, &issuer, "wiki", &[]);
    let request = rp.request(&[]);
    chromium.open(&request.url);
    sign_in_with_password(&chromium, "alice");
    chromium.wait_for("Confirm with your passkey");
    chromium.screenshot(&shots, "3-second-step-passkey");
    chromium.click("#use-passkey");
    let back = wait_for_redirect(&chromium, &rp.redirect_uri);
    let code = query(&back, "code").expect("a code");
    let tokens = rp.exchange(&code, request).expect("tokens");
    let claims = id_token_claims(&tokens);
    assert_eq!(
        claims["amr"],
        serde_json::json!(["pwd", "mfa", "hwk", "user"])
    );
    assert_eq!(
        claims["acr"], "postern:phr",
        "a passkey is phishing-resistant"
    );

    let shown = site.ok(&["audit", "--since", "1h"]);
    assert!(shown.contains("second_factor_accepted"), "{shown}");
    let metrics = metrics_text(&site);
    assert!(
        metrics.contains(r#"postern_passkey_changes_total{change="added"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"factor="password+passkey""#),
        "{metrics}"
    );

    // The administrator sees the passkey, counts it, and removes it (a lost key).
    let shown = site.ok(&["user", "show", "alice"]);
    assert!(shown.contains("laptop (id "), "{shown}");
    let report = site.ok(&["mfa", "report", "--csv"]);
    assert!(report.contains("passkeys"), "{report}");
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("alice,") && l.contains(",1,")),
        "{report}"
    );
    let user: serde_json::Value =
        serde_json::from_str(&site.ok(&["--json", "user", "show", "alice"])).unwrap();
    // Chromium's virtual authenticator names its model; Postern keeps it.
    assert!(user["mfa"]["passkeys"][0]["aaguid"].is_string(), "{user}");
    let id = user["mfa"]["passkeys"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{user}"))
        .to_owned();
    let refused = site.cli(&["user", "remove-passkey", "alice", "no-such-passkey"]);
    assert!(!refused.status.success());
    site.ok(&["user", "remove-passkey", "alice", &id]);
    let shown = site.ok(&["user", "show", "alice"]);
    assert!(!shown.contains("laptop"), "{shown}");
    let audit = site.ok(&["audit", "--since", "1h"]);
    assert!(audit.contains("passkey_removed"), "{audit}");
    let metrics = metrics_text(&site);
    assert!(
        metrics.contains(r#"postern_passkey_changes_total{change="removed"} 1"#),
        "{metrics}"
    );
}

#[test]
fn the_second_step_falls_back_to_a_code_and_refuses_a_stale_passkey_answer() {
    let Some(chromium) = chromium() else {
        return;
    };
    let (site, _daemon, issuer) = localhost_site();
    site.add_user("bob", &[]);
    chromium.add_virtual_authenticator();
    chromium.open(&format!("{issuer}/login"));
    sign_in_with_password(&chromium, "bob");
    chromium.type_into("#passkey_name", "phone");
    chromium.click("#add-passkey button");
    chromium.wait_for("Passkey “phone” added.");
    let recovery_code = chromium
        .text("#recovery-codes")
        .lines()
        .next()
        .unwrap()
        .to_owned();
    chromium.click("form[action='/logout'] button");
    chromium.wait_for("You are signed out");

    // The challenge on the page expires (five minutes) before the passkey answers.
    chromium.open(&format!("{issuer}/login"));
    sign_in_with_password(&chromium, "bob");
    chromium.wait_for("Confirm with your passkey");
    crate::fixture::advance_clock(&site, 6 * 60);
    chromium.click("#use-passkey");
    chromium.wait_for("The passkey was not accepted");

    // Another way: a recovery code, from the collapsed part of the same page.
    chromium.click("#other-ways summary");
    chromium.type_into("#code", &recovery_code);
    chromium.click("#other-ways form button[type=submit]");
    chromium.wait_for("Your account");
}

#[test]
fn an_issuer_on_an_ip_address_has_no_passkeys_and_the_daemon_says_why() {
    use crate::browser::{Browser, page_body};
    let site = Site::new();
    let daemon = site.start();
    site.add_user("carol", &[]);
    let browser = Browser::new(&daemon);
    let landing = browser.sign_in(
        browser.visit(&format!("{}/login", browser.issuer)),
        "carol",
        PASSWORD,
    );
    let body = page_body(&landing);
    assert!(body.contains("Your account"), "{body}");
    assert!(!body.contains("Passkeys and security keys"), "{body}");
    assert!(!body.contains("passkey.js"), "{body}");
    let log = daemon.log_text();
    assert!(
        log.contains("passkeys are off") && log.contains("not an IP address"),
        "{log}"
    );
}

#[test]
fn a_passkey_alone_signs_in_until_the_site_turns_that_off() {
    let Some(chromium) = chromium() else {
        return;
    };
    let (site, _daemon, issuer) = localhost_site();
    site.add_user("dana", &[]);
    chromium.add_virtual_authenticator();
    let shots =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts/passkeys");
    chromium.open(&format!("{issuer}/login"));
    sign_in_with_password(&chromium, "dana");
    chromium.type_into("#passkey_name", "phone");
    chromium.click("#add-passkey button");
    chromium.wait_for("Passkey “phone” added.");
    chromium.click("form[action='/logout'] button");
    chromium.wait_for("You are signed out");

    chromium.open(&format!("{issuer}/login"));
    chromium.wait_for("Sign in with a passkey");
    chromium.screenshot(&shots, "4-sign-in-with-a-passkey");
    chromium.click("#use-passkey");
    chromium.wait_for("Signed in as dana");
    chromium.screenshot(&shots, "5-signed-in-by-passkey-alone");
    let audit = site.ok(&["audit", "--since", "1h"]);
    assert!(audit.contains("amr hwk,user,mfa"), "{audit}");

    chromium.click("form[action='/logout'] button");
    chromium.wait_for("You are signed out");
    site.ok(&["site", "set", "webauthn.passwordless", "false"]);
    chromium.open(&format!("{issuer}/login"));
    let page = chromium.wait_for("Username");
    assert!(!page.contains("Sign in with a passkey"), "{page}");
}

#[test]
fn a_role_requiring_passkeys_reaches_a_live_session_and_codes_stop_counting() {
    let Some(chromium) = chromium() else {
        return;
    };
    let (site, daemon, issuer) = localhost_site();
    site.ok(&["role", "add", "staff", "--require-mfa"]);
    site.ok(&["role", "add", "keyholders", "--require-phishing-resistant"]);
    let roles = site.ok(&["role", "list"]);
    assert!(roles.contains("REQUIRE PASSKEY"), "{roles}");
    // Erin signs in with an authenticator app, and only that.
    site.add_user("erin", &["staff"]);
    let (key, recovery_codes) = crate::browser::enrol_app_on_web(&site, &daemon, "erin");
    crate::fixture::advance_clock(&site, 30);
    chromium.add_virtual_authenticator();
    let shots =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts/passkeys");

    // She is signed in with password and app code when the administrator gives her the role.
    chromium.open(&format!("{issuer}/login"));
    sign_in_with_password(&chromium, "erin");
    chromium.wait_for("authenticator app");
    let code = crate::browser::totp_code(&key, crate::fixture::daemon_clock(&site));
    chromium.type_into("#code", &code);
    chromium.click("button[type=submit]");
    chromium.wait_for("Your account");
    site.ok(&["user", "add-role", "erin", "keyholders"]);

    // Her next page asks for a passkey she does not have yet: she adds one (she has recovery
    // codes already, so none are shown), then signs in with it.
    chromium.open(&format!("{issuer}/account"));
    chromium.wait_for("Your account needs a passkey");
    chromium.screenshot(&shots, "6-a-role-makes-the-user-add-a-passkey");
    chromium.type_into("#passkey_name", "laptop");
    chromium.click("#add-passkey button");
    let page = chromium.wait_for("Confirm with your passkey");
    assert!(page.contains("codes cannot be used"), "{page}");
    assert!(!page.contains("Use another way"), "{page}");
    chromium.screenshot(&shots, "7-only-the-passkey-will-do");

    // A recovery code sent anyway (the page offers no field for one) is refused, and so is an
    // app code.
    for code in [
        recovery_codes[0].clone(),
        crate::browser::totp_code(&key, crate::fixture::daemon_clock(&site)),
    ] {
        chromium.execute(&format!(
            "const form = document.createElement('form');
             form.method = 'post'; form.action = '/login';
             for (const [name, value] of [
                 ['csrf', document.querySelector('input[name=csrf]').value],
                 ['flow', document.querySelector('input[name=flow]').value],
                 ['code', '{code}']]) {{
                 const input = document.createElement('input');
                 input.type = 'hidden'; input.name = name; input.value = value;
                 form.appendChild(input);
             }}
             document.body.appendChild(form); form.submit();"
        ));
        chromium.wait_for("Signing in here requires your passkey; codes cannot be used.");
    }
    chromium.click("#use-passkey");
    chromium.wait_for("Signed in as erin");
    let user: serde_json::Value =
        serde_json::from_str(&site.ok(&["--json", "user", "show", "erin"])).unwrap();
    assert_eq!(
        user["mfa"]["recovery_codes_left"], 10,
        "the refused code was not spent: {user}"
    );

    // An application gets a phishing-resistant sign-in: password, then the passkey only.
    chromium.click("form[action='/logout'] button");
    chromium.wait_for("You are signed out");
    let rp = RelyingParty::register_at(&site, &issuer, "wiki", &[]);
    let request = rp.request(&[]);
    chromium.open(&request.url);
    sign_in_with_password(&chromium, "erin");
    chromium.wait_for("codes cannot be used");
    chromium.click("#use-passkey");
    let back = wait_for_redirect(&chromium, &rp.redirect_uri);
    let code = query(&back, "code").expect("a code");
    let claims = id_token_claims(&rp.exchange(&code, request).expect("tokens"));
    assert_eq!(claims["acr"], "postern:phr");
    assert_eq!(
        claims["amr"],
        serde_json::json!(["pwd", "mfa", "hwk", "user"])
    );
}

/// Waits (up to 15 s) until the browser is sent to `redirect_uri`; returns where it landed.
pub(crate) fn wait_for_redirect(chromium: &Chromium, redirect_uri: &str) -> url::Url {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let url = chromium.url();
        if url.starts_with(redirect_uri) {
            return url::Url::parse(&url).unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never sent back to the application; at {url}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn forced_enrolment_offers_a_passkey_instead_of_an_app() {
    let Some(chromium) = chromium() else {
        return;
    };
    let (site, _daemon, issuer) = localhost_site();
    site.ok(&["role", "add", "staff", "--require-mfa"]);
    site.add_user("fay", &["staff"]);
    chromium.add_virtual_authenticator();
    let rp = RelyingParty::register_at(&site, &issuer, "wiki", &[]);
    let request = rp.request(&[]);
    chromium.open(&request.url);
    sign_in_with_password(&chromium, "fay");
    chromium.wait_for("Use a passkey or security key instead");
    chromium.click("#choose-passkey");
    chromium.wait_for("Add a passkey");
    chromium.type_into("#passkey_name", "phone");
    chromium.click("#add-passkey button");
    chromium.wait_for("Save your recovery codes");
    assert_eq!(chromium.text("#recovery-codes").lines().count(), 10);
    chromium.click("button[type=submit]");
    // Enrolled: the sign-in goes on with the new passkey, which any code could also replace.
    let page = chromium.wait_for("Confirm with your passkey");
    assert!(page.contains("Use another way"), "{page}");
    chromium.click("#use-passkey");
    let back = wait_for_redirect(&chromium, &rp.redirect_uri);
    let code = query(&back, "code").expect("a code");
    let claims = id_token_claims(&rp.exchange(&code, request).expect("tokens"));
    assert_eq!(claims["acr"], "postern:phr");
    let audit = site.ok(&["audit", "--user", "fay"]);
    assert!(audit.contains("passkey_added"), "{audit}");
}
