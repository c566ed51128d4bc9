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
    let rp = RelyingParty::configure(&daemon, rp.client_id, rp.secret, rp.alg, rp.redirect_uri);
    let browser = Browser::new(&daemon);
    let request = rp.request(&[]);
    let page = browser.sign_in(browser.visit(&request.url), "alice", PASSWORD);
    advance_clock(&new, 30);
    let body = page_body(&page);
    let back = away(browser.submit(
        "/login",
        &[
            ("csrf", &hidden(&body, "csrf")),
            ("flow", &hidden(&body, "flow")),
            ("code", &totp_code(&key, daemon_clock(&new))),
        ],
    ));
    rp.exchange(&query(&back, "code").unwrap(), request)
        .expect("tokens from the restored site");
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
