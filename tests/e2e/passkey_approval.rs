//! SSH-style logins approved with a passkey: the real pam_postern.so under pamtester (through a
//! pty, with expect) shows a code; headless Chromium with a virtual authenticator opens the
//! approval page, sees the login, and approves it with the passkey (or denies it); the login
//! completes (or is refused). Screenshots go to target/test-artifacts/passkeys/.

use crate::browser::PASSWORD;
use crate::fixture::Site;
use crate::pam_module::{PamService, available, output_text};
use crate::passkeys::{chromium, localhost_site, sign_in_with_password};
use crate::webdriver::Chromium;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A pamtester login of `user` from 192.0.2.9 that asks for approval with a passkey, running
/// in expect: it writes the code it was shown to `code`, waits for the file `go` before
/// pressing Enter, and exits 0 when authenticated, 10 when told the approval was refused.
struct WaitingLogin {
    child: Child,
    code: PathBuf,
    go: PathBuf,
    _dir: tempfile::TempDir,
}

impl WaitingLogin {
    fn start(service: &PamService, user: &str) -> Self {
        let spawn = format!(
            "bwrap --bind / / --bind {} /etc/pam.d --dev /dev pamtester -v -I rhost=192.0.2.9 postern-test {user} authenticate",
            service.dir.path().display()
        );
        Self::spawn(&spawn, "successfully authenticated")
    }

    /// An SSH login to `port` that runs `echo LOGGED-IN-OK` once in.
    fn ssh(port: u16, user: &str) -> Self {
        let spawn = format!(
            "ssh -p {port} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o PreferredAuthentications=keyboard-interactive -o PubkeyAuthentication=no {user}@127.0.0.1 echo LOGGED-IN-OK"
        );
        Self::spawn(&spawn, "LOGGED-IN-OK")
    }

    fn spawn(spawn: &str, success: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let code = dir.path().join("code");
        let go = dir.path().join("go");
        let script = format!(
            r#"set timeout 20
spawn {spawn}
expect "Password:" {{ send "{PASSWORD}\r" }} timeout {{ exit 2 }}
expect "press Enter to approve with a passkey" {{ send "\r" }} timeout {{ exit 3 }}
expect -re {{with the code ([A-Z]{{4}}-[A-Z]{{4}})}} {{}} timeout {{ exit 4 }}
set f [open {code} w]
puts $f $expect_out(1,string)
close $f
expect "Press Enter once you have approved it:" {{}} timeout {{ exit 5 }}
for {{set i 0}} {{![file exists {go}] && $i < 600}} {{incr i}} {{ after 100 }}
send "\r"
expect {{
  "{success}" {{ exit 0 }}
  "approval expired" {{ exit 10 }}
  timeout {{ exit 6 }}
  eof {{ exit 1 }}
}}
"#,
            code = code.display(),
            go = go.display(),
        );
        let child = Command::new("expect")
            .arg("-c")
            .arg(&script)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("expect (Debian package expect)");
        Self {
            child,
            code,
            go,
            _dir: dir,
        }
    }

    /// The code the terminal shows, once it does.
    fn code(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(code) = std::fs::read_to_string(&self.code) {
                if !code.trim().is_empty() {
                    return code.trim().to_owned();
                }
            }
            assert!(
                Instant::now() < deadline,
                "the terminal never showed a code"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Presses Enter in the terminal and returns expect's exit code and what it saw.
    fn press_enter(self) -> (Option<i32>, String) {
        std::fs::write(&self.go, "").unwrap();
        let out = self.child.wait_with_output().unwrap();
        (out.status.code(), output_text(&out))
    }
}

/// A localhost site where alice has a passkey in Chromium's virtual authenticator.
fn alice_with_a_passkey(chromium: &Chromium) -> (Site, crate::fixture::Daemon, String) {
    user_with_a_passkey(chromium, "alice")
}

fn user_with_a_passkey(
    chromium: &Chromium,
    username: &str,
) -> (Site, crate::fixture::Daemon, String) {
    let (site, daemon, issuer) = localhost_site();
    site.add_user(username, &[]);
    chromium.add_virtual_authenticator();
    chromium.open(&format!("{issuer}/login"));
    sign_in_with_password(chromium, username);
    chromium.type_into("#passkey_name", "laptop");
    chromium.click("#add-passkey button");
    chromium.wait_for("Passkey “laptop” added.");
    (site, daemon, issuer)
}

fn shots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts/passkeys")
}

fn expect_installed() -> bool {
    let present = Path::new("/usr/bin/expect").exists();
    assert!(
        present || std::env::var_os("CI").is_none(),
        "CI needs expect"
    );
    present
}

#[test]
fn a_pam_login_is_approved_with_a_passkey_on_the_approval_page() {
    if !available() || !expect_installed() {
        return;
    }
    let Some(chromium) = chromium() else {
        return;
    };
    let (site, _daemon, issuer) = alice_with_a_passkey(&chromium);
    let service = PamService::new(&site, &site.pam_socket(), "mode=full");

    let login = WaitingLogin::start(&service, "alice");
    let code = login.code();
    // The user types the code by hand on the page: any case, with or without the dash.
    chromium.open(&format!("{issuer}/approve"));
    chromium.type_into("#code", &code.to_lowercase());
    chromium.click("button[type=submit]");
    let page = chromium.wait_for("Is this your login?");
    for shown in ["alice", "postern-test", "192.0.2.9"] {
        assert!(page.contains(shown), "{shown} is shown: {page}");
    }
    chromium.screenshot(&shots(), "8-approve-an-ssh-login");
    chromium.click("#approve-with-passkey");
    chromium.wait_for("Login approved");
    let (status, output) = login.press_enter();
    assert_eq!(status, Some(0), "{output}");

    // Spent: the same code shows nothing any more.
    chromium.open(&format!("{issuer}/approve?code={code}"));
    chromium.wait_for("That code is not valid, or it expired");
    let audit = site.ok(&["audit", "--since", "1h"]);
    assert!(
        audit.contains("approval_granted") && audit.contains("postern-test login of alice"),
        "{audit}"
    );
    assert!(audit.contains("amr pwd,mfa,hwk,user"), "{audit}");
}

#[test]
fn a_denied_or_expired_approval_refuses_the_pam_login() {
    if !available() || !expect_installed() {
        return;
    }
    let Some(chromium) = chromium() else {
        return;
    };
    let (site, _daemon, issuer) = alice_with_a_passkey(&chromium);
    let service = PamService::new(&site, &site.pam_socket(), "mode=full");

    let login = WaitingLogin::start(&service, "alice");
    chromium.open(&format!("{issuer}/approve?code={}", login.code()));
    chromium.wait_for("Is this your login?");
    chromium.click("#deny button");
    chromium.wait_for("Denied. Nothing was signed in.");
    let (status, output) = login.press_enter();
    assert_eq!(status, Some(10), "{output}");

    // Approved too late: the page had the login, but five minutes passed.
    let login = WaitingLogin::start(&service, "alice");
    chromium.open(&format!("{issuer}/approve?code={}", login.code()));
    chromium.wait_for("Is this your login?");
    crate::fixture::advance_clock(&site, 5 * 60 + 1);
    chromium.click("#approve-with-passkey");
    chromium.wait_for("The passkey was not accepted, or this login is no longer waiting.");
    let (status, output) = login.press_enter();
    assert_eq!(status, Some(10), "{output}");
    let audit = site.ok(&["audit", "--since", "1h"]);
    assert!(audit.contains("approval_denied"), "{audit}");
}

#[test]
fn an_ssh_login_is_approved_with_a_passkey() {
    if !crate::sshd::sshd_available() {
        return;
    }
    let Some(chromium) = chromium() else {
        return;
    };
    let account = crate::sshd::LocalAccount::create();
    let (site, _daemon, issuer) = user_with_a_passkey(&chromium, &account.0);
    let sshd = crate::sshd::Sshd::start(&site.pam_socket());

    let login = WaitingLogin::ssh(sshd.port, &account.0);
    chromium.open(&format!("{issuer}/approve?code={}", login.code()));
    let page = chromium.wait_for("Is this your login?");
    assert!(
        page.contains("sshd") && page.contains("127.0.0.1"),
        "{page}"
    );
    chromium.click("#approve-with-passkey");
    chromium.wait_for("Login approved");
    let (status, output) = login.press_enter();
    assert_eq!(status, Some(0), "{output}");
    let audit = site.ok(&["audit", "--user", &account.0]);
    assert!(audit.contains("pam sshd from 127.0.0.1"), "{audit}");
}
