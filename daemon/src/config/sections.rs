//! The configuration's shape and built-in defaults. Every key here is documented, with its
//! default, in `config/postern.toml`; a test keeps the two in step.

use super::HumanDuration;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The OIDC issuer: the public base URL of this daemon, exactly as clients see it. Empty:
    /// `http://` + the address the web door bound (loopback only; for development and tests).
    pub issuer: String,
    /// Where the embedded database lives (with `store.backend = "sled"`). Only this daemon
    /// opens it.
    pub state_dir: PathBuf,
    /// A directory whose templates replace the built-in ones of the same name. Empty: none.
    pub templates_dir: PathBuf,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_grace: HumanDuration,
    pub store: StoreConfig,
    pub http: HttpConfig,
    pub admin: AdminConfig,
    pub pam: PamConfig,
    pub secrets: SecretsConfig,
    pub tokens: TokensConfig,
    pub session: SessionConfig,
    pub limits: LimitsConfig,
    pub mail: MailConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub testing: TestingConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sled`: an embedded database under `state_dir`, for one daemon. `postgres`: a
    /// PostgreSQL database that several daemons share.
    pub backend: StoreBackend,
    /// With sled: the page cache of each of its two databases, e.g. "256MiB" (16MiB to 64GiB).
    /// sled's own default lets it grow towards a gigabyte under load.
    pub cache: String,
    /// With sled: writes are refused, with the reason, while the state directory's disk has
    /// less free than this (e.g. "64MiB"; "0" only guards against a read-only disk).
    pub min_free: String,
    pub postgres: PostgresConfig,
}

impl StoreConfig {
    /// `cache` in bytes; `validate` has checked that it parses.
    pub fn cache_bytes(&self) -> Result<u64, String> {
        parse_size(&self.cache)
    }

    /// `min_free` in bytes; `validate` has checked that it parses.
    pub fn min_free_bytes(&self) -> Result<u64, String> {
        parse_size(&self.min_free)
    }
}

/// "256MiB", "1GiB", "512KiB" or a number of bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size; write e.g. \"256MiB\" or \"1GiB\""))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "`{other}` is not a unit; use KiB, MiB or GiB (powers of 1024)"
            ));
        }
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| format!("`{text}` is too large"))
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: StoreBackend::default(),
            cache: "256MiB".into(),
            min_free: "64MiB".into(),
            postgres: PostgresConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    #[default]
    Sled,
    Postgres,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresConfig {
    /// A libpq-style connection string, e.g. "postgres://postern@db.example.com/postern" or
    /// "host=/run/postgresql dbname=postern user=postern". A password in it is a secret: prefer
    /// `password_file`.
    pub url: SecretString,
    /// A file holding the database password (one line), read at start.
    pub password_file: PathBuf,
    /// Connections a daemon keeps open at most.
    pub pool_size: u32,
    /// How long to wait for a connection (or a free one from the pool) before a request fails.
    pub connect_timeout: HumanDuration,
    /// How long one statement may run before the server cancels it.
    pub statement_timeout: HumanDuration,
    /// A PEM file of the certificate authorities that sign the server's certificate. Set, the
    /// connection is TLS and the server must prove itself; empty, no TLS (a socket or loopback).
    pub ca_file: PathBuf,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            url: SecretString::default(),
            password_file: PathBuf::new(),
            pool_size: 16,
            connect_timeout: HumanDuration::secs(5),
            statement_timeout: HumanDuration::secs(5),
            ca_file: PathBuf::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve Prometheus metrics at `http://<listen>/metrics`.
    pub enabled: bool,
    /// Apart from the web door, so that metrics stay off the public address.
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// PEM certificate chain and private key; both set means HTTPS.
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub socket: PathBuf,
    /// Members of this Unix group may use the admin socket, besides root and the daemon's own
    /// user. Empty: nobody else.
    pub group: String,
    /// A connection that sends no request for this long is closed.
    pub idle_timeout: HumanDuration,
    /// A request must arrive whole within this time of its first byte.
    pub frame_timeout: HumanDuration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PamConfig {
    /// The socket `pam_postern.so` connects to; only root may use it.
    pub socket: PathBuf,
    /// How long one login conversation may take, answers included.
    pub conversation_timeout: HumanDuration,
    /// A message from the PAM module must arrive whole within this time of its first byte.
    pub frame_timeout: HumanDuration,
    /// After a second factor, the same user logging in to the same service from the same
    /// host is not asked for it again for this long. "0": always ask.
    pub remember: HumanDuration,
}

impl Default for PamConfig {
    fn default() -> Self {
        Self {
            socket: PathBuf::from("/run/postern/pam.sock"),
            conversation_timeout: HumanDuration::secs(120),
            frame_timeout: HumanDuration::secs(10),
            remember: HumanDuration::secs(0),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// The master key, kept outside `state_dir`; created (0600) on first start if absent.
    pub key_file: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    pub access_token_lifetime: HumanDuration,
    pub id_token_lifetime: HumanDuration,
    pub refresh_token_lifetime: HumanDuration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// How long a sign-in lasts before the password is asked again.
    pub lifetime: HumanDuration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub account_max_failures: u32,
    pub account_window: HumanDuration,
    pub account_lockout: HumanDuration,
    pub address_max_failures: u32,
    pub address_window: HumanDuration,
    pub address_lockout: HumanDuration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// The sender of codes, e.g. "Postern <postern@example.com>".
    pub from: String,
    pub transport: MailTransport,
    /// With the outbox transport: one `.eml` file a message is written here.
    pub outbox_dir: PathBuf,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: SmtpTls,
    pub smtp_username: String,
    pub smtp_password: SecretString,
    /// PEM file of the CA(s) that signed the SMTP server's certificate, for a private CA. When
    /// set, only these are trusted; when empty, the public web roots are.
    pub smtp_ca_file: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// Write messages as files (development and tests).
    Outbox,
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// STARTTLS, required (usually port 587).
    Starttls,
    /// TLS from the first byte (usually port 465).
    Implicit,
    /// No TLS: only for a relay on this machine.
    None,
}

/// A configured secret: `Debug` never shows it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretString(pub String);

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "<redacted>"
        })
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            from: "Postern <postern@localhost>".into(),
            transport: MailTransport::Outbox,
            outbox_dir: PathBuf::from("/var/spool/postern/outbox"),
            smtp_host: String::new(),
            smtp_port: 587,
            smtp_tls: SmtpTls::Starttls,
            smtp_username: String::new(),
            smtp_password: SecretString::default(),
            smtp_ca_file: PathBuf::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter: "info", "debug", or per module, "info,postern_daemon::admin_door=debug".
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TestingConfig {
    /// Lets administrators move the daemon's clock forward, for tests of expiry. Never in
    /// production: the daemon warns loudly at start when it is on.
    pub adjustable_clock: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            state_dir: PathBuf::from("/var/lib/postern"),
            templates_dir: PathBuf::new(),
            shutdown_grace: HumanDuration::secs(10),
            store: StoreConfig::default(),
            http: HttpConfig::default(),
            admin: AdminConfig::default(),
            pam: PamConfig::default(),
            secrets: SecretsConfig::default(),
            tokens: TokensConfig::default(),
            session: SessionConfig::default(),
            limits: LimitsConfig::default(),
            mail: MailConfig::default(),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            testing: TestingConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            socket: PathBuf::from("/run/postern/admin.sock"),
            group: "postern-admin".into(),
            idle_timeout: HumanDuration::secs(30),
            frame_timeout: HumanDuration::secs(10),
        }
    }
}

impl Default for SecretsConfig {
    fn default() -> Self {
        Self {
            key_file: PathBuf::from("/etc/postern/master.key"),
        }
    }
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            access_token_lifetime: HumanDuration::secs(10 * 60),
            id_token_lifetime: HumanDuration::secs(10 * 60),
            refresh_token_lifetime: HumanDuration::secs(30 * 24 * 3600),
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            lifetime: HumanDuration::secs(12 * 3600),
        }
    }
}

/// In the spirit of Authelia's regulation: a few failures within minutes lock the account for
/// minutes; an address gets more room, since many users may share it.
impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            account_max_failures: 5,
            account_window: HumanDuration::secs(5 * 60),
            account_lockout: HumanDuration::secs(10 * 60),
            address_max_failures: 20,
            address_window: HumanDuration::secs(5 * 60),
            address_lockout: HumanDuration::secs(15 * 60),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}
