//! Consent for third-party clients: the user sees the application and what it asks for,
//! allows or denies it; the grant is remembered per client and scope set, listed on the account
//! page and revocable there, which also ends the client's refresh tokens.

use crate::browser::*;
use crate::fixture::Site;

#[test]
fn a_third_party_client_asks_once_per_scope_set_and_a_revoked_grant_ends_its_tokens() {
    let site = Site::new();
    let daemon = site.start();
    site.add_user("alice", &[]);
    let own = RelyingParty::register(&site, &daemon, "intranet", &[]);
    let third = RelyingParty::register(&site, &daemon, "gallery", &["--consent"]);
    assert!(
        site.ok(&["client", "show", "gallery"])
            .contains("asked of each user")
    );
    let browser = Browser::new(&daemon);

    // A first-party client asks nothing.
    sign_in_and_get_code(&browser, &own, "alice");

    // The third-party one shows what it asks for; denied, it hears access_denied.
    let page = browser.visit(&third.request(&[]).url);
    let body = page_body(&page);
    assert!(
        body.contains("Allow gallery?")
            && body.contains("Your email address")
            && body.contains("Stay signed in to it while you are away"),
        "{body}"
    );
    let back = away(browser.answer(&page, &[("consent", "deny")]));
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));

    // Allowed, it gets its code; next time it is not asked again.
    let request = third.request(&[]);
    let page = browser.visit(&request.url);
    let back = away(browser.answer(&page, &[("consent", "allow")]));
    let tokens = third
        .exchange(&query(&back, "code").unwrap(), request)
        .unwrap();
    let again = away(browser.visit(&third.request(&[]).url));
    assert!(query(&again, "code").is_some(), "the grant is remembered");
    // prompt=consent asks anyway.
    let forced = browser.visit(&third.request(&[("prompt", "consent")]).url);
    assert!(page_body(&forced).contains("Allow gallery?"));
    assert!(
        site.ok(&["audit", "--user", "alice"])
            .contains("consent_granted")
    );

    // The account page lists it; revoking it ends the client's refresh token too.
    let account = page_body(&browser.visit(&format!("{}/account", browser.issuer)));
    assert!(account.contains("Applications you allowed") && account.contains("gallery"));
    let revoked = page_body(&browser.submit(
        "/account",
        &[
            ("csrf", &hidden(&account, "csrf")),
            ("action", "revoke_consent"),
            ("client", &third.client_id),
        ],
    ));
    assert!(
        revoked.contains("no longer has your permission"),
        "{revoked}"
    );
    let (status, body) = third.post(
        &format!("{}/token", browser.issuer),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token(&tokens)),
        ],
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let asked = browser.visit(&third.request(&[]).url);
    assert!(page_body(&asked).contains("Allow gallery?"), "asked again");
    assert!(
        site.ok(&["audit", "--user", "alice"])
            .contains("consent_revoked")
    );
}

#[test]
fn prompt_none_without_a_grant_is_consent_required() {
    let site = Site::new();
    let daemon = site.start();
    site.add_user("bob", &[]);
    let own = RelyingParty::register(&site, &daemon, "intranet", &[]);
    let third = RelyingParty::register(&site, &daemon, "gallery", &["--consent"]);
    let browser = Browser::new(&daemon);
    sign_in_and_get_code(&browser, &own, "bob");
    let back = away(browser.visit(&third.request(&[("prompt", "none")]).url));
    assert_eq!(query(&back, "error").as_deref(), Some("consent_required"));
    // A client can be made third-party later; its users are then asked.
    site.ok(&["client", "set", "intranet", "--consent", "true"]);
    let page = browser.visit(&own.request(&[]).url);
    assert!(page_body(&page).contains("Allow intranet?"));
}
