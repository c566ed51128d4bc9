//! `posternd --check` and start-up refusals.

use crate::fixture::{Site, bin, stderr};
use std::process::Command;

fn check(config: &std::path::Path, env: &[(&str, &str)]) -> std::process::Output {
    Command::new(bin("posternd"))
        .arg("--config")
        .arg(config)
        .arg("--check")
        .env_remove("POSTERN_ADMIN_SOCKET")
        .envs(env.iter().copied())
        .output()
        .expect("run posternd --check")
}

#[test]
fn check_accepts_a_valid_config_and_the_shipped_dev_config() {
    let site = Site::new();
    let out = check(&site.config, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dev = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/dev.toml");
    assert!(check(&dev, &[]).status.success());
}

#[test]
fn check_names_an_unknown_key() {
    let site = Site::with_config("stat_dir = \"/tmp/typo\"");
    let out = check(&site.config, &[]);
    assert_eq!(out.status.code(), Some(1));
    let message = stderr(&out);
    assert!(
        message.contains("unknown field `stat_dir`") && message.contains("state_dir"),
        "{message}"
    );
}

#[test]
fn check_names_a_bad_value_and_a_bad_environment_variable() {
    let site = Site::with_config("shutdown_grace = \"a while\"");
    let out = check(&site.config, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("shutdown_grace"), "{}", stderr(&out));

    let site = Site::new();
    let out = check(&site.config, &[("POSTERN_HTTP_LISTN", "127.0.0.1:1")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("POSTERN_HTTP_LISTN: not a Postern setting"),
        "{}",
        stderr(&out)
    );
    let out = check(&site.config, &[("POSTERN_HTTP_LISTEN", "localhost")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("listen"), "{}", stderr(&out));
}

#[test]
fn a_missing_config_file_is_named() {
    let out = check(std::path::Path::new("/nonexistent/postern.toml"), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/nonexistent/postern.toml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_second_daemon_on_the_same_state_dir_fails_clearly() {
    if crate::postgres::skip_on_postgres("several daemons may share a PostgreSQL store") {
        return;
    }
    let site = Site::new();
    let mut first = site.start();
    // Same state directory, its own socket, so the only conflict is the database.
    let config = std::fs::read_to_string(&site.config)
        .unwrap()
        .replace("run/admin.sock", "run/second.sock");
    let second_config = site.dir.path().join("second.toml");
    std::fs::write(&second_config, config).unwrap();
    let out = Command::new(bin("posternd"))
        .arg("--config")
        .arg(&second_config)
        .env_remove("POSTERN_ADMIN_SOCKET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is in use by another posternd"),
        "{}",
        stderr(&out)
    );
    assert!(first.is_running(), "the first daemon is unaffected");
    site.ok(&["status"]);
}
