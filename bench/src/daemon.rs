//! The `posternd` under test: the release binary, on a temporary state directory and loopback
//! ports, with production settings (Argon2id parameters, limits, logging at info).

use anyhow::{Context, bail};
use postern_proto::admin::{AdminReply, AdminRequest, ClientSpec};
use postern_proto::client::Connection;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Site {
    pub dir: tempfile::TempDir,
}

/// Where a site keeps its store, and what it answers as.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// A PostgreSQL connection string; `None`: the embedded sled store.
    pub postgres_url: Option<String>,
    /// The issuer, when several daemons answer as one.
    pub issuer: Option<String>,
}

impl Site {
    pub fn new(setup: &Setup) -> anyhow::Result<Self> {
        let site = Self {
            dir: tempfile::Builder::new()
                .prefix("postern-bench-")
                .tempdir()?,
        };
        let mut text = String::new();
        if let Some(issuer) = &setup.issuer {
            text.push_str(&format!("issuer = \"{issuer}\"\n"));
        }
        text.push_str(&format!(
            r#"state_dir = "{state}"
[http]
listen = "127.0.0.1:0"
[admin]
socket = "{dir}/admin.sock"
group = ""
[pam]
socket = "{dir}/pam.sock"
[secrets]
key_file = "{dir}/master.key"
[mail]
transport = "outbox"
outbox_dir = "{dir}/outbox"
[metrics]
listen = "127.0.0.1:0"
"#,
            state = site.state_dir().display(),
            dir = site.dir.path().display(),
        ));
        if let Some(url) = &setup.postgres_url {
            text.push_str(&format!(
                "[store]\nbackend = \"postgres\"\n[store.postgres]\nurl = \"{url}\"\n"
            ));
        }
        std::fs::write(site.config(), text)?;
        Ok(site)
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("postern.toml")
    }
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("master.key")
    }
    pub fn admin_socket(&self) -> PathBuf {
        self.dir.path().join("admin.sock")
    }
    pub fn pam_socket(&self) -> PathBuf {
        self.dir.path().join("pam.sock")
    }

    pub fn state_dir_bytes(&self) -> u64 {
        postern_testkit::dir_size(&self.state_dir())
    }

    pub fn admin(&self, request: &AdminRequest) -> anyhow::Result<AdminReply> {
        let mut connection = Connection::connect(&self.admin_socket(), Duration::from_secs(30))?;
        Ok(connection.admin(request)?)
    }

    /// Registers a confidential client; returns its id and secret.
    pub fn add_client(&self, name: &str, alg: &str) -> anyhow::Result<(String, String)> {
        let reply = self.admin(&AdminRequest::ClientAdd(ClientSpec {
            name: name.into(),
            redirect_uris: vec![crate::signin::REDIRECT_URI.into()],
            post_logout_redirect_uris: Vec::new(),
            public: false,
            signing_alg: Some(alg.into()),
            // The bench's relying party always sends PKCE, as a careful one does.
            require_pkce: true,
            consent: false,
            device_flow: false,
        }))?;
        match reply {
            AdminReply::ClientSecret {
                client,
                client_secret: Some(secret),
            } => Ok((client.client_id, secret.expose().to_owned())),
            other => bail!("unexpected answer to client add: {other:?}"),
        }
    }
}

/// A running daemon, killed (by its pid) when dropped.
pub struct Daemon {
    child: Child,
    pub http: String,
    pub started_in: Duration,
}

impl Daemon {
    pub fn start(site: &Site, binary: &Path) -> anyhow::Result<Self> {
        let log = std::fs::File::create(site.dir.path().join("posternd.log"))?;
        let began = Instant::now();
        let mut child = Command::new(binary)
            .arg("--config")
            .arg(site.config())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let deadline = began + Duration::from_secs(120);
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "posternd exited at start ({status}):\n{}",
                    std::fs::read_to_string(site.dir.path().join("posternd.log"))
                        .unwrap_or_default()
                );
            }
            if let Ok(AdminReply::Status(status)) = site.admin(&AdminRequest::Status) {
                return Ok(Self {
                    child,
                    http: format!("http://{}", status.http_listen),
                    started_in: began.elapsed(),
                });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("posternd did not become ready in 120 s");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Resident memory, from /proc.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .context("VmRSS")?
            .parse()?;
        Ok(kib * 1024)
    }

    /// The daemon's open file descriptors (sockets, database files, pipes).
    pub fn open_fds(&self) -> anyhow::Result<u64> {
        let dir = format!("/proc/{}/fd", self.child.id());
        Ok(std::fs::read_dir(dir)?.count() as u64)
    }

    pub fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.child.id();
        Command::new("kill").arg(pid.to_string()).status()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                bail!("posternd {pid} ignored SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The release `posternd` beside this program, built first if needed (a no-op when fresh).
pub fn release_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("POSTERND_BINARY") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("the bench's directory")?;
    let built = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "postern-daemon",
            "--bin",
            "posternd",
        ])
        .status()?;
    if !built.success() {
        bail!("cargo build --release -p postern-daemon failed");
    }
    let binary = dir.join("posternd");
    if !binary.exists() {
        bail!("{} is missing", binary.display());
    }
    Ok(binary)
}
