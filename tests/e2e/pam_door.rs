//! The daemon's PAM door, driven the way pam_postern.so drives it: one connection, prompts
//! relayed, answers sent back, a verdict at the end.

use crate::browser::*;
use crate::fixture::{Daemon, Site, advance_clock, daemon_clock};
use postern_proto::Secret;
use postern_proto::client::Connection;
use postern_proto::pam::{PamContext, PamMode, PamOutcome, PamReply, PamRequest};
use std::time::Duration;

fn context(user: &str, mode: PamMode) -> PamContext {
    PamContext {
        service: "sshd".into(),
        user: user.into(),
        remote_host: Some("192.0.2.7".into()),
        tty: Some("ssh".into()),
        mode,
    }
}

/// Runs one conversation, answering prompts in order; returns what was shown and the verdict.
fn converse(
    site: &Site,
    mode: PamMode,
    user: &str,
    mut answers: Vec<String>,
) -> (Vec<String>, PamOutcome, Option<String>) {
    let mut connection =
        Connection::connect(&site.pam_socket(), Duration::from_secs(10)).expect("PAM socket");
    connection
        .send(&PamRequest::Begin(context(user, mode)))
        .unwrap();
    let mut shown = Vec::new();
    loop {
        match connection.receive::<PamReply>().unwrap() {
            PamReply::Prompt { text, .. } => {
                shown.push(text);
                let answer = if answers.is_empty() {
                    String::new()
                } else {
                    answers.remove(0)
                };
                connection
                    .send(&PamRequest::Answer {
                        text: Secret::new(answer),
                    })
                    .unwrap();
            }
            PamReply::Info { text } => shown.push(text),
            PamReply::Verdict { outcome, message } => return (shown, outcome, message),
        }
    }
}

/// Enrols alice's authenticator app through the web, as she would; returns the key.
fn enrol_app(site: &Site, daemon: &Daemon) -> String {
    let (key, _) = enrol_app_on_web(site, daemon, "alice");
    advance_clock(site, 30);
    key
}

fn staff_site() -> (Site, Daemon) {
    let site = Site::new();
    let daemon = site.start();
    site.ok(&["role", "add", "staff", "--require-mfa"]);
    site.add_user("alice", &["staff"]);
    (site, daemon)
}

#[test]
fn password_and_app_code_log_in_and_a_wrong_code_does_not() {
    let (site, daemon) = staff_site();
    let key = enrol_app(&site, &daemon);
    let code = totp_code(&key, daemon_clock(&site));
    let (shown, outcome, _) = converse(&site, PamMode::Full, "alice", vec![PASSWORD.into(), code]);
    assert_eq!(shown, vec!["Password: ", "Verification code: "]);
    assert_eq!(outcome, PamOutcome::Success);
    let audit = site.ok(&["audit", "--user", "alice"]);
    assert!(
        audit.contains("signed_in") && audit.contains("pam sshd from 192.0.2.7"),
        "{audit}"
    );

    advance_clock(&site, 30);
    let (_, outcome, _) = converse(
        &site,
        PamMode::Full,
        "alice",
        vec![PASSWORD.into(), "000000".into()],
    );
    assert_eq!(outcome, PamOutcome::Denied);
    let (_, outcome, _) = converse(&site, PamMode::Full, "alice", vec!["wrong password".into()]);
    assert_eq!(outcome, PamOutcome::Denied);
}

#[test]
fn second_factor_mode_asks_only_for_the_code() {
    let (site, daemon) = staff_site();
    let key = enrol_app(&site, &daemon);
    let code = totp_code(&key, daemon_clock(&site));
    let (shown, outcome, _) = converse(&site, PamMode::SecondFactor, "alice", vec![code]);
    assert_eq!(
        (shown, outcome),
        (vec!["Verification code: ".to_owned()], PamOutcome::Success)
    );
}

#[test]
fn a_required_but_unenrolled_user_is_told_where_to_enrol() {
    let (site, _daemon) = staff_site();
    let (_, outcome, message) = converse(&site, PamMode::Full, "alice", vec![PASSWORD.into()]);
    assert_eq!(outcome, PamOutcome::MustEnrol);
    assert!(message.unwrap().contains("/account"));
}

#[test]
fn a_holder_of_a_role_requiring_passkeys_is_not_asked_for_a_code() {
    let (site, daemon) = staff_site();
    enrol_app(&site, &daemon);
    site.ok(&["role", "add", "keyholders", "--require-phishing-resistant"]);
    site.ok(&["user", "add-role", "alice", "keyholders"]);
    let (shown, outcome, message) = converse(&site, PamMode::Full, "alice", vec![PASSWORD.into()]);
    assert_eq!(shown, vec!["Password: "], "no code is asked for");
    assert_eq!(outcome, PamOutcome::MustEnrol);
    assert!(message.unwrap().contains("passkey"));
}

#[test]
fn an_emailed_code_is_announced_and_accepted() {
    let site = Site::new();
    let _daemon = site.start();
    site.add_user("alice", &[]);
    site.ok(&["mfa", "set-method", "alice", "email"]);
    let mut connection = Connection::connect(&site.pam_socket(), Duration::from_secs(10)).unwrap();
    connection
        .send(&PamRequest::Begin(context("alice", PamMode::Full)))
        .unwrap();
    assert!(matches!(
        connection.receive::<PamReply>().unwrap(),
        PamReply::Prompt { echo: false, .. }
    ));
    connection
        .send(&PamRequest::Answer {
            text: Secret::new(PASSWORD),
        })
        .unwrap();
    match connection.receive::<PamReply>().unwrap() {
        // ASCII only: the terminal's character set is unknown.
        PamReply::Info { text } => assert_eq!(text, "A code was sent to a***@example.com."),
        other => panic!("expected the info line, got {other:?}"),
    }
    assert!(
        matches!(
            connection.receive::<PamReply>().unwrap(),
            PamReply::Prompt { echo: false, .. }
        ),
        "a code is asked for with echo off, like a password"
    );
    let outbox = site.dir.path().join("outbox");
    let message = std::fs::read_dir(&outbox)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(message).unwrap();
    let code = six_digit_code(&text);
    connection
        .send(&PamRequest::Answer {
            text: Secret::new(code),
        })
        .unwrap();
    assert!(matches!(
        connection.receive::<PamReply>().unwrap(),
        PamReply::Verdict {
            outcome: PamOutcome::Success,
            ..
        }
    ));
}

#[test]
fn wrong_codes_add_up_across_sign_ins_and_doors() {
    let (site, daemon) = staff_site();
    let key = enrol_app(&site, &daemon);
    // Three SSH logins with the right password and a wrong code each...
    for _ in 0..3 {
        let (_, outcome, _) = converse(
            &site,
            PamMode::Full,
            "alice",
            vec![PASSWORD.into(), "000000".into()],
        );
        assert_eq!(outcome, PamOutcome::Denied);
    }
    // ...and two wrong codes on the web make five: the right password did not reset them.
    let browser = Browser::new(&daemon);
    let mut page = browser.sign_in(
        browser.visit(&format!("{}/login", browser.issuer)),
        "alice",
        PASSWORD,
    );
    for _ in 0..2 {
        let body = page_body(&page);
        page = browser.submit(
            "/login",
            &[
                ("csrf", &hidden(&body, "csrf")),
                ("flow", &hidden(&body, "flow")),
                ("code", "000000"),
            ],
        );
        assert_eq!(page_status(&page), 401);
    }
    assert!(
        site.ok(&["user", "show", "alice"])
            .contains("too many failed sign-ins"),
        "five wrong codes over four sign-ins lock the account"
    );
    let code = totp_code(&key, daemon_clock(&site));
    let (_, outcome, _) = converse(&site, PamMode::Full, "alice", vec![PASSWORD.into(), code]);
    assert_eq!(
        outcome,
        PamOutcome::Denied,
        "locked: the right code is refused"
    );
}

#[test]
fn only_the_exact_login_name_logs_in() {
    let site = Site::new();
    let _daemon = site.start();
    site.add_user("bob", &[]);
    for mode in [PamMode::Full, PamMode::SecondFactor] {
        let (_, outcome, _) = converse(&site, mode, "BOB", vec![PASSWORD.into()]);
        assert_eq!(outcome, PamOutcome::Denied, "BOB is not bob ({mode:?})");
    }
    let mut connection = Connection::connect(&site.pam_socket(), Duration::from_secs(10)).unwrap();
    connection
        .send(&PamRequest::Account(context("Bob", PamMode::Full)))
        .unwrap();
    assert!(matches!(
        connection.receive::<PamReply>().unwrap(),
        PamReply::Verdict {
            outcome: PamOutcome::UserUnknown,
            ..
        }
    ));
    let (_, outcome, _) = converse(&site, PamMode::Full, "bob", vec![PASSWORD.into()]);
    assert_eq!(outcome, PamOutcome::Success);
}

#[test]
fn account_checks_report_disabled_and_unknown_users() {
    let site = Site::new();
    let _daemon = site.start();
    site.add_user("alice", &[]);
    let check = |user: &str| {
        let mut connection =
            Connection::connect(&site.pam_socket(), Duration::from_secs(10)).unwrap();
        connection
            .send(&PamRequest::Account(context(user, PamMode::Full)))
            .unwrap();
        match connection.receive::<PamReply>().unwrap() {
            PamReply::Verdict { outcome, .. } => outcome,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(check("alice"), PamOutcome::Success);
    assert_eq!(check("nobody"), PamOutcome::UserUnknown);
    site.ok(&["user", "disable", "alice"]);
    assert_eq!(check("alice"), PamOutcome::AccountDisabled);
}

#[test]
fn a_half_sent_message_on_the_pam_socket_is_cut_off() {
    use std::io::{Read, Write};
    let site = Site::new();
    site.set_in_section("pam", "frame_timeout = \"1s\"");
    let mut daemon = site.start();
    let mut stream = std::os::unix::net::UnixStream::connect(site.pam_socket()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(&100u32.to_be_bytes()).unwrap();
    stream.write_all(br#"{"Begin":"#).unwrap();
    let started = std::time::Instant::now();
    // The daemon answers "unavailable" and closes; the module fails closed.
    let reply: PamReply = postern_proto::frame::read_frame(&mut stream, 1 << 20).unwrap();
    assert!(matches!(
        reply,
        PamReply::Verdict {
            outcome: PamOutcome::Unavailable,
            ..
        }
    ));
    assert_eq!(stream.read(&mut [0u8; 1]).unwrap(), 0);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(daemon.is_running());
    assert!(daemon.log_text().contains("did not arrive in time"));
}

#[test]
fn garbage_on_the_pam_socket_is_refused_and_the_daemon_stays_up() {
    use std::io::Write;
    let site = Site::new();
    let mut daemon = site.start();
    let mut stream = std::os::unix::net::UnixStream::connect(site.pam_socket()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut wire = 7u32.to_be_bytes().to_vec();
    wire.extend_from_slice(b"garbage");
    stream.write_all(&wire).unwrap();
    let reply: PamReply = postern_proto::frame::read_frame(&mut stream, 1 << 20).unwrap();
    assert!(
        matches!(
            reply,
            PamReply::Verdict {
                outcome: PamOutcome::Unavailable,
                ..
            }
        ),
        "{reply:?}"
    );
    assert!(daemon.is_running());
    site.ok(&["status"]);
}

#[test]
fn a_remembered_host_skips_the_code_for_its_window_when_configured() {
    let site = Site::new();
    let config = std::fs::read_to_string(&site.config)
        .unwrap()
        .replace("[pam]\n", "[pam]\nremember = \"8h\"\n");
    std::fs::write(&site.config, config).unwrap();
    let daemon = site.start();
    site.ok(&["role", "add", "staff", "--require-mfa"]);
    site.add_user("alice", &["staff"]);
    let key = enrol_app(&site, &daemon);

    let code = totp_code(&key, daemon_clock(&site));
    let (_, outcome, _) = converse(&site, PamMode::Full, "alice", vec![PASSWORD.into(), code]);
    assert_eq!(outcome, PamOutcome::Success);
    let (shown, outcome, _) = converse(&site, PamMode::Full, "alice", vec![PASSWORD.into()]);
    assert_eq!(
        (shown, outcome),
        (vec!["Password: ".to_owned()], PamOutcome::Success),
        "same host: no code"
    );

    let mut elsewhere = context("alice", PamMode::Full);
    elsewhere.remote_host = Some("198.51.100.1".into());
    let mut connection = Connection::connect(&site.pam_socket(), Duration::from_secs(10)).unwrap();
    connection.send(&PamRequest::Begin(elsewhere)).unwrap();
    let _password_prompt: PamReply = connection.receive().unwrap();
    connection
        .send(&PamRequest::Answer {
            text: Secret::new(PASSWORD),
        })
        .unwrap();
    match connection.receive::<PamReply>().unwrap() {
        PamReply::Prompt { text, .. } => {
            assert_eq!(text, "Verification code: ", "another host is asked")
        }
        other => panic!("{other:?}"),
    }

    advance_clock(&site, 8 * 3600 + 1);
    let (shown, _, _) = converse(
        &site,
        PamMode::Full,
        "alice",
        vec![PASSWORD.into(), "000000".into()],
    );
    assert_eq!(
        shown,
        vec!["Password: ", "Verification code: "],
        "asked again after the window"
    );
}
