//! The `posternd` binary: parse arguments, load and check the configuration, then run the
//! daemon or restore a backup.

use clap::Parser;
use postern_daemon::args::{Args, Command};
use postern_daemon::config::Config;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: token endpoints allocate many small, short-lived
/// objects, and glibc spent a sixth of their time in malloc and free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The exit status when the store was written by a newer posternd (a downgrade): EX_DATAERR of
/// sysexits.h. The systemd unit names it in `RestartPreventExitStatus=`, so a downgraded daemon
/// stops with its message instead of being restarted into the same refusal.
const EXIT_STORE_TOO_NEW: u8 = 65;

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::load(args.config.as_deref(), std::env::vars()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("posternd: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.check {
        println!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    let log_level = postern_daemon::logging::init(&config);
    match args.command {
        Some(Command::Restore { backup }) => return restore(&config, &backup),
        Some(Command::MigrateStore { from }) => return migrate_store(&from, &config),
        Some(Command::CheckStore { repair }) => return check_store(&config, repair),
        None => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("posternd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(postern_daemon::serve::run(
        config,
        args.config.clone(),
        log_level,
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("posternd: {e}");
            if e.is_downgrade() {
                ExitCode::from(EXIT_STORE_TOO_NEW)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn restore(config: &Config, backup: &std::path::Path) -> ExitCode {
    use postern_daemon::clock::{Clock, SystemClock};
    let restored = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| postern_daemon::restore::RestoreError::Other(e.to_string()))
        .and_then(|runtime| {
            runtime.block_on(postern_daemon::restore::run(
                config,
                backup,
                SystemClock.unix_now(),
            ))
        });
    match restored {
        Ok(summary) => {
            println!(
                "restored {} records (store format {}, made by posternd {} at {}) into {}",
                summary.records,
                summary.header.store_format,
                summary.header.posternd_version,
                postern_daemon::clock::format_unix(summary.header.created_at),
                config.state_dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("posternd: restore: {e}");
            ExitCode::FAILURE
        }
    }
}

fn migrate_store(from: &std::path::Path, to: &Config) -> ExitCode {
    use postern_daemon::clock::{Clock, SystemClock};
    let source = match Config::load(Some(from), std::iter::empty()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("posternd: migrate-store: --from {}: {e}", from.display());
            return ExitCode::FAILURE;
        }
    };
    let moved = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|runtime| {
            runtime
                .block_on(postern_daemon::migrate_store::run(
                    &source,
                    to,
                    SystemClock.unix_now(),
                ))
                .map_err(|e| e.to_string())
        });
    match moved {
        Ok(moved) => {
            println!(
                "copied {} records into PostgreSQL; the counts match:",
                moved.records
            );
            for (what, count) in moved.counts {
                println!("  {what}: {count}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("posternd: migrate-store: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check_store(config: &Config, repair: bool) -> ExitCode {
    use postern_daemon::clock::{Clock, SystemClock};
    let checked = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|runtime| {
            runtime
                .block_on(postern_daemon::check_store::run(
                    config,
                    repair,
                    SystemClock.unix_now(),
                ))
                .map_err(|e| e.to_string())
        });
    let report = match checked {
        Ok(report) => report,
        Err(e) => {
            eprintln!("posternd: check-store: {e}");
            return ExitCode::FAILURE;
        }
    };
    for change in &report.repairs {
        println!("repaired: {change}");
    }
    let looked_at: Vec<String> = report
        .checked
        .iter()
        .map(|(what, n)| format!("{n} {what}"))
        .collect();
    println!("checked {}", looked_at.join(", "));
    if report.problems.is_empty() {
        println!("no problems found");
        return ExitCode::SUCCESS;
    }
    for problem in &report.problems {
        let hint = match (problem.repairable, repair) {
            (true, false) => " (--repair rebuilds it)",
            (true, true) => " (still there after the repair)",
            (false, _) => " (not repairable: needs a person)",
        };
        println!("problem: {}{hint}", problem.text);
    }
    println!("{} problem(s) found", report.problems.len());
    ExitCode::FAILURE
}
