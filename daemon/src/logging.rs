//! The daemon's log: text or JSON on standard error, filtered by `log.level`, which a reload
//! (`SIGHUP`) can change while the daemon runs.

use crate::config::{Config, LogFormat};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// The running log filter, to be replaced on a reload.
#[derive(Clone)]
pub struct LogLevel(reload::Handle<EnvFilter, Registry>);

impl std::fmt::Debug for LogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogLevel")
    }
}

impl LogLevel {
    /// Reads a level (e.g. "info,postern_daemon=debug") for [`set`](Self::set).
    pub fn parse(level: &str) -> Result<EnvFilter, String> {
        EnvFilter::try_new(level).map_err(|e| format!("log.level: {e}"))
    }

    /// Filters the log by `filter` from now on.
    pub fn set(&self, filter: EnvFilter) -> Result<(), String> {
        self.0.reload(filter).map_err(|e| format!("log.level: {e}"))
    }
}

/// Installs the log for this process; `validate()` has checked that the level parses.
pub fn init(config: &Config) -> LogLevel {
    let (filter, handle) = reload::Layer::new(EnvFilter::new(&config.log.level));
    let format = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter);
    match config.log.format {
        LogFormat::Text => registry.with(format).init(),
        LogFormat::Json => registry.with(format.json()).init(),
    }
    LogLevel(handle)
}
