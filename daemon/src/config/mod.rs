//! `posternd`'s configuration: built-in defaults, then the TOML file, then `POSTERN_*`
//! environment variables. Everything is checked at start-up, and every error names the key at
//! fault and how to fix it, so a typo stops the daemon instead of being silently ignored.

mod env;
mod sections;
mod validate;

pub use crate::model::duration::{HumanDuration, parse as parse_duration};
pub use sections::*;

use std::path::{Path, PathBuf};

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
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Self::from_text(&text, path, vars)
            }
            None => Self::from_text("", Path::new("<defaults>"), vars),
        }
    }

    /// Parses `text` (the file at `path`, for messages), applies `POSTERN_*` variables from
    /// `vars`, and validates the result.
    pub fn from_text(
        text: &str,
        path: &Path,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = text
            .parse::<toml::Table>()
            .map_err(|e| parse_error(path, &e.to_string()))?;
        env::apply_overrides(&mut table, vars)?;
        let config: Config = table
            .try_into()
            .map_err(|e: toml::de::Error| parse_error(path, &e.to_string()))?;
        config.validate()?;
        Ok(config)
    }
}

impl Config {
    /// The issuer URL, given the address the web door actually bound.
    pub fn issuer_for(&self, bound: std::net::SocketAddr) -> String {
        if self.issuer.is_empty() {
            format!("http://{bound}")
        } else {
            self.issuer.clone()
        }
    }

    /// Cookies are `Secure` whenever clients reach us over HTTPS.
    pub fn secure_cookies(&self) -> bool {
        self.issuer.starts_with("https://")
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
        let err = load_text("[store.postgres]\npool_size = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("store.postgres.pool_size"), "{err}");
        for (cache, why) in [
            ("\"lots\"", "not a size"),
            ("\"256MB\"", "not a unit"),
            ("\"1MiB\"", "from 16MiB"),
        ] {
            let err = load_text(&format!("[store]\ncache = {cache}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("store.cache") && err.contains(why), "{err}");
        }
        let config = load_text("[store]\ncache = \"1GiB\"\n").unwrap();
        assert_eq!(config.store.cache_bytes(), Ok(1 << 30));
        let err = load_text("[store]\nmin_free = \"64 megs\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("store.min_free") && err.contains("not a unit"),
            "{err}"
        );
        let config = load_text("[store]\nmin_free = \"0\"\n").unwrap();
        assert_eq!(config.store.min_free_bytes(), Ok(0));
        let err = load_text("[log]\nlevel = \"loud=verbose=yes\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("log.level"), "{err}");
    }

    #[test]
    fn the_issuer_must_be_a_clean_url_and_https_off_loopback() {
        for (text, expected) in [
            ("issuer = \"id.example.com\"", "not a URL"),
            ("issuer = \"http://id.example.com\"", "only on loopback"),
            ("issuer = \"https://id.example.com/\"", "trailing slash"),
            ("issuer = \"https://id.example.com?x=1\"", "no query"),
            ("[http]\nlisten = \"0.0.0.0:8080\"", "public URL"),
        ] {
            let err = load_text(text).unwrap_err().to_string();
            assert!(
                err.contains("issuer") && err.contains(expected),
                "{text}: {err}"
            );
        }
        assert!(load_text("issuer = \"http://localhost:8080\"").is_ok());
        assert!(load_text("issuer = \"https://id.example.com/postern\"").is_ok());
    }

    #[test]
    fn the_key_file_must_live_outside_the_state_dir_and_tls_needs_both_files() {
        let err =
            load_text("state_dir = \"/srv/p\"\n[secrets]\nkey_file = \"/srv/p/master.key\"\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("secrets.key_file"), "{err}");
        let err = load_text(
            "issuer = \"https://id.example.com\"\n[http]\ntls_cert = \"/etc/cert.pem\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("tls_key"), "{err}");
        let err = load_text("[tokens]\naccess_token_lifetime = \"5s\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("tokens.access_token_lifetime") && err.contains("between"),
            "{err}"
        );
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
