//! A real sshd on a loopback port, with its own config and host key and a private /etc/pam.d
//! (bubblewrap) that stacks pam_postern.so; a throwaway local account; and the OpenSSH client
//! doing keyboard-interactive, driven through a pty by `expect`. Cleans up the account and
//! stops the sshd it started, by its pid.

use crate::browser::*;
use crate::fixture::{Site, advance_clock, bin, daemon_clock};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A local account that is removed when dropped.
pub(crate) struct LocalAccount(pub(crate) String);

impl LocalAccount {
    pub(crate) fn create() -> Self {
        let name = format!("pe2e{}", std::process::id());
        let status = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/bin/sh", &name])
            .status()
            .unwrap();
        assert!(status.success(), "useradd {name}");
        Self(name)
    }
}

impl Drop for LocalAccount {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.0).status();
    }
}

/// sshd started by this test; killed by its pid when dropped.
pub(crate) struct Sshd {
    child: Child,
    pub(crate) port: u16,
    dir: tempfile::TempDir,
}

impl Sshd {
    pub(crate) fn start(pam_socket: &std::path::Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let key = dir.path().join("host_key");
        assert!(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&key)
                .status()
                .unwrap()
                .success()
        );
        let pam_dir = dir.path().join("pam.d");
        std::fs::create_dir(&pam_dir).unwrap();
        let module = bin("libpam_postern.so");
        std::fs::write(
            pam_dir.join("sshd"),
            format!(
                "auth required {m} mode=full socket={s} timeout=20\naccount required {m} socket={s}\nsession required pam_permit.so\n",
                m = module.display(),
                s = pam_socket.display()
            ),
        )
        .unwrap();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {key}\nPidFile {pid}\nUsePAM yes\nKbdInteractiveAuthentication yes\n\
                 PasswordAuthentication no\nPubkeyAuthentication no\nAuthenticationMethods keyboard-interactive\nStrictModes no\n",
                key = key.display(),
                pid = dir.path().join("sshd.pid").display()
            ),
        )
        .unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let child = Command::new("bwrap")
            .args(["--bind", "/", "/", "--bind"])
            .arg(&pam_dir)
            .args([
                "/etc/pam.d",
                "--dev",
                "/dev",
                "/usr/sbin/sshd",
                "-D",
                "-e",
                "-f",
            ])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port, dir }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // sshd runs under bwrap: stop sshd itself by the pid it wrote, then bwrap.
        let pid_file = self.dir.path().join("sshd.pid");
        if let Some(pid) = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Logs in with `ssh`, answering the password and code prompts; true if the remote command ran.
fn ssh_login(port: u16, user: &str, password: &str, code: &str) -> (bool, String) {
    let script = format!(
        r#"set timeout 20
spawn ssh -p {port} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o PreferredAuthentications=keyboard-interactive -o PubkeyAuthentication=no -o NumberOfPasswordPrompts=1 {user}@127.0.0.1 echo LOGGED-IN-OK
expect "Password:" {{ send "{password}\r" }} timeout {{ exit 2 }}
expect "Verification code:" {{ send "{code}\r" }} timeout {{ exit 3 }}
expect {{
  "LOGGED-IN-OK" {{ exit 0 }}
  "denied" {{ exit 1 }}
  timeout {{ exit 4 }}
  eof {{ exit 1 }}
}}
"#
    );
    let out = Command::new("expect")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("expect (Debian package expect)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Whether this machine can run the sshd tests (CI must).
pub(crate) fn sshd_available() -> bool {
    let needed = [
        "/usr/sbin/sshd",
        "/usr/bin/expect",
        "/usr/bin/bwrap",
        "/usr/bin/ssh",
    ];
    let present = needed.iter().all(|p| std::path::Path::new(p).exists())
        && nix::unistd::Uid::effective().is_root();
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs root, openssh-server, openssh-client, expect and bubblewrap"
        );
        eprintln!("skipped: needs root, sshd, ssh, expect and bwrap");
    }
    present
}

#[test]
fn ssh_logs_in_with_password_and_code_and_refuses_a_wrong_code() {
    if !sshd_available() {
        return;
    }
    let account = LocalAccount::create();
    let site = Site::new();
    let daemon = site.start();
    site.ok(&["role", "add", "staff", "--require-mfa"]);
    site.add_user(&account.0, &["staff"]);
    // Enrol the app on the web, as the user would.
    let (key, _) = enrol_app_on_web(&site, &daemon, &account.0);

    let sshd = Sshd::start(&site.pam_socket());
    advance_clock(&site, 30);
    let (ok, transcript) = ssh_login(
        sshd.port,
        &account.0,
        PASSWORD,
        &totp_code(&key, daemon_clock(&site)),
    );
    assert!(ok, "{transcript}");
    advance_clock(&site, 30);
    let (ok, transcript) = ssh_login(sshd.port, &account.0, PASSWORD, "000000");
    assert!(!ok, "a wrong code must not log in:\n{transcript}");
    let audit = site.ok(&["audit", "--user", &account.0]);
    assert!(audit.contains("pam sshd from 127.0.0.1"), "{audit}");
}
