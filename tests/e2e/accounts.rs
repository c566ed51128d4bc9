//! Users, roles, site settings and the audit trail through the `postern` CLI.

use crate::fixture::{Site, stderr};

#[test]
fn a_user_and_a_role_survive_a_restart() {
    let site = Site::new();
    let daemon = site.start();
    site.ok(&["role", "add", "staff", "--require-mfa"]);
    site.add_user("alice", &["staff"]);
    assert!(daemon.terminate().success());

    let _daemon = site.start();
    let user: serde_json::Value =
        serde_json::from_str(&site.ok(&["--json", "user", "show", "alice"])).unwrap();
    assert_eq!(user["username"], "alice");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["roles"], serde_json::json!(["staff"]));
    let roles: serde_json::Value =
        serde_json::from_str(&site.ok(&["--json", "role", "list"])).unwrap();
    assert_eq!(roles[0]["name"], "staff");
    assert_eq!(roles[0]["require_mfa"], true);
    assert_eq!(roles[0]["members"], 1);
}

#[test]
fn duplicate_and_invalid_usernames_are_refused_with_clear_messages() {
    let site = Site::new();
    let _daemon = site.start();
    site.add_user("alice", &[]);

    let taken = site.cli_with_stdin(
        &[
            "user",
            "add",
            "ALICE",
            "--email",
            "other@example.com",
            "--password-stdin",
        ],
        "correct horse battery staple\n",
    );
    assert_eq!(taken.status.code(), Some(1));
    assert!(
        stderr(&taken).contains("username `ALICE` is taken by `alice`"),
        "{}",
        stderr(&taken)
    );

    for (name, reason) in [
        ("al ice", "may contain only"),
        ("9lives", "must start with a letter"),
        ("root:0", "may contain only"),
    ] {
        let out = site.cli_with_stdin(
            &[
                "user",
                "add",
                name,
                "--email",
                "x@example.com",
                "--password-stdin",
            ],
            "correct horse battery staple\n",
        );
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(stderr(&out).contains(reason), "{name}: {}", stderr(&out));
    }

    let bad_email = site.cli_with_stdin(
        &[
            "user",
            "add",
            "bob",
            "--email",
            "bob-at-example",
            "--password-stdin",
        ],
        "correct horse battery staple\n",
    );
    assert!(
        stderr(&bad_email).contains("email: must look like"),
        "{}",
        stderr(&bad_email)
    );
    let short = site.cli_with_stdin(
        &[
            "user",
            "add",
            "bob",
            "--email",
            "bob@example.com",
            "--password-stdin",
        ],
        "short\n",
    );
    assert!(
        stderr(&short).contains("at least 8 characters"),
        "{}",
        stderr(&short)
    );
    let no_role = site.cli_with_stdin(
        &[
            "user",
            "add",
            "bob",
            "--email",
            "bob@example.com",
            "--role",
            "ghost",
            "--password-stdin",
        ],
        "correct horse battery staple\n",
    );
    assert!(
        stderr(&no_role).contains("role `ghost` does not exist"),
        "{}",
        stderr(&no_role)
    );

    let users: serde_json::Value =
        serde_json::from_str(&site.ok(&["--json", "user", "list"])).unwrap();
    assert_eq!(
        users.as_array().unwrap().len(),
        1,
        "nothing was created by the refused requests"
    );
}

#[test]
fn a_password_is_never_taken_from_the_command_line_or_a_missing_terminal() {
    let site = Site::new();
    let _daemon = site.start();
    let out = site.cli(&["user", "add", "carol", "--email", "carol@example.com"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--password-stdin"),
        "{}",
        stderr(&out)
    );
    let out = site.cli(&[
        "user",
        "add",
        "carol",
        "--email",
        "carol@example.com",
        "--password",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2), "no --password flag exists");
}

#[test]
fn accounts_can_be_changed_and_every_change_is_audited() {
    let site = Site::new();
    let _daemon = site.start();
    site.ok(&["role", "add", "ops"]);
    site.ok(&["role", "add", "robots", "--api-access"]);
    site.add_user("dave", &[]);

    site.ok(&["user", "add-role", "dave", "ops"]);
    site.ok(&["user", "disable", "dave"]);
    site.ok_with_stdin(
        &["user", "set-password", "dave", "--password-stdin"],
        "another long password\n",
    );
    let dave: serde_json::Value =
        serde_json::from_str(&site.ok(&["--json", "user", "show", "Dave"])).unwrap();
    assert_eq!(dave["disabled"], true);
    assert_eq!(dave["roles"], serde_json::json!(["ops"]));

    let held = site.cli(&["role", "delete", "ops"]);
    assert_eq!(held.status.code(), Some(1));
    assert!(
        stderr(&held).contains("held by 1 user(s) (dave)"),
        "{}",
        stderr(&held)
    );

    site.ok(&["user", "enable", "dave"]);
    site.ok(&["user", "remove-role", "dave", "ops"]);
    site.ok(&["role", "delete", "ops"]);
    site.ok(&["role", "set", "robots", "--require-mfa", "true"]);
    let again = site.cli(&["user", "remove-role", "dave", "ops"]);
    assert_eq!(again.status.code(), Some(1));
    site.ok(&["user", "delete", "dave"]);
    assert_eq!(site.cli(&["user", "show", "dave"]).status.code(), Some(1));

    let audit: serde_json::Value =
        serde_json::from_str(&site.ok(&["--json", "audit", "--user", "dave"])).unwrap();
    let actions: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            ("user_deleted", "success"),
            ("role_revoked", "failure"),
            ("role_revoked", "success"),
            ("user_enabled", "success"),
            ("password_changed", "success"),
            ("user_disabled", "success"),
            ("role_granted", "success"),
            ("user_created", "success"),
        ]
    );
    let text = site.ok(&["audit", "--since", "1h"]);
    assert!(
        text.contains("role_changed") && text.contains("require_mfa=true"),
        "{text}"
    );
    assert!(
        !text.contains("another long password") && !text.contains("correct horse"),
        "no password in the audit trail"
    );
}

#[test]
fn site_settings_are_shown_changed_and_validated() {
    let site = Site::new();
    let _daemon = site.start();
    let shown = site.ok(&["site", "show"]);
    for expected in [
        "mfa.methods",
        "totp,email",
        "email_code.lifetime",
        "15m",
        "remember_device.window",
        "1day",
    ] {
        assert!(shown.contains(expected), "{expected} in {shown}");
    }
    site.ok(&["site", "set", "mfa.methods", "totp"]);
    site.ok(&["site", "set", "email_code.lifetime", "10m"]);
    let bad = site.cli(&["site", "set", "totp.skew", "7"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("from 0 to 2"), "{}", stderr(&bad));
    let unknown = site.cli(&["site", "set", "mfa.method", "totp"]);
    assert!(
        stderr(&unknown).contains("known keys"),
        "{}",
        stderr(&unknown)
    );

    let settings: serde_json::Value =
        serde_json::from_str(&site.ok(&["--json", "site", "show"])).unwrap();
    let value = |key: &str| {
        settings
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(value("mfa.methods"), "totp");
    assert_eq!(value("email_code.lifetime"), "10m");
    assert_eq!(value("totp.skew"), "1");
}

#[test]
fn usage_errors_exit_2_and_an_absent_daemon_exits_1() {
    let site = Site::new();
    assert_eq!(site.cli(&["user", "frobnicate"]).status.code(), Some(2));
    let out = site.cli(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is posternd running?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_administrator_sets_an_address_and_whether_it_is_verified() {
    let site = Site::new();
    let _daemon = site.start();
    site.add_user("carol", &[]);
    let show = |site: &Site| site.ok(&["user", "show", "carol"]);
    assert!(show(&site).contains("carol@example.com (not verified)"));
    site.ok(&[
        "user",
        "set-email",
        "carol",
        "carol@example.com",
        "--verified",
    ]);
    assert!(show(&site).contains("carol@example.com (verified)"));
    // A new address is not verified until someone says so or a code proves it.
    site.ok(&["user", "set-email", "carol", "c.jones@example.org"]);
    assert!(show(&site).contains("c.jones@example.org (not verified)"));
    let refused = site.cli(&["user", "set-email", "carol", "not an address"]);
    assert!(!refused.status.success());
    assert!(
        site.ok(&["audit", "--user", "carol"])
            .contains("email_changed")
    );
}
