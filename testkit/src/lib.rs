//! A real PostgreSQL server for a test or a benchmark run: `initdb` in a temporary directory,
//! listening only on a Unix socket in that directory (no port to collide on), run as the
//! `postgres` user when run as root (the server refuses root), and stopped by its own `pg_ctl`
//! when dropped. Debian's `postgresql` package provides the programs (`tests/run` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug)]
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The user the server runs as, when the tests run as root.
    run_as: Option<&'static str>,
    /// The loopback port it also listens on, if it does.
    port: Option<u16>,
}

impl Postgres {
    /// A server on a Unix socket only.
    pub fn start() -> Self {
        Self::start_with(None, None)
    }

    /// A server that also listens on a loopback port, with TLS when given a certificate and
    /// its key (PEM): TLS needs TCP, PostgreSQL does not speak it on a Unix socket.
    pub fn start_on_loopback(tls: Option<(&str, &str)>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        Self::start_with(Some(port), tls)
    }

    fn start_with(port: Option<u16>, tls: Option<(&str, &str)>) -> Self {
        let bin = bin_dir();
        // Short, because a Unix socket's path is limited to about a hundred bytes.
        let dir = tempfile::Builder::new()
            .prefix("pg")
            .tempdir_in("/tmp")
            .expect("temp dir for PostgreSQL");
        let run_as = nix::unistd::Uid::effective()
            .is_root()
            .then_some("postgres");
        if let Some(user) = run_as {
            let owner = nix::unistd::User::from_name(user)
                .expect("look up the postgres user")
                .expect("the postgres user exists (Debian's postgresql package makes it)");
            nix::unistd::chown(dir.path(), Some(owner.uid), Some(owner.gid))
                .expect("give the PostgreSQL directory to its user");
        }
        let server = Self {
            dir,
            bin,
            run_as,
            port,
        };
        server.run(
            "initdb",
            &[
                "-D",
                &server.data().display().to_string(),
                "-U",
                "postern",
                "--auth=trust",
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C",
            ],
        );
        let conf = server.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
        let listen = port.map_or(String::new(), |_| "127.0.0.1".into());
        text.push_str(&format!(
            "\nlisten_addresses = '{listen}'\nport = {}\nunix_socket_directories = '{}'\nfsync = off\nmax_connections = 60\nshared_buffers = 16MB\n",
            port.unwrap_or(5432),
            server.dir.path().display()
        ));
        if let Some((cert, key)) = tls {
            server.write_private("server.crt", cert);
            server.write_private("server.key", key);
            text.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        }
        std::fs::write(&conf, text).expect("write postgresql.conf");
        server.start_again();
        server
    }

    /// The connection string the daemon is given.
    pub fn url(&self) -> String {
        format!(
            "host={} user=postern dbname=postgres",
            self.dir.path().display()
        )
    }

    /// The connection string over the loopback port (see [`start_on_loopback`]).
    ///
    /// [`start_on_loopback`]: Self::start_on_loopback
    pub fn tcp_url(&self) -> String {
        let port = self.port.expect("a server started on a loopback port");
        format!("host=127.0.0.1 port={port} user=postern dbname=postgres")
    }

    /// Writes a file into the data directory that only the server's user may read.
    fn write_private(&self, name: &str, text: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.data().join(name);
        std::fs::write(&path, text).expect("write into the data directory");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("make it private");
        if let Some(user) = self.run_as {
            let owner = nix::unistd::User::from_name(user)
                .ok()
                .flatten()
                .expect("the postgres user");
            nix::unistd::chown(&path, Some(owner.uid), Some(owner.gid)).expect("chown");
        }
    }

    /// Stops the server (fast: connections are cut), leaving its data.
    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast", "-w"]);
    }

    pub fn start_again(&self) {
        let log = self.dir.path().join("server.log").display().to_string();
        self.pg_ctl(&["start", "-w", "-t", "60", "-l", &log]);
    }

    /// Runs SQL as the superuser, for a test that looks at the database itself.
    pub fn sql(&self, statement: &str) -> String {
        let port = self.port.unwrap_or(5432).to_string();
        let output = Command::new(self.bin.join("psql"))
            .args(["-X", "-A", "-t", "-p", &port, "-h"])
            .arg(self.dir.path())
            .args(["-U", "postern", "-d", "postgres", "-c", statement])
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql {statement}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Bytes on disk of the server's data directory.
    pub fn data_bytes(&self) -> u64 {
        dir_size(&self.data())
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.data().display().to_string();
        let mut all = vec!["-D", &data];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all);
    }

    fn run(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program);
        let output = match self.run_as {
            Some(user) => Command::new("runuser")
                .args(["-u", user, "--"])
                .arg(&program)
                .args(args)
                .output(),
            None => Command::new(&program).args(args).output(),
        }
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
        assert!(
            output.status.success(),
            "{} {args:?} failed: {}{}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Only this test's server, through its own data directory.
        if self.data().join("postmaster.pid").exists() {
            self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
        }
    }
}

/// The newest installed PostgreSQL's programs (Debian keeps them out of PATH).
fn bin_dir() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; install Debian's postgresql package (tests/run does)",
                root.display()
            )
        })
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let version = path.file_name()?.to_str()?.parse().ok()?;
            path.join("bin/initdb")
                .exists()
                .then_some((version, path.join("bin")))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .expect("no PostgreSQL server under /usr/lib/postgresql")
}

/// Bytes on disk (allocated blocks, not apparent sizes: sled files are sparse) below `path`.
pub fn dir_size(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_size(&entry.path()),
            Ok(meta) => meta.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}
