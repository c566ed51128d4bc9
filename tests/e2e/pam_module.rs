//! The real pam_postern.so under pamtester, with a private /etc/pam.d (bubblewrap), against
//! the real daemon. Needs root (bwrap) and the Debian packages pamtester and bubblewrap, which
//! tests/run installs.

use crate::browser::*;
use crate::fixture::{Daemon, Site, advance_clock, daemon_clock};
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// A PAM service file for the module, in a directory that bwrap mounts over /etc/pam.d.
pub(crate) struct PamService {
    pub(crate) dir: tempfile::TempDir,
}

impl PamService {
    pub(crate) fn new(site: &Site, socket: &std::path::Path, module_args: &str) -> Self {
        let module = crate::fixture::bin("libpam_postern.so");
        let dir = tempfile::tempdir().unwrap();
        let _ = site;
        std::fs::write(
            dir.path().join("postern-test"),
            format!(
                "auth required {m} socket={s} timeout=10 {module_args}\naccount required {m} socket={s} timeout=10 {module_args}\n",
                m = module.display(),
                s = socket.display()
            ),
        )
        .unwrap();
        Self { dir }
    }

    /// Runs `pamtester postern-test USER OPERATION` with `answers` on its standard input.
    fn run(&self, user: &str, operation: &str, answers: &[&str]) -> Output {
        let mut child = Command::new("bwrap")
            .args(["--bind", "/", "/", "--bind"])
            .arg(self.dir.path())
            .args([
                "/etc/pam.d",
                "--dev",
                "/dev",
                "pamtester",
                "-v",
                "postern-test",
                user,
                operation,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("bwrap and pamtester (Debian packages bubblewrap, pamtester)");
        let mut input = answers.join("\n");
        input.push('\n');
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

pub(crate) fn available() -> bool {
    let present = ["/usr/bin/pamtester", "/usr/bin/bwrap"]
        .iter()
        .all(|p| std::path::Path::new(p).exists())
        && nix::unistd::Uid::effective().is_root();
    if !present && std::env::var_os("CI").is_some() {
        panic!("pamtester, bubblewrap and root are needed for the PAM module tests");
    }
    if !present {
        eprintln!("skipped: needs root, pamtester and bubblewrap");
    }
    present
}

pub(crate) fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Signs alice up with an app on the web; returns the app's key and her recovery codes.
fn enrolled_site() -> (Site, Daemon, String) {
    let (site, daemon, key, _) = enrolled_site_with_codes();
    (site, daemon, key)
}

fn enrolled_site_with_codes() -> (Site, Daemon, String, Vec<String>) {
    let site = Site::new();
    let daemon = site.start();
    site.ok(&["role", "add", "staff", "--require-mfa"]);
    site.add_user("alice", &["staff"]);
    let (key, codes) = enrol_app_on_web(&site, &daemon, "alice");
    advance_clock(&site, 30);
    (site, daemon, key, codes)
}

#[test]
fn pamtester_logs_in_with_password_and_code_and_not_with_a_wrong_code() {
    if !available() {
        return;
    }
    let (site, _daemon, key) = enrolled_site();
    let service = PamService::new(&site, &site.pam_socket(), "mode=full");
    let code = totp_code(&key, daemon_clock(&site));
    let out = service.run("alice", "authenticate", &[PASSWORD, &code]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("successfully authenticated"),
        "{}",
        output_text(&out)
    );

    advance_clock(&site, 30);
    let out = service.run("alice", "authenticate", &[PASSWORD, "000000"]);
    assert!(!out.status.success(), "{}", output_text(&out));
    assert!(
        site.ok(&["audit", "--user", "alice"])
            .contains("pam postern-test")
    );
}

#[test]
fn pamtester_second_factor_mode_and_account_checks() {
    if !available() {
        return;
    }
    let (site, _daemon, key) = enrolled_site();
    let service = PamService::new(&site, &site.pam_socket(), "mode=second_factor");
    let out = service.run(
        "alice",
        "authenticate",
        &[&totp_code(&key, daemon_clock(&site))],
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let out = service.run("alice", "acct_mgmt", &[]);
    assert!(out.status.success(), "{}", output_text(&out));
    site.ok(&["user", "disable", "alice"]);
    let out = service.run("alice", "acct_mgmt", &[]);
    assert!(!out.status.success(), "{}", output_text(&out));
}

#[test]
fn a_user_who_must_enrol_is_told_where() {
    if !available() {
        return;
    }
    let site = Site::new();
    let _daemon = site.start();
    site.ok(&["role", "add", "staff", "--require-mfa"]);
    site.add_user("alice", &["staff"]);
    let service = PamService::new(&site, &site.pam_socket(), "");
    let out = service.run("alice", "authenticate", &[PASSWORD]);
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("/account"),
        "{}",
        output_text(&out)
    );
}

#[test]
fn a_stopped_daemon_is_refused_promptly_or_ignored_when_configured() {
    if !available() {
        return;
    }
    let site = Site::new();
    let missing = site.dir.path().join("no-daemon.sock");
    let denying = PamService::new(&site, &missing, "");
    let started = std::time::Instant::now();
    let out = denying.run("alice", "authenticate", &[PASSWORD]);
    assert!(!out.status.success(), "{}", output_text(&out));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "refused promptly"
    );

    // With unreachable=ignore the module steps aside; pam_permit then decides.
    let ignoring = PamService::new(&site, &missing, "unreachable=ignore");
    let file = ignoring.dir.path().join("postern-test");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("auth required", "auth sufficient");
    std::fs::write(&file, format!("{text}auth required pam_permit.so\n")).unwrap();
    let out = ignoring.run("alice", "authenticate", &[]);
    assert!(out.status.success(), "{}", output_text(&out));
}

#[test]
fn pamtester_accepts_a_recovery_code_once() {
    if !available() {
        return;
    }
    let (site, _daemon, _key, codes) = enrolled_site_with_codes();
    let service = PamService::new(&site, &site.pam_socket(), "mode=full");
    let out = service.run("alice", "authenticate", &[PASSWORD, &codes[0]]);
    assert!(out.status.success(), "{}", output_text(&out));
    let out = service.run("alice", "authenticate", &[PASSWORD, &codes[0]]);
    assert!(!out.status.success(), "a recovery code works once");
}

#[test]
fn garbage_from_a_fake_daemon_is_refused_without_a_crash() {
    if !available() {
        return;
    }
    let site = Site::new();
    let socket = site.dir.path().join("fake.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(1) {
            let mut stream = stream.unwrap();
            let _ = stream.write_all(&[0, 0, 0, 9]);
            let _ = stream.write_all(b"not json!");
        }
    });
    let service = PamService::new(&site, &socket, "");
    let out = service.run("alice", "authenticate", &[PASSWORD]);
    assert!(!out.status.success(), "{}", output_text(&out));
    let text = output_text(&out);
    assert!(
        !text.contains("panicked") && !text.contains("Aborted"),
        "{text}"
    );
}

#[test]
fn pamtester_with_an_emailed_code_read_from_the_outbox() {
    if !available() || !std::path::Path::new("/usr/bin/expect").exists() {
        assert!(std::env::var_os("CI").is_none(), "CI needs expect");
        return;
    }
    let site = Site::new();
    let _daemon = site.start();
    site.add_user("alice", &[]);
    site.ok(&["mfa", "set-method", "alice", "email"]);
    let service = PamService::new(&site, &site.pam_socket(), "mode=full");
    // The code exists only once the password is in, so answer through a pty with expect and
    // read the code from the newest message in the outbox at that moment.
    let outbox = site.dir.path().join("outbox");
    let script = format!(
        r#"set timeout 20
spawn bwrap --bind / / --bind {pam} /etc/pam.d --dev /dev pamtester -v postern-test alice authenticate
expect "Password:" {{ send "{PASSWORD}\r" }} timeout {{ exit 2 }}
expect "A code was sent to a***@example.com" {{}} timeout {{ exit 3 }}
expect "Verification code:" {{}} timeout {{ exit 4 }}
set code [exec sh -c {{grep -hoE '^ +[0-9]{{6}}' {outbox}/*.eml | tr -d ' \r' | tail -n 1}}]
send "$code\r"
expect {{
  "successfully authenticated" {{ exit 0 }}
  timeout {{ exit 5 }}
  eof {{ exit 1 }}
}}
"#,
        pam = service.dir.path().display(),
        outbox = outbox.display(),
    );
    let out = Command::new("expect")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
}
