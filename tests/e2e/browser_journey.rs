//! One journey in a real browser (headless Chromium through chromedriver): sign in, enrol an
//! authenticator app from the account page reading the key off the page, sign out, and sign in
//! again with a fresh code. Screenshots of each page go to target/test-artifacts/browser/.

use crate::browser::{PASSWORD, totp_code};
use crate::fixture::{Site, advance_clock, daemon_clock};
use crate::webdriver::Chromium;

#[test]
fn a_person_enrols_an_app_and_signs_in_again_in_chromium() {
    let chromium = match Chromium::start() {
        Ok(chromium) => chromium,
        // CI installs Chromium (tests/run); elsewhere a missing browser is reported, not hidden.
        Err(reason) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: {reason}");
            return;
        }
        Err(reason) => panic!("{reason}"),
    };
    let site = Site::new();
    let daemon = site.start();
    site.add_user("alice", &[]);
    let issuer = format!("http://{}", daemon.http);
    let shots =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts/browser");

    chromium.open(&format!("{issuer}/login"));
    chromium.screenshot(&shots, "1-sign-in");
    chromium.type_into("#username", "alice");
    chromium.type_into("#password", PASSWORD);
    chromium.click("button[type=submit]");
    chromium.wait_for("Your account");
    chromium.screenshot(&shots, "2-account");

    chromium.click("form input[value=enrol_totp] ~ button");
    let key = chromium.text("#manual-key");
    chromium.screenshot(&shots, "3-enrol-app");
    chromium.type_into("#code", &totp_code(&key, daemon_clock(&site)));
    chromium.click("form input[value=confirm_totp] ~ button");
    chromium.wait_for("Two-step verification is on");
    assert_eq!(chromium.text("#recovery-codes").lines().count(), 10);
    chromium.screenshot(&shots, "4-recovery-codes");

    chromium.click("form[action='/logout'] button");
    chromium.wait_for("You are signed out");
    chromium.screenshot(&shots, "5-signed-out");

    advance_clock(&site, 30);
    chromium.open(&format!("{issuer}/login"));
    chromium.type_into("#username", "alice");
    chromium.type_into("#password", PASSWORD);
    chromium.click("button[type=submit]");
    chromium.wait_for("Two-step verification");
    chromium.screenshot(&shots, "6-code");
    chromium.type_into("#code", &totp_code(&key, daemon_clock(&site)));
    chromium.click("button[type=submit]");
    chromium.wait_for("On, with an authenticator app");
    chromium.screenshot(&shots, "7-signed-in-again");
}
