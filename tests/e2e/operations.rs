//! Operating Postern: backup while running, restore into a new state directory, and upgrading
//! a store written by the previous format.

use crate::browser::*;
use crate::fixture::{Daemon, Site, advance_clock, bin, daemon_clock, stderr};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn posternd_restore(site: &Site, backup: &Path) -> Output {
    Command::new(bin("posternd"))
        .arg("restore")
        .arg("--config")
        .arg(&site.config)
        .arg(backup)
        .output()
        .expect("run posternd restore")
}

fn key_file(site: &Site) -> std::path::PathBuf {
    site.dir.path().join("master.key")
}

/// Signs alice in on Postern's own page with her password and a code from her app, which
/// must be accepted.
fn signs_in_with_password_and_app(site: &Site, daemon: &Daemon, key: &str) {
    let browser = Browser::new(daemon);
    let page = browser.sign_in(
        browser.visit(&format!("{}/login", browser.issuer)),
        "alice",
        PASSWORD,
    );
    let body = page_body(&page);
    assert!(body.contains("Two-step verification"), "{body}");
    let done = browser.submit(
        "/login",
        &[
            ("csrf", &hidden(&body, "csrf")),
            ("flow", &hidden(&body, "flow")),
            ("code", &totp_code(key, daemon_clock(site))),
        ],
    );
    let body = page_body(&done);
    assert_eq!(page_status(&done), 200, "{body}");
    assert!(
        body.contains("Signed in as <strong>alice</strong>"),
        "{body}"
    );
}

#[test]
fn a_backup_restores_into_a_new_state_directory_and_the_same_user_signs_in() {
    let old = Site::new();
    let daemon = old.start();
    old.ok(&["role", "add", "staff", "--require-mfa"]);
    old.add_user("alice", &["staff"]);
    let rp = RelyingParty::register(&old, &daemon, "app", &["--signing-alg", "EdDSA"]);
    let (key, _) = enrol_app_on_web(&old, &daemon, "alice");

    let backup = old.dir.path().join("postern.backup");
    let said = old.ok(&["backup", backup.to_str().unwrap()]);
    assert!(
        said.contains("records") && said.contains("key file"),
        "{said}"
    );
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "a backup is readable by its owner only"
    );
    let again = old.cli(&["backup", backup.to_str().unwrap()]);
    assert!(!again.status.success() && stderr(&again).contains("--force"));
    old.ok(&["backup", "--force", backup.to_str().unwrap()]);
    assert!(old.ok(&["audit"]).contains("backup_taken"));
    drop(daemon);

    // A new machine: its own config and directories, and the key file kept with the backup.
    let new = Site::new();
    let missing_key = posternd_restore(&new, &backup);
    assert!(
        !missing_key.status.success() && stderr(&missing_key).contains("does not exist"),
        "{}",
        stderr(&missing_key)
    );
    std::fs::write(key_file(&new), format!("{}\n", "ab".repeat(32))).unwrap();
    std::fs::set_permissions(key_file(&new), std::fs::Permissions::from_mode(0o600)).unwrap();
    let wrong_key = posternd_restore(&new, &backup);
    assert!(
        !wrong_key.status.success() && stderr(&wrong_key).contains("does not open"),
        "{}",
        stderr(&wrong_key)
    );
    std::fs::copy(key_file(&old), key_file(&new)).unwrap();
    let restored = posternd_restore(&new, &backup);
    assert!(restored.status.success(), "{}", stderr(&restored));
    let into_full = posternd_restore(&new, &backup);
    assert!(
        !into_full.status.success() && stderr(&into_full).contains("not empty"),
        "{}",
        stderr(&into_full)
    );

    let daemon = new.start();
    // The code used to enrol is spent; the next step's code is not.
    advance_clock(&new, 30);
    signs_in_with_password_and_app(&new, &daemon, &key);
    // The application's registration, secret included, came back too.
    app_signs_alice_in(&new, &daemon, rp, &key);
}

#[test]
fn damaged_backups_are_refused_with_a_clear_error_and_write_nothing() {
    let site = Site::new();
    std::fs::write(key_file(&site), format!("{}\n", "cd".repeat(32))).unwrap();
    std::fs::set_permissions(key_file(&site), std::fs::Permissions::from_mode(0o600)).unwrap();
    let bad = site.dir.path().join("not-a-backup");
    std::fs::write(&bad, "hello\n").unwrap();
    let refused = posternd_restore(&site, &bad);
    assert!(
        !refused.status.success() && stderr(&refused).contains("not a Postern backup"),
        "{}",
        stderr(&refused)
    );
    assert!(!site.dir.path().join("state/db").exists());
}

#[test]
fn a_store_written_by_format_1_is_migrated_and_its_user_signs_in() {
    if crate::postgres::skip_on_postgres("the fixture is a sled store of format 1") {
        return;
    }
    let site = Site::new();
    let archive = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/store-format-1.tar.gz");
    let unpacked = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(site.dir.path())
        .status()
        .expect("tar");
    assert!(unpacked.success());
    let key = std::fs::read_to_string(site.dir.path().join("totp-key")).unwrap();
    let daemon = site.start();
    assert!(
        daemon.log_text().contains("migrated the store"),
        "{}",
        daemon.log_text()
    );
    let status: serde_json::Value = serde_json::from_str(&site.ok(&["--json", "status"])).unwrap();
    assert_eq!(status["users"], 1, "the migration counted the users");
    signs_in_with_password_and_app(&site, &daemon, key.trim());
}

/// Parses Prometheus/OpenMetrics text into `series → value`, failing on any malformed line.
fn parse_metrics(text: &str) -> std::collections::BTreeMap<String, f64> {
    let mut series = std::collections::BTreeMap::new();
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            let kind = comment.split_whitespace().next().unwrap_or_default();
            assert!(
                ["HELP", "TYPE", "UNIT", "EOF"].contains(&kind),
                "bad comment line: {line}"
            );
            continue;
        }
        let (name_and_labels, value) = line.rsplit_once(' ').expect("a value");
        let name_end = name_and_labels.find('{').unwrap_or(name_and_labels.len());
        let name = &name_and_labels[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in: {line}"
        );
        if name_end < name_and_labels.len() {
            let labels = &name_and_labels[name_end..];
            assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            for pair in labels[1..labels.len() - 1].split(',') {
                let (key, quoted) = pair.split_once('=').expect("label=value");
                assert!(!key.is_empty() && quoted.starts_with('"') && quoted.ends_with('"'));
            }
        }
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        series.insert(name_and_labels.to_owned(), value);
    }
    series
}

fn scrape(site: &Site) -> (String, std::collections::BTreeMap<String, f64>) {
    let status: serde_json::Value = serde_json::from_str(&site.ok(&["--json", "status"])).unwrap();
    let addr = status["metrics_listen"].as_str().expect("metrics are on");
    let response = reqwest::blocking::get(format!("http://{addr}/metrics")).unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().unwrap();
    let parsed = parse_metrics(&text);
    (text, parsed)
}

#[test]
fn metrics_parse_and_move_after_sign_ins_without_naming_anyone() {
    let site = Site::new();
    let daemon = site.start();
    site.add_user("alice", &[]);
    let (_, before) = scrape(&site);
    let success = r#"postern_sign_ins_total{door="web",factor="password",outcome="success"}"#;
    let failure = r#"postern_sign_ins_total{door="web",factor="password",outcome="failure"}"#;
    assert_eq!(before.get(success), None);
    assert_eq!(before["postern_users"], 1.0);

    let browser = Browser::new(&daemon);
    let login = format!("{}/login", browser.issuer);
    browser.sign_in(browser.visit(&login), "alice", "wrong password");
    let page = browser.sign_in(browser.visit(&login), "alice", PASSWORD);
    assert_eq!(page_status(&page), 200);

    let (text, after) = scrape(&site);
    assert_eq!(after[success], 1.0, "{text}");
    assert_eq!(after[failure], 1.0, "{text}");
    let login_posts = after
        .iter()
        .filter(|(k, _)| {
            k.starts_with("postern_http_request_duration_seconds_count")
                && k.contains(r#"route="/login""#)
        })
        .map(|(_, v)| v)
        .sum::<f64>();
    assert!(login_posts >= 4.0, "{text}");
    assert!(
        !text.contains("alice") && !text.contains("127.0.0.1"),
        "no personal data in metrics: {text}"
    );
}

/// The application registered before the move, configured anew from the moved site, signs
/// alice in with her password and a code from her app, and gets tokens.
fn app_signs_alice_in(site: &Site, daemon: &Daemon, rp: RelyingParty, key: &str) {
    let rp = RelyingParty::configure(daemon, rp.client_id, rp.secret, rp.alg, rp.redirect_uri);
    let browser = Browser::new(daemon);
    let request = rp.request(&[]);
    let page = browser.sign_in(browser.visit(&request.url), "alice", PASSWORD);
    advance_clock(site, 30);
    let back = away(browser.answer(&page, &[("code", &totp_code(key, daemon_clock(site)))]));
    rp.exchange(&query(&back, "code").unwrap(), request)
        .expect("tokens from the moved site");
}

fn migrate_store(from: &Site, to: &Site) -> Output {
    Command::new(bin("posternd"))
        .arg("migrate-store")
        .arg("--from")
        .arg(&from.config)
        .arg("--config")
        .arg(&to.config)
        .output()
        .expect("run posternd migrate-store")
}

#[test]
fn migrate_store_moves_a_sled_site_to_postgres_and_its_users_sign_in_there() {
    if crate::postgres::skip_on_sled("it starts a PostgreSQL server of its own") {
        return;
    }
    let old = Site::on_sled();
    let daemon = old.start();
    old.ok(&["role", "add", "staff", "--require-mfa"]);
    old.add_user("alice", &["staff"]);
    let rp = RelyingParty::register(&old, &daemon, "app", &[]);
    let (key, _) = enrol_app_on_web(&old, &daemon, "alice");

    let new = Site::on_postgres();
    std::fs::copy(key_file(&old), key_file(&new)).unwrap();
    let running = migrate_store(&old, &new);
    assert!(
        !running.status.success() && stderr(&running).contains("in use by another posternd"),
        "a running daemon's store is not copied: {}",
        stderr(&running)
    );
    assert_eq!(daemon.terminate().code(), Some(0));

    let moved = migrate_store(&old, &new);
    assert!(moved.status.success(), "{}", stderr(&moved));
    let said = String::from_utf8_lossy(&moved.stdout);
    assert!(
        said.contains("the counts match") && said.contains("users: 1"),
        "{said}"
    );
    let again = migrate_store(&old, &new);
    assert!(
        !again.status.success() && stderr(&again).contains("not empty"),
        "{}",
        stderr(&again)
    );

    let daemon = new.start();
    advance_clock(&new, 30);
    signs_in_with_password_and_app(&new, &daemon, &key);
    app_signs_alice_in(&new, &daemon, rp, &key);
    assert!(
        new.ok(&["audit"]).contains("user_created"),
        "the audit trail came along"
    );

    // And back: a backup of the PostgreSQL store restores into sled.
    let backup = new.dir.path().join("postern.backup");
    new.ok(&["backup", backup.to_str().unwrap()]);
    drop(daemon);
    let third = Site::on_sled();
    std::fs::copy(key_file(&old), key_file(&third)).unwrap();
    let restored = posternd_restore(&third, &backup);
    assert!(restored.status.success(), "{}", stderr(&restored));
    let daemon = third.start();
    advance_clock(&third, 90);
    signs_in_with_password_and_app(&third, &daemon, &key);
}
