//! Starts the real `posternd` with a temporary state directory and an ephemeral HTTP port,
//! runs the real `postern` CLI against it, and stops the daemon (by its pid) when dropped.

use postern_proto::admin::{AdminReply, AdminRequest};
use postern_proto::client::Connection;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The test clients use rustls without a built-in provider, like the daemon: ring. Every HTTP
/// client needs it installed first.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Where cargo put the binaries: the test executable lives in `target/<profile>/deps/`.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (cargo build --workspace), as tests/run does",
        path.display()
    );
    path
}

/// A state directory and config that outlive daemon restarts; on PostgreSQL, its own server.
#[derive(Debug)]
pub struct Site {
    /// Declared first, so the server stops before its directory goes.
    pub postgres: Option<crate::postgres::Postgres>,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub socket: PathBuf,
    /// The PostgreSQL store this site's daemon uses, if not sled.
    pub store_url: Option<String>,
}

impl Site {
    /// The daemon's PAM socket, beside the admin socket.
    pub fn pam_socket(&self) -> PathBuf {
        self.dir.path().join("run/pam.sock")
    }

    /// Adds `line` (a `key = value`) to the config's `[section]`, before the daemon starts.
    pub fn set_in_section(&self, section: &str, line: &str) {
        let text = std::fs::read_to_string(&self.config).expect("read config");
        let header = format!("[{section}]\n");
        assert!(text.contains(&header), "no [{section}] in the test config");
        let text = text.replacen(&header, &format!("{header}{line}\n"), 1);
        std::fs::write(&self.config, text).expect("write config");
    }
}

impl Site {
    pub fn new() -> Self {
        Self::with_config("")
    }

    /// A site whose config file has `extra` added at the top (top-level keys only).
    pub fn with_config(extra: &str) -> Self {
        Self::with_sections(extra, "listen = \"127.0.0.1:0\"")
    }

    /// A site with extra top-level keys and its own `[http]` section.
    pub fn with_sections(extra: &str, http: &str) -> Self {
        let postgres = crate::postgres::selected().then(crate::postgres::Postgres::start);
        let url = postgres.as_ref().map(crate::postgres::Postgres::url);
        Self::build(extra, http, postgres, url)
    }

    /// A site on the embedded sled store, whichever backend this run of the suite tests.
    pub fn on_sled() -> Self {
        Self::build("", "listen = \"127.0.0.1:0\"", None, None)
    }

    /// A site on the PostgreSQL store at `url` (a server the test started).
    pub fn on_store(url: String) -> Self {
        Self::build("", "listen = \"127.0.0.1:0\"", None, Some(url))
    }

    /// A site on its own new PostgreSQL server, whichever backend this run tests.
    pub fn on_postgres() -> Self {
        let server = crate::postgres::Postgres::start();
        let url = server.url();
        Self::build("", "listen = \"127.0.0.1:0\"", Some(server), Some(url))
    }

    /// A second daemon's site: its own sockets, state and port, on the same PostgreSQL store
    /// and with the same master key as `first` (which must have started once, to make it).
    pub fn beside(first: &Site) -> Self {
        let url = first.store_url.clone().expect("a site on PostgreSQL");
        let site = Self::build("", "listen = \"127.0.0.1:0\"", None, Some(url));
        std::fs::copy(
            first.dir.path().join("master.key"),
            site.dir.path().join("master.key"),
        )
        .expect("share the master key");
        site
    }

    fn build(
        extra: &str,
        http: &str,
        postgres: Option<crate::postgres::Postgres>,
        store_url: Option<String>,
    ) -> Self {
        install_crypto_provider();
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("run/admin.sock");
        let config = dir.path().join("postern.toml");
        let mut text = format!(
            "{extra}\nstate_dir = \"{state}\"\n\n[http]\n{http}\n\n[admin]\nsocket = \"{socket}\"\ngroup = \"\"\n\n[pam]\nsocket = \"{pam}\"\n\n[secrets]\nkey_file = \"{key}\"\n\n[mail]\ntransport = \"outbox\"\noutbox_dir = \"{outbox}\"\n\n[log]\nlevel = \"info,postern_daemon=debug\"\n\n[metrics]\nlisten = \"127.0.0.1:0\"\n\n[testing]\nadjustable_clock = true\n",
            state = dir.path().join("state").display(),
            socket = socket.display(),
            key = dir.path().join("master.key").display(),
            outbox = dir.path().join("outbox").display(),
            pam = dir.path().join("run/pam.sock").display(),
        );
        if let Some(url) = &store_url {
            text.push_str(&store_section(url));
        }
        std::fs::write(&config, text).expect("write config");
        Self {
            postgres,
            dir,
            config,
            socket,
            store_url,
        }
    }

    pub fn start(&self) -> Daemon {
        Daemon::start(self)
    }

    /// Runs `postern --socket SOCKET ARGS...`.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with_stdin(args, "")
    }

    pub fn cli_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(bin("postern"))
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .env_remove("POSTERN_ADMIN_SOCKET")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run postern");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("postern output")
    }

    /// Runs the CLI and insists it succeeds; returns its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        checked(self.cli(args), args)
    }

    pub fn ok_with_stdin(&self, args: &[&str], stdin: &str) -> String {
        checked(self.cli_with_stdin(args, stdin), args)
    }

    /// Creates a user with a known password through the CLI.
    pub fn add_user(&self, username: &str, roles: &[&str]) {
        let email = format!("{}@example.com", username.to_lowercase());
        let mut args = vec![
            "user",
            "add",
            username,
            "--email",
            &email,
            "--password-stdin",
        ];
        for role in roles {
            args.extend(["--role", role]);
        }
        self.ok_with_stdin(&args, "correct horse battery staple\n");
    }
}

/// The config sections that put a site on PostgreSQL.
pub fn store_section(url: &str) -> String {
    format!("\n[store]\nbackend = \"postgres\"\n\n[store.postgres]\nurl = \"{url}\"\n")
}

fn checked(output: Output, args: &[&str]) -> String {
    assert!(
        output.status.success(),
        "postern {args:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// A running `posternd`. Dropping it kills the process if it is still running.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    log: PathBuf,
    pub http: SocketAddr,
}

impl Daemon {
    fn start(site: &Site) -> Self {
        // One log per start, so a restarted daemon's log does not overwrite the first one's.
        let starts = std::fs::read_dir(site.dir.path())
            .map(|d| d.count())
            .unwrap_or(0);
        let log = site.dir.path().join(format!("posternd-{starts}.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(bin("posternd"))
            .arg("--config")
            .arg(&site.config)
            .env_remove("POSTERN_ADMIN_SOCKET")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .spawn()
            .expect("start posternd");
        let mut daemon = Self {
            child,
            log,
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        daemon.http = daemon.wait_ready(&site.socket);
        daemon
    }

    /// Polls the admin socket until the daemon answers `status`, and returns its HTTP address.
    fn wait_ready(&mut self, socket: &Path) -> SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("poll posternd") {
                panic!("posternd exited early ({status}):\n{}", self.log_text());
            }
            let answer = Connection::connect(socket, Duration::from_secs(5))
                .and_then(|mut c| c.admin(&AdminRequest::Status));
            if let Ok(AdminReply::Status(status)) = answer {
                return status.http_listen.parse().expect("http address");
            }
            assert!(
                Instant::now() < deadline,
                "posternd did not become ready:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait posternd") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "posternd ignored SIGTERM:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("poll posternd").is_none()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Moves the daemon's clock forward (the test config turns `testing.adjustable_clock` on).
pub fn advance_clock(site: &Site, seconds: u64) {
    let mut connection =
        Connection::connect(&site.socket, Duration::from_secs(10)).expect("admin socket");
    connection
        .admin(&AdminRequest::AdvanceClock { seconds })
        .expect("advance the clock");
}

/// The daemon's clock (it may have been moved forward), as Unix seconds.
pub fn daemon_clock(site: &Site) -> u64 {
    let status: serde_json::Value =
        serde_json::from_str(&site.ok(&["--json", "status"])).expect("status JSON");
    status["clock"].as_u64().expect("clock")
}
