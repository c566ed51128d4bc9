//! `posternd`'s command line, as clap sees it; in the library so that the packaging tools
//! generate the man page from the same definitions.

use clap::Parser;
use std::path::PathBuf;

/// Postern identity provider daemon.
#[derive(Debug, Parser)]
#[command(name = "posternd", version, about)]
pub struct Args {
    /// Configuration file (TOML). Without it, built-in defaults apply.
    #[arg(long, short = 'c', value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Check the configuration, print the verdict, and exit 0 (valid) or 1 (invalid).
    #[arg(long)]
    pub check: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Load a backup made by `postern backup` into the configured state directory, which must
    /// be empty. Run it with the daemon stopped, as the user the daemon runs as; the key file
    /// kept with the backup must already be at `secrets.key_file`.
    Restore {
        /// The backup file.
        #[arg(value_name = "BACKUP")]
        backup: PathBuf,
    },
    /// Copy the sled store of a stopped daemon into the empty PostgreSQL database named by
    /// `--config` (whose `secrets.key_file` must hold the same key), and check the counts.
    /// The sled store is left as it was.
    MigrateStore {
        /// The configuration of the daemon whose sled store is copied.
        #[arg(long, value_name = "OLD_CONFIG")]
        from: PathBuf,
    },
    /// Check the store's invariants (indexes, counts, sealed secrets, records that belong to
    /// nobody) and report each problem; exit 0 when clean, 1 when problems are found. A sled
    /// store must not be open in a running daemon.
    CheckStore {
        /// Rebuild what follows from the records (indexes, counts), remove what belongs to
        /// nobody, say what changed, and check again.
        #[arg(long)]
        repair: bool,
    },
}
