//! `SIGHUP` (`systemctl reload posternd`): reads the configuration again and applies what can
//! change while the daemon runs: the log level, the templates (pages and mail) and the TLS
//! certificate and key, so that a renewal needs no restart. Each is replaced only once its
//! new form loads; otherwise the old one stays and the log says why. Open connections are
//! untouched. Settings that changed but take a restart are named in the log.

use crate::config::Config;
use crate::context::Context;
use crate::logging::LogLevel;
use crate::web::Web;
use crate::web::http_server::Tls;
use std::path::PathBuf;
use std::sync::Arc;

/// The keys a reload applies; every other change waits for a restart.
const RELOADED: [&str; 4] = [
    "log.level",
    "templates_dir",
    "http.tls_cert",
    "http.tls_key",
];

#[allow(missing_debug_implementations)] // holds the whole context; nothing to print
pub struct Reloader {
    /// The file the daemon was started with (none: defaults and `POSTERN_*` only).
    pub config_path: Option<PathBuf>,
    pub log_level: LogLevel,
    pub tls: Option<Tls>,
    pub web: Arc<Web>,
    pub ctx: Arc<Context>,
}

/// What a reload did, also written to the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reloaded {
    pub applied: Vec<&'static str>,
    /// What could not be applied, and why; the old form stays.
    pub kept: Vec<String>,
    /// Keys whose new values take a restart.
    pub need_restart: Vec<String>,
}

impl Reloader {
    pub async fn reload(&self) -> Reloaded {
        let mut done = Reloaded::default();
        let config = match Config::load(self.config_path.as_deref(), std::env::vars()) {
            Ok(config) => config,
            Err(e) => {
                done.kept
                    .push(format!("configuration, which cannot be used: {e}"));
                report(&done);
                return done;
            }
        };
        // Applied last, after the report, so that the report is written at the old level.
        let filter = match LogLevel::parse(&config.log.level) {
            Ok(filter) => {
                done.applied.push("log level");
                Some(filter)
            }
            Err(e) => {
                done.kept.push(e);
                None
            }
        };
        let pages = self.web.reload_pages(&config.templates_dir);
        let letters = self.ctx.mailer.reload_templates(&config.templates_dir);
        match pages.and(letters) {
            Ok(()) => done.applied.push("templates"),
            Err(e) => done.kept.push(e),
        }
        let tls_files = (&config.http.tls_cert, &config.http.tls_key);
        let tls_stays_on = !tls_files.0.as_os_str().is_empty();
        match &self.tls {
            Some(tls) if tls_stays_on => match tls.reload(tls_files.0, tls_files.1).await {
                Ok(()) => done.applied.push("TLS certificate"),
                Err(e) => done.kept.push(e),
            },
            // Turning TLS on or off changes the listener: a restart.
            _ => {}
        }
        let tls_switched = self.tls.is_some() != tls_stays_on;
        done.need_restart = changed_keys(&self.ctx.config, &config)
            .into_iter()
            .filter(|key| {
                !RELOADED.contains(&key.as_str()) || (tls_switched && key.contains("tls"))
            })
            .collect();
        report(&done);
        if let Some(filter) = filter
            && let Err(e) = self.log_level.set(filter)
        {
            tracing::error!("reload: kept the current {e}");
        }
        done
    }
}

fn report(done: &Reloaded) {
    if done.applied.is_empty() {
        tracing::info!("reload: applied nothing new");
    } else {
        tracing::info!("reload: applied the new {}", done.applied.join(", "));
    }
    for why in &done.kept {
        tracing::error!("reload: kept the current {why}");
    }
    if !done.need_restart.is_empty() {
        tracing::warn!(
            "reload: changed, and applied only by a restart: {}",
            done.need_restart.join(", ")
        );
    }
}

/// The dotted keys whose values differ between two configurations (names only: values may be
/// secrets).
fn changed_keys(running: &Config, read: &Config) -> Vec<String> {
    let (Ok(running), Ok(read)) = (serde_json::to_value(running), serde_json::to_value(read))
    else {
        return vec!["(the configuration could not be compared)".into()];
    };
    let mut changed = Vec::new();
    walk("", &running, &read, &mut changed);
    changed
}

fn walk(
    prefix: &str,
    running: &serde_json::Value,
    read: &serde_json::Value,
    out: &mut Vec<String>,
) {
    match (running, read) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (key, value) in a {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                match b.get(key) {
                    Some(other) => walk(&path, value, other, out),
                    None => out.push(path),
                }
            }
        }
        (a, b) if a != b => out.push(prefix.to_owned()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration that validates on any machine (no `postern-admin` group needed).
    fn config(text: &str) -> Config {
        let text = format!("{text}[admin]\ngroup = \"\"\n");
        Config::from_text(&text, std::path::Path::new("test.toml"), Vec::new()).unwrap()
    }

    #[test]
    fn changed_settings_are_named_by_key_without_their_values() {
        let running = config("[log]\nlevel = \"info\"\n[mail]\nfrom = \"a@example.com\"\n");
        let read = config(
            "[log]\nlevel = \"debug\"\n[mail]\nfrom = \"b@example.com\"\n[http]\nlisten = \"127.0.0.1:9000\"\n",
        );
        let mut changed = changed_keys(&running, &read);
        changed.sort();
        assert_eq!(changed, ["http.listen", "log.level", "mail.from"]);
        assert!(changed_keys(&running, &running).is_empty());
    }
}
