//! `posternd`'s configuration: built-in defaults, then the TOML file, then `POSTERN_*`
//! environment variables. Everything is checked at start-up, and every error names the key at
//! fault and how to fix it, so a typo stops the daemon instead of being silently ignored.

mod duration;
mod env;

pub use duration::{HumanDuration, parse as parse_duration};

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the database lives. Only this daemon opens it.
    pub state_dir: PathBuf,
    pub http: HttpConfig,
    pub admin: AdminConfig,
    pub log: LogConfig,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_grace: HumanDuration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub socket: PathBuf,
    /// Members of this Unix group may use the admin socket, besides root and the daemon's own
    /// user. Empty: nobody else.
    pub group: String,
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

impl Default for Config {
    fn default() -> Self {
        Self {
            state_dir: PathBuf::from("/var/lib/postern"),
            http: HttpConfig::default(),
            admin: AdminConfig::default(),
            log: LogConfig::default(),
            shutdown_grace: HumanDuration::secs(10),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        }
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            socket: PathBuf::from("/run/postern/admin.sock"),
            group: "postern-admin".into(),
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

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("config key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

impl Config {
    /// Loads the file at `path` (or only defaults when `None`), applies `POSTERN_*` variables
    /// from `vars`, and validates the result.
    pub fn load(
        path: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| parse_error(path, &e.to_string()))?
            }
            None => toml::Table::new(),
        };
        env::apply_overrides(&mut table, vars)?;
        let config: Config = table.try_into().map_err(|e: toml::de::Error| {
            parse_error(path.unwrap_or(Path::new("<defaults>")), &e.to_string())
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot: values that parse but cannot work together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        if self.state_dir.as_os_str().is_empty() {
            return invalid(
                "state_dir",
                "must not be empty; set it to a directory such as \"/var/lib/postern\"".into(),
            );
        }
        if self.admin.socket.as_os_str().is_empty() || self.admin.socket.file_name().is_none() {
            return invalid(
                "admin.socket",
                "must be a file path such as \"/run/postern/admin.sock\"".into(),
            );
        }
        if self.admin.socket.starts_with(&self.state_dir) {
            return invalid(
                "admin.socket",
                format!(
                    "must not be inside state_dir ({}); put sockets in a runtime directory such as /run/postern",
                    self.state_dir.display()
                ),
            );
        }
        if !self.admin.group.is_empty()
            && nix::unistd::Group::from_name(&self.admin.group)
                .ok()
                .flatten()
                .is_none()
        {
            return invalid(
                "admin.group",
                format!(
                    "the group `{}` does not exist; create it (groupadd {}) or set admin.group = \"\" to allow only root and the daemon's user",
                    self.admin.group, self.admin.group
                ),
            );
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return invalid(
                "log.level",
                format!(
                    "`{}` is not a log filter ({e}); use \"info\", \"debug\" or \"warn\"",
                    self.log.level
                ),
            );
        }
        if self.shutdown_grace.0.is_zero() || self.shutdown_grace.0.as_secs() > 300 {
            return invalid("shutdown_grace", "must be between 1s and 5m".into());
        }
        Ok(())
    }
}

fn parse_error(path: &Path, message: &str) -> ConfigError {
    ConfigError::Parse {
        path: path.to_owned(),
        message: message.trim_end().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn load_text(text: &str) -> Result<Config, ConfigError> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        Config::load(
            Some(file.path()),
            [("POSTERN_ADMIN_GROUP".to_owned(), String::new())],
        )
    }

    #[test]
    fn an_unknown_key_is_named_with_its_expected_neighbours() {
        let err = load_text("[http]\nlisen = \"127.0.0.1:1\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `lisen`"), "{err}");
        assert!(err.contains("listen"), "{err}");
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let err = load_text("[http]\nlisten = \"nowhere\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen"), "{err}");
        let err = load_text("shutdown_grace = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("shutdown_grace") && err.contains("\"15m\""),
            "{err}"
        );
    }

    #[test]
    fn impossible_combinations_are_refused() {
        let err = load_text("state_dir = \"/srv/p\"\n[admin]\nsocket = \"/srv/p/admin.sock\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("admin.socket") && err.contains("state_dir"),
            "{err}"
        );
        let err = load_text("[log]\nlevel = \"loud=verbose=yes\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("log.level"), "{err}");
    }

    #[test]
    fn a_missing_admin_group_is_refused_with_the_fix() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"[admin]\ngroup = \"no-such-group-postern\"\n")
            .unwrap();
        let err = Config::load(Some(file.path()), []).unwrap_err().to_string();
        assert!(
            err.contains("admin.group") && err.contains("groupadd"),
            "{err}"
        );
    }

    #[test]
    fn the_shipped_config_files_are_valid_and_document_every_default() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        let dev = Config::load(Some(&root.join("dev.toml")), []).unwrap();
        assert_eq!(dev.http.listen.to_string(), "127.0.0.1:8080");
        // The production example spells out every default; loading it must give the defaults.
        let production = root.join("postern.toml");
        let text = std::fs::read_to_string(&production).unwrap();
        let table: toml::Table = text.parse().unwrap();
        let documented: Config = table.try_into().unwrap();
        assert_eq!(documented, Config::default());
    }
}
