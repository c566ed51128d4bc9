//! Two daemons on one PostgreSQL database, each on its own port and sockets, as behind a load
//! balancer: whatever one daemon acknowledges, the other sees at once, and single-use rules
//! hold across them. These run on the PostgreSQL run of the suite (`E2E_STORE=postgres`).

use crate::browser::*;
use crate::fixture::{Daemon, Site, daemon_clock};
use postern_proto::Secret;
use postern_proto::client::Connection;
use postern_proto::pam::{PamContext, PamMode, PamOutcome, PamReply, PamRequest};
use std::time::{Duration, Instant};

/// Site A (which owns the PostgreSQL server) with `alice` in a role that requires MFA, and
/// site B beside it; both daemons running.
fn pair() -> (Site, Daemon, Site, Daemon) {
    let a = Site::new();
    let daemon_a = a.start();
    a.ok(&["role", "add", "staff", "--require-mfa"]);
    a.add_user("alice", &["staff"]);
    let b = Site::beside(&a);
    let daemon_b = b.start();
    (a, daemon_a, b, daemon_b)
}

/// A browser on `daemon` that carries `browser`'s cookies (cookies are per host, not port).
fn same_browser_on(browser: &Browser, daemon: &Daemon) -> Browser {
    Browser {
        http: browser.http.clone(),
        issuer: format!("http://{}", daemon.http),
    }
}

#[test]
fn a_sign_in_started_on_one_daemon_finishes_on_the_other_and_a_code_works_once_for_both() {
    if crate::postgres::skip_on_sled("two daemons share a PostgreSQL store") {
        return;
    }
    let (a, daemon_a, _b, daemon_b) = pair();
    let (key, _) = enrol_app_on_web(&a, &daemon_a, "alice");
    crate::fixture::advance_clock(&a, 30);
    let rp = RelyingParty::register(&a, &daemon_a, "app", &[]);

    // Password on A; the code on B, in the same browser.
    let on_a = Browser::new(&daemon_a);
    let request = rp.request(&[]);
    let code_page = on_a.sign_in(on_a.visit(&request.url), "alice", PASSWORD);
    assert_eq!(page_status(&code_page), 200, "{}", page_body(&code_page));
    let on_b = same_browser_on(&on_a, &daemon_b);
    let code = totp_code(&key, daemon_clock(&a));
    let back = away(on_b.answer(&code_page, &[("code", &code)]));
    // B issued the authorization code into the shared store; A exchanges it.
    let tokens = rp
        .exchange(&query(&back, "code").unwrap(), request)
        .unwrap();
    assert!(id_token_claims(&tokens)["amr"].to_string().contains("otp"));

    // The same app code, typed again at B, is spent.
    let fresh = Browser::new(&daemon_b);
    let page = fresh.sign_in(
        fresh.visit(&format!("{}/login", fresh.issuer)),
        "alice",
        PASSWORD,
    );
    let replay = fresh.answer(&page, &[("code", &code)]);
    assert_eq!(page_status(&replay), 401, "{}", page_body(&replay));
}

#[test]
fn wrong_passwords_spread_over_both_daemons_lock_at_the_same_count() {
    if crate::postgres::skip_on_sled("two daemons share a PostgreSQL store") {
        return;
    }
    let (a, daemon_a, _b, daemon_b) = pair();
    let tries = [&daemon_a, &daemon_b, &daemon_a, &daemon_b, &daemon_a];
    for daemon in tries {
        let browser = Browser::new(daemon);
        let landing = browser.sign_in(
            browser.visit(&format!("{}/login", browser.issuer)),
            "alice",
            "wrong password!",
        );
        assert_eq!(page_status(&landing), 401);
    }
    // Five failures in all (the default limit): the right password is refused on both.
    for daemon in [&daemon_a, &daemon_b] {
        let browser = Browser::new(daemon);
        let landing = browser.sign_in(
            browser.visit(&format!("{}/login", browser.issuer)),
            "alice",
            PASSWORD,
        );
        assert_eq!(page_status(&landing), 401, "{}", page_body(&landing));
    }
    assert!(
        a.ok(&["user", "show", "alice"])
            .contains("too many failed sign-ins")
    );
}

#[test]
fn a_refresh_token_rotated_on_one_daemon_and_replayed_on_the_other_revokes_the_family() {
    if crate::postgres::skip_on_sled("two daemons share a PostgreSQL store") {
        return;
    }
    let (a, daemon_a, b, daemon_b) = pair();
    a.add_user("bob", &[]);
    let rp = RelyingParty::register(&a, &daemon_a, "app", &[]);
    let browser = Browser::new(&daemon_a);
    let (code, request) = sign_in_and_get_code(&browser, &rp, "bob");
    let tokens = rp.exchange(&code, request).unwrap();
    let old = refresh_token(&tokens);
    fn grant(token: &str) -> [(&str, &str); 2] {
        [("grant_type", "refresh_token"), ("refresh_token", token)]
    }
    let token_a = format!("http://{}/token", daemon_a.http);
    let token_b = format!("http://{}/token", daemon_b.http);
    let (status, rotated) = rp.post(&token_a, &grant(&old));
    assert_eq!(status, 200, "{rotated}");
    // Access tokens are minted under the shared key file: one minted on A is good on B.
    let access = rotated["access_token"].as_str().unwrap();
    let issuer_b = format!("http://{}", daemon_b.http);
    assert_eq!(rp.userinfo(&issuer_b, access).0, 200);
    let (status, body) = rp.post(&token_b, &grant(&old));
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let newest = rotated["refresh_token"].as_str().unwrap();
    let (status, body) = rp.post(&token_a, &grant(newest));
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "the whole family is revoked: {body}"
    );
    assert_eq!(
        rp.userinfo(&issuer_b, access).0,
        401,
        "and its access tokens"
    );
    assert!(b.ok(&["audit"]).contains("refresh_token_reused"));
}

#[test]
fn keys_rotated_through_one_daemon_are_published_by_the_other() {
    if crate::postgres::skip_on_sled("two daemons share a PostgreSQL store") {
        return;
    }
    let (a, _daemon_a, _b, daemon_b) = pair();
    let jwks = || -> Vec<String> {
        let url = format!("http://{}/jwks", daemon_b.http);
        let body: serde_json::Value = reqwest::blocking::get(url).unwrap().json().unwrap();
        let mut kids: Vec<String> = body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        kids.sort();
        kids
    };
    let before = jwks();
    a.ok(&["keys", "rotate"]);
    // B reads the keys again every ten seconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let now = jwks();
        if now.len() > before.len() || Instant::now() > deadline {
            break now;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(
        after.len() == before.len() * 2 && before.iter().all(|kid| after.contains(kid)),
        "B publishes the new keys beside the retired ones: {before:?} -> {after:?}"
    );
}

#[test]
fn a_user_added_through_one_daemon_signs_in_on_the_other_at_once() {
    if crate::postgres::skip_on_sled("two daemons share a PostgreSQL store") {
        return;
    }
    let (a, _daemon_a, b, daemon_b) = pair();
    a.add_user("carol", &[]);
    let browser = Browser::new(&daemon_b);
    let landing = browser.sign_in(
        browser.visit(&format!("{}/login", browser.issuer)),
        "carol",
        PASSWORD,
    );
    let body = page_body(&landing);
    assert!(body.contains("carol"), "{body}");
    assert!(b.ok(&["user", "list"]).contains("carol"));
}

/// One PAM conversation at `site`'s socket with a password and nothing else; the verdict.
/// Whether `check` holds within two seconds: a change made through one daemon reaches the
/// other's memory by a notification, so "at once" is its trip, not a restart or a timer.
fn within_moments(check: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !check() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

#[test]
fn settings_clients_and_roles_changed_through_one_daemon_apply_on_the_other_at_once() {
    if crate::postgres::skip_on_sled("two daemons share a PostgreSQL store") {
        return;
    }
    let (a, daemon_a, b, daemon_b) = pair();
    let rp = RelyingParty::register(&a, &daemon_a, "app", &[]);
    let on_b = |url: &str| url.replace(&daemon_a.http.to_string(), &daemon_b.http.to_string());
    let browser = Browser::new(&daemon_b);
    let login = format!("{}/login", browser.issuer);
    let offers_reset = || page_body(&browser.visit(&login)).contains("forgot-password");
    let knows_app = || {
        let page = browser.visit(&on_b(&rp.request(&[]).url));
        !page_body(&page).contains("not registered with Postern")
    };
    // B reads both, and keeps them in memory from here on.
    assert!(offers_reset() && offers_reset());
    assert!(knows_app() && knows_app());

    a.ok(&["site", "set", "password_reset.enabled", "false"]);
    assert!(
        within_moments(|| !offers_reset()),
        "B stopped offering the reset"
    );
    a.ok(&["client", "delete", "app"]);
    assert!(
        within_moments(|| !knows_app()),
        "B forgot the deleted client"
    );
    a.ok(&["site", "set", "password_reset.enabled", "true"]);
    assert!(within_moments(offers_reset));

    // A role that comes to require MFA: B asks its holder to enrol at the next login.
    a.ok(&["role", "add", "contractors"]);
    a.add_user("carol", &["contractors"]);
    assert_eq!(pam_password(&b, "carol"), PamOutcome::Success);
    assert_eq!(pam_password(&b, "carol"), PamOutcome::Success);
    a.ok(&["role", "set", "contractors", "--require-mfa", "true"]);
    assert!(
        within_moments(|| pam_password(&b, "carol") == PamOutcome::MustEnrol),
        "B applied the role's new requirement"
    );
}

fn pam_password(site: &Site, user: &str) -> PamOutcome {
    try_pam_password(site, user).expect("a PAM conversation")
}

/// The same, or `None` when the connection fails (a daemon killed mid-conversation).
fn try_pam_password(site: &Site, user: &str) -> Option<PamOutcome> {
    let mut connection = Connection::connect(&site.pam_socket(), Duration::from_secs(10)).ok()?;
    connection
        .send(&PamRequest::Begin(PamContext {
            service: "sshd".into(),
            user: user.into(),
            remote_host: Some("192.0.2.7".into()),
            tty: Some("ssh".into()),
            mode: PamMode::Full,
        }))
        .ok()?;
    loop {
        match connection.receive::<PamReply>().ok()? {
            PamReply::Prompt { .. } => connection
                .send(&PamRequest::Answer {
                    text: Secret::new(PASSWORD),
                })
                .ok()?,
            PamReply::Info { .. } => {}
            PamReply::Verdict { outcome, .. } => return Some(outcome),
        }
    }
}

fn healthz(daemon: &Daemon) -> u16 {
    reqwest::blocking::get(format!("http://{}/healthz", daemon.http))
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[test]
fn while_the_database_is_down_the_daemons_say_so_and_recover_by_themselves() {
    if crate::postgres::skip_on_sled("it stops the PostgreSQL server") {
        return;
    }
    let (a, mut daemon_a, b, mut daemon_b) = pair();
    a.add_user("dave", &[]);
    assert_eq!(pam_password(&b, "dave"), PamOutcome::Success);
    let rp = RelyingParty::register(&a, &daemon_a, "app", &[]);
    let server = a.postgres.as_ref().unwrap();

    server.stop();
    let (status, body) = rp.post(
        &format!("http://{}/token", daemon_b.http),
        &[("grant_type", "refresh_token"), ("refresh_token", "any")],
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable")),
        "{body}"
    );
    for (site, daemon) in [(&a, &mut daemon_a), (&b, &mut daemon_b)] {
        assert_eq!(healthz(daemon), 503, "not ready without the database");
        assert_eq!(pam_password(site, "dave"), PamOutcome::Unavailable);
        let browser = Browser::new(daemon);
        let page = browser.visit(&format!("{}/login", browser.issuer));
        assert_eq!(page_status(&page), 503);
        assert!(page_body(&page).contains("Temporarily unavailable"));
        assert!(daemon.is_running(), "the daemon stays up");
    }

    server.start_again();
    let deadline = Instant::now() + Duration::from_secs(30);
    while healthz(&daemon_a) != 200 || healthz(&daemon_b) != 200 {
        assert!(Instant::now() < deadline, "the daemons did not reconnect");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(pam_password(&a, "dave"), PamOutcome::Success);
    assert_eq!(pam_password(&b, "dave"), PamOutcome::Success);
}

#[test]
fn a_daemon_killed_mid_load_loses_nothing_it_acknowledged() {
    if crate::postgres::skip_on_sled("two daemons share a PostgreSQL store") {
        return;
    }
    let (a, daemon_a, b, _daemon_b) = pair();
    a.add_user("dave", &[]);
    // Users added and enrolled through A, one after another, and sign-ins through A beside
    // them; A is killed after the tenth user is acknowledged, while more of each are on the way.
    let mut acknowledged = Vec::new();
    let mut signed_in = 0;
    let writer = std::thread::scope(|scope| {
        let signing_in = scope.spawn(|| {
            let mut done = 0;
            while try_pam_password(&a, "dave") == Some(PamOutcome::Success) {
                done += 1;
            }
            done
        });
        let adding = scope.spawn(|| {
            let mut added = Vec::new();
            for i in 0..40 {
                let name = format!("user{i:02}");
                let output = a.cli_with_stdin(
                    &[
                        "user",
                        "add",
                        &name,
                        "--email",
                        &format!("{name}@example.com"),
                        "--password-stdin",
                    ],
                    "correct horse battery staple\n",
                );
                if !output.status.success() {
                    break;
                }
                // Each new user but the first (who signs in by password at the end) is also
                // enrolled (emailed codes): a second acknowledged write.
                let enrolled = i > 0
                    && a.cli(&["mfa", "set-method", &name, "email"])
                        .status
                        .success();
                added.push((name, enrolled));
            }
            added
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        while !a.ok(&["user", "list"]).contains("user10") {
            assert!(Instant::now() < deadline, "the users were not being added");
            std::thread::sleep(Duration::from_millis(20));
        }
        let pid = nix::unistd::Pid::from_raw(daemon_a.pid() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("SIGKILL");
        signed_in = signing_in.join().unwrap();
        adding.join().unwrap()
    });
    acknowledged.extend(writer);
    assert!(acknowledged.len() >= 11, "{acknowledged:?}");
    let listed = b.ok(&["user", "list"]);
    for (name, enrolled) in &acknowledged {
        assert!(listed.contains(name.as_str()), "{name} is lost: {listed}");
        if *enrolled {
            let shown = b.ok(&["user", "show", name]);
            let method = shown
                .lines()
                .find(|line| line.trim_start().starts_with("mfa"));
            assert!(
                method.is_some_and(|line| line.contains("email")),
                "{name}'s enrolment is lost: {shown}"
            );
        }
    }
    assert!(
        acknowledged
            .iter()
            .filter(|(_, enrolled)| *enrolled)
            .count()
            >= 9,
        "{acknowledged:?}"
    );
    // Every sign-in A answered "success" to is in the audit trail the survivor reads.
    let trail = b.ok(&["audit", "--user", "dave", "--limit", "1000"]);
    let recorded = trail.matches("signed_in").count();
    assert!(
        signed_in > 0 && recorded >= signed_in,
        "{signed_in} sign-ins acknowledged, {recorded} recorded"
    );
    // And the users sign in through the survivor.
    assert_eq!(pam_password(&b, &acknowledged[0].0), PamOutcome::Success);
}

#[test]
fn a_daemon_refuses_a_schema_newer_than_itself_and_records_are_versioned_bytes() {
    if crate::postgres::skip_on_sled("it changes the PostgreSQL schema's version") {
        return;
    }
    let site = Site::new();
    let daemon = site.start();
    site.add_user("erin", &[]);
    let server = site.postgres.as_ref().unwrap();
    // A record is the codec's version byte and JSON, readable in SQL.
    let json = server.sql(
        "SELECT convert_from(substring(record FROM 2), 'UTF8')::jsonb ->> 'username' FROM users",
    );
    assert_eq!(json, "erin");
    assert_eq!(daemon.terminate().code(), Some(0));

    server.sql("UPDATE postern_schema SET version = version + 1");
    let output = std::process::Command::new(crate::fixture::bin("posternd"))
        .arg("--config")
        .arg(&site.config)
        .output()
        .expect("run posternd");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(65),
        "the status the unit's RestartPreventExitStatus= names: {stderr}"
    );
    assert!(
        stderr.contains("newer than this posternd reads") && stderr.contains("upgrade posternd"),
        "{stderr}"
    );
}
