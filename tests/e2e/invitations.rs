//! Invitations, end to end: `postern user invite` mails a link and a code to the outbox; a
//! scanner opening the link changes nothing; the user sets a password on the welcome page,
//! enrols the app their role requires, and signs in to an application through OIDC.

use crate::browser::*;
use crate::fixture::{Daemon, Site, advance_clock, daemon_clock};

const CHOSEN: &str = "my own long password";

/// The newest message in the outbox.
fn last_mail(site: &Site) -> String {
    let mut files: Vec<_> = std::fs::read_dir(site.dir.path().join("outbox"))
        .expect("outbox")
        .map(|e| e.unwrap())
        .collect();
    files.sort_by_key(|f| f.metadata().unwrap().modified().unwrap());
    // The newest invitation: security notices land in the outbox too.
    files
        .iter()
        .rev()
        .map(|f| std::fs::read_to_string(f.path()).unwrap())
        .find(|text| text.contains("Subject: You are invited to Postern"))
        .expect("an invitation")
}

fn invitation_code(mail: &str) -> String {
    mail.lines()
        .find_map(|l| l.trim().strip_prefix("code:"))
        .expect("a code in the invitation")
        .trim()
        .to_owned()
}

/// Submits the welcome form; returns where it landed.
fn welcome(browser: &Browser, username: &str, code: &str, password: &str) -> Landing {
    let page = browser.visit(&format!("{}/welcome", browser.issuer));
    let csrf = hidden(&page_body(&page), "csrf");
    browser.submit(
        "/welcome",
        &[
            ("csrf", &csrf),
            ("username", username),
            ("code", code),
            ("password", password),
            ("repeat", password),
        ],
    )
}

fn staff_site() -> (Site, Daemon) {
    let site = Site::new();
    let daemon = site.start();
    site.ok(&["role", "add", "staff", "--require-mfa"]);
    (site, daemon)
}

#[test]
fn an_invited_user_sets_a_password_enrols_and_signs_in() {
    let (site, daemon) = staff_site();
    let said = site.ok(&[
        "user",
        "invite",
        "ines",
        "--email",
        "ines@example.com",
        "--name",
        "Ines",
        "--role",
        "staff",
    ]);
    assert!(said.contains("invitation mailed to"), "{said}");
    assert!(site.ok(&["user", "list"]).contains("invited"));
    let mail = last_mail(&site);
    let browser = Browser::new(&daemon);
    assert!(
        mail.contains(&format!("{}/welcome", browser.issuer)),
        "{mail}"
    );
    let first_code = invitation_code(&mail);

    // A mail scanner opens the link, with and without every query it can think of.
    for url in ["/welcome", "/welcome?user=ines&code=X&password=Y&repeat=Y"] {
        let page = browser.visit(&format!("{}{url}", browser.issuer));
        assert_eq!(page_status(&page), 200);
    }
    // No password signs in meanwhile.
    let login = browser.visit(&format!("{}/login", browser.issuer));
    let refused = browser.sign_in(login, "ines", "any password at all");
    assert_eq!(page_status(&refused), 401, "{}", page_body(&refused));

    // Sent again: the first code stops working.
    let said = site.ok(&["user", "invite", "ines", "--resend"]);
    assert!(said.contains("invitation mailed to"), "{said}");
    let code = invitation_code(&last_mail(&site));
    let stale = welcome(&browser, "ines", &first_code, CHOSEN);
    assert!(
        page_body(&stale).contains("do not match an open invitation"),
        "{}",
        page_body(&stale)
    );

    // A password the site refuses spends nothing.
    let short = welcome(&browser, "ines", &code, "short");
    assert_eq!(page_status(&short), 400);

    // Accepted: the role requires MFA, so she enrols the app before she is signed in.
    let enrol = welcome(&browser, "ines", &code, CHOSEN);
    let body = page_body(&enrol);
    assert!(body.contains("authenticator app"), "{body}");
    let key = manual_key(&body);
    let codes = submit_code(&browser, &enrol, &totp_code(&key, daemon_clock(&site)));
    assert!(page_body(&codes).contains("recovery-codes"));
    let signed_in = browser.answer(&codes, &[]);
    assert!(
        page_body(&signed_in).contains("Signed in as <strong>ines</strong>"),
        "{}",
        page_body(&signed_in)
    );
    let shown: serde_json::Value =
        serde_json::from_str(&site.ok(&["--json", "user", "show", "ines"])).unwrap();
    assert!(shown["invited_at"].is_null(), "{shown}");
    assert_eq!(
        shown["email_verified"], true,
        "typing the mailed code proved it"
    );

    // The code is spent.
    let other = Browser::new(&daemon);
    let reused = welcome(&other, "ines", &code, CHOSEN);
    assert!(page_body(&reused).contains("do not match an open invitation"));

    // And she signs in to an application with her password and app.
    advance_clock(&site, 30);
    let rp = RelyingParty::register(&site, &daemon, "wiki", &[]);
    let request = rp.request(&[]);
    let fresh = Browser::new(&daemon);
    let second = fresh.sign_in(fresh.visit(&request.url), "ines", CHOSEN);
    let back = away(submit_code(
        &fresh,
        &second,
        &totp_code(&key, daemon_clock(&site)),
    ));
    let tokens = rp
        .exchange(&query(&back, "code").expect("a code"), request)
        .expect("tokens");
    assert_eq!(
        id_token_claims(&tokens)["amr"],
        serde_json::json!(["pwd", "otp", "mfa"])
    );
    let audit = site.ok(&["audit", "--user", "ines"]);
    for action in ["user_invited", "invitation_refused", "invitation_accepted"] {
        assert!(audit.contains(action), "{action}: {audit}");
    }
}

#[test]
fn an_expired_or_withdrawn_invitation_is_refused() {
    let (site, daemon) = staff_site();
    site.ok(&["user", "invite", "ivo", "--email", "ivo@example.com"]);
    let code = invitation_code(&last_mail(&site));
    advance_clock(&site, 72 * 3600 + 1);
    let browser = Browser::new(&daemon);
    let late = welcome(&browser, "ivo", &code, CHOSEN);
    assert!(page_body(&late).contains("do not match an open invitation"));

    site.ok(&["user", "invite", "ula", "--email", "ula@example.com"]);
    let code = invitation_code(&last_mail(&site));
    let said = site.ok(&["user", "invite", "ula", "--revoke"]);
    assert!(said.contains("withdrawn"), "{said}");
    assert!(!site.cli(&["user", "show", "ula"]).status.success());
    let gone = welcome(&browser, "ula", &code, CHOSEN);
    assert!(page_body(&gone).contains("do not match an open invitation"));

    // Resending to a user who already has a password is refused.
    site.add_user("ana", &[]);
    let refused = site.cli(&["user", "invite", "ana", "--resend"]);
    assert!(!refused.status.success());
}
