//! Security notices: each change to how a user signs in mails them once, saying what, when,
//! from where, and what to do if it was not them.

use crate::browser::*;
use crate::fixture::Site;

/// Every outbox message whose subject is `subject`.
fn messages(site: &Site, subject: &str) -> Vec<String> {
    std::fs::read_dir(site.dir.path().join("outbox"))
        .map(|dir| {
            dir.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                .filter(|text| text.lines().any(|l| l == format!("Subject: {subject}")))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn each_change_to_how_a_user_signs_in_is_mailed_to_them_once() {
    let site = Site::new();
    let daemon = site.start();
    site.ok(&["role", "add", "staff", "--require-mfa"]);
    site.add_user("alice", &["staff"]);
    assert!(messages(&site, "Your password was changed").is_empty());

    enrol_app_on_web(&site, &daemon, "alice");
    let set_up = messages(&site, "Two-step verification was set up");
    assert_eq!(set_up.len(), 1, "{set_up:?}");
    assert!(
        set_up[0].contains("on the web, from web 127.0.0.1"),
        "{}",
        set_up[0]
    );
    assert!(set_up[0].contains("If it was not you"), "{}", set_up[0]);

    site.ok_with_stdin(
        &["user", "set-password", "alice", "--password-stdin"],
        "another long password\n",
    );
    let changed = messages(&site, "Your password was changed");
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].contains("by an administrator"), "{}", changed[0]);
    assert!(
        changed[0].contains("To: alice@example.com"),
        "{}",
        changed[0]
    );

    site.ok(&["mfa", "reset", "alice"]);
    assert_eq!(
        messages(&site, "Your two-step verification was reset").len(),
        1
    );

    let log = site.ok(&["mail", "log"]);
    for subject in [
        "Two-step verification was set up",
        "Your password was changed",
        "Your two-step verification was reset",
    ] {
        assert!(log.contains(subject), "{subject}: {log}");
    }
    // Nothing about a sign-in that changed nothing.
    assert!(messages(&site, "A passkey was added").is_empty());
}

#[test]
fn a_sign_in_from_a_browser_not_seen_before_is_mailed_once() {
    const SUBJECT: &str = "New sign-in to your account";
    let site = Site::new();
    let daemon = site.start();
    site.add_user("alice", &[]);
    // Signs out (if signed in) and in again: the browser keeps its other cookies.
    let sign_in = |browser: &Browser| {
        let logout = page_body(&browser.visit(&format!("{}/logout", browser.issuer)));
        if logout.contains("name=\"csrf\"") {
            browser.submit("/logout", &[("csrf", &hidden(&logout, "csrf"))]);
        }
        let landing = browser.sign_in(
            browser.visit(&format!("{}/login", browser.issuer)),
            "alice",
            PASSWORD,
        );
        assert!(page_body(&landing).contains("Your account"));
    };
    let usual = Browser::new(&daemon);
    sign_in(&usual);
    assert!(
        messages(&site, SUBJECT).is_empty(),
        "the first browser an account ever uses has nothing to be compared with"
    );
    sign_in(&usual);
    assert!(messages(&site, SUBJECT).is_empty(), "a known browser");

    let other = Browser::new(&daemon);
    sign_in(&other);
    let sent = messages(&site, SUBJECT);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let words = sent[0].split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("from a browser it had not been used with before")
            && words.contains("from web 127.0.0.1")
            && words.contains("If it was not you"),
        "{}",
        sent[0]
    );
    sign_in(&other);
    sign_in(&usual);
    assert_eq!(messages(&site, SUBJECT).len(), 1, "both are known now");
    assert!(site.ok(&["mail", "log"]).contains(SUBJECT));

    site.ok(&["site", "set", "notices.new_browser", "false"]);
    sign_in(&Browser::new(&daemon));
    assert_eq!(messages(&site, SUBJECT).len(), 1, "the site turned it off");
}
