//! `postern-fuzz`: feeds every parser that takes outside bytes with inputs made from real ones
//! (`mutate`), on stable Rust. Each target is a function that must not panic, hang, or report a
//! finding for any input. A failing input is written to `fuzz/regressions/<target>/` and the run
//! stops; `cargo test -p postern-fuzz` replays every kept input and runs a short smoke of each
//! target, so they cannot rot.
//!
//! ```sh
//! cargo run --release -p postern-fuzz -- --inputs 1000000            # every target
//! cargo run --release -p postern-fuzz -- --target http --inputs 100000 --seed 7
//! ```

mod mutate;
mod targets;

use clap::Parser;
use std::path::{Path, PathBuf};
use std::time::Instant;
use targets::Target;

#[derive(Debug, Parser)]
#[command(name = "postern-fuzz", about)]
struct Args {
    /// One target (frames, config, records, backup, http), or all of them.
    #[arg(long, default_value = "all")]
    target: String,
    /// How many inputs each target gets.
    #[arg(long, default_value_t = 100_000)]
    inputs: u64,
    /// The generator's seed: the same seed makes the same inputs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where failing inputs are kept.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/regressions"))]
    regressions: PathBuf,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let names: Vec<&str> = match args.target.as_str() {
        "all" => targets::NAMES.to_vec(),
        one if targets::NAMES.contains(&one) => vec![one],
        other => {
            eprintln!(
                "postern-fuzz: `{other}` is not a target; use one of {} or all",
                targets::NAMES.join(", ")
            );
            return std::process::ExitCode::from(2);
        }
    };
    quiet_panics();
    for name in names {
        let mut target = match Target::new(name) {
            Ok(target) => target,
            Err(e) => {
                eprintln!("postern-fuzz: {name}: cannot set up: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let started = Instant::now();
        match fuzz(&mut target, args.inputs, args.seed) {
            Ok(()) => {
                println!(
                    "{name}: {} inputs, no crash, hang or finding ({:.0} s)",
                    args.inputs,
                    started.elapsed().as_secs_f64()
                );
                if let Target::Http(http) = &target {
                    let answers: Vec<String> = http
                        .statuses
                        .iter()
                        .map(|(status, n)| format!("{status}: {n}"))
                        .collect();
                    println!("  answers: {}", answers.join(", "));
                }
            }
            Err(failure) => {
                let kept = keep(&args.regressions, name, &failure.input);
                println!(
                    "{name}: input {} failed: {}\n  kept as {}",
                    failure.index,
                    failure.why,
                    kept.display()
                );
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    std::process::ExitCode::SUCCESS
}

#[derive(Debug)]
pub struct Failure {
    pub index: u64,
    pub input: Vec<u8>,
    pub why: String,
}

/// Runs `inputs` inputs through `target`; the first that fails stops the run.
pub fn fuzz(target: &mut Target, inputs: u64, seed: u64) -> Result<(), Failure> {
    let mut mutator = mutate::Mutator::new(seed);
    let seeds = target.seeds();
    for seed_input in &seeds {
        check(target, seed_input).map_err(|why| Failure {
            index: 0,
            input: seed_input.clone(),
            why: format!("a seed fails: {why}"),
        })?;
    }
    for index in 1..=inputs {
        let input = mutator.input(&seeds, target.dictionary());
        check(target, &input).map_err(|why| Failure { index, input, why })?;
    }
    Ok(())
}

/// One input through the target: a panic or a finding is an error.
pub fn check(target: &mut Target, input: &[u8]) -> Result<(), String> {
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target.run(input)));
    match ran {
        Ok(result) => result,
        Err(panic) => Err(format!(
            "panicked: {}",
            panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)")
        )),
    }
}

/// Keeps a failing input as `DIR/<target>/<sha256 prefix>`, for the replay test.
fn keep(dir: &Path, target: &str, input: &[u8]) -> PathBuf {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(input);
    let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let path = dir.join(target).join(name);
    let _ = std::fs::create_dir_all(path.parent().unwrap_or(dir));
    if let Err(e) = std::fs::write(&path, input) {
        eprintln!(
            "postern-fuzz: cannot keep the input at {}: {e}",
            path.display()
        );
    }
    path
}

/// Panics are findings, reported once with their input; the default hook would print each.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every input kept under `regressions/` still goes through its target.
    #[test]
    fn kept_inputs_pass() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
        for name in targets::NAMES {
            let Ok(entries) = std::fs::read_dir(dir.join(name)) else {
                continue;
            };
            let mut target = Target::new(name).unwrap();
            for entry in entries {
                let path = entry.unwrap().path();
                let input = std::fs::read(&path).unwrap();
                if let Err(why) = check(&mut target, &input) {
                    panic!("{}: {why}", path.display());
                }
            }
        }
    }

    /// A short run of each target, so none of them rots; the README's command runs a million.
    #[test]
    fn each_target_survives_a_short_run() {
        for name in targets::NAMES {
            let inputs = if *name == "http" { 300 } else { 3_000 };
            let mut target = Target::new(name).unwrap();
            if let Err(failure) = fuzz(&mut target, inputs, 42) {
                panic!(
                    "{name}: input {} failed: {}: {:?}",
                    failure.index,
                    failure.why,
                    String::from_utf8_lossy(&failure.input)
                );
            }
        }
    }

    #[test]
    fn http_inputs_reach_the_handlers() {
        let mut target = Target::new("http").unwrap();
        fuzz(&mut target, 300, 9).unwrap();
        let Target::Http(http) = &target else {
            unreachable!()
        };
        let reached = |range: std::ops::Range<u16>| {
            http.statuses
                .iter()
                .filter(|(s, _)| range.contains(s))
                .map(|(_, n)| n)
                .sum::<u64>()
        };
        assert!(
            reached(200..400) > 0 && reached(400..404) > 0,
            "{:?}",
            http.statuses
        );
    }

    #[test]
    fn a_panicking_input_is_caught_and_reported() {
        let mut target = Target::Panics;
        let error = check(&mut target, b"boom").unwrap_err();
        assert!(error.contains("panicked: boom"), "{error}");
        assert!(check(&mut target, b"fine").is_ok());
    }
}
