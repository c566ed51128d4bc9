//! Crash torture: a mixed load against the real daemon (users added with a role and enrolled,
//! sign-ins through the web, backups taken), killed with SIGKILL at a random moment, many
//! times over. After every kill the stopped store passes `posternd check-store`, and once the
//! daemon is back every write it acknowledged, in every round so far, is there.
//!
//! The suite runs a short version on whichever backend this run of it tests; a long one is
//! `TORTURE_ROUNDS=100 cargo test -p postern-tests --test e2e torture -- --nocapture` (with
//! `E2E_STORE=postgres` for PostgreSQL).

use crate::browser::*;
use crate::fixture::{Daemon, Site, bin};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What the daemon said was done: each user added, and whether their enrolment was.
type Acknowledged = BTreeMap<String, bool>;

fn rounds() -> u32 {
    std::env::var("TORTURE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// A pause from 150 to 1,350 ms, different each time.
fn random_pause() -> Duration {
    // Randomness from the hasher's per-process keys: no clock, no extra crate.
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    let nanos = hasher.finish() as u32;
    Duration::from_millis(150 + u64::from(nanos % 1_200))
}

/// One round: the load runs until the daemon is killed; returns what it acknowledged.
fn round(site: &Site, daemon: &Daemon, number: u32) -> (Acknowledged, u32, u32) {
    let killed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let adding = scope.spawn(|| {
            let mut acknowledged = Acknowledged::new();
            for i in 0.. {
                let name = format!("r{number}u{i}");
                let added = site.cli_with_stdin(
                    &[
                        "user",
                        "add",
                        &name,
                        "--email",
                        &format!("{name}@example.com"),
                        "--role",
                        "staff",
                        "--password-stdin",
                    ],
                    &format!("{PASSWORD}\n"),
                );
                if !added.status.success() {
                    break;
                }
                acknowledged.insert(name.clone(), false);
                if i % 2 == 0 {
                    if !site
                        .cli(&["mfa", "set-method", &name, "email"])
                        .status
                        .success()
                    {
                        break;
                    }
                    acknowledged.insert(name, true);
                }
            }
            acknowledged
        });
        let signing_in = scope.spawn(|| {
            let mut done = 0;
            while !killed.load(Ordering::Relaxed) {
                let browser = Browser::new(daemon);
                let Some(login) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    browser.visit(&format!("{}/login", browser.issuer))
                }))
                .ok() else {
                    break;
                };
                let signed_in = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    page_body(&browser.sign_in(login, "dave", PASSWORD)).contains("Your account")
                }));
                match signed_in {
                    Ok(true) => done += 1,
                    _ => break,
                }
            }
            done
        });
        let backing_up = scope.spawn(|| {
            let mut taken = 0;
            let file = site.dir.path().join("torture.backup");
            while site
                .cli(&["backup", &file.display().to_string(), "--force"])
                .status
                .success()
            {
                taken += 1;
            }
            taken
        });
        std::thread::sleep(random_pause());
        let pid = nix::unistd::Pid::from_raw(daemon.pid() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("SIGKILL");
        killed.store(true, Ordering::Relaxed);
        (
            adding.join().unwrap(),
            signing_in.join().unwrap(),
            backing_up.join().unwrap(),
        )
    })
}

/// `posternd check-store` on the stopped daemon's store: it must be clean.
fn check_store(site: &Site) {
    let output = std::process::Command::new(bin("posternd"))
        .arg("--config")
        .arg(&site.config)
        .arg("check-store")
        .output()
        .expect("run check-store");
    assert!(
        output.status.success(),
        "the store is not clean after a kill:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every acknowledged user is there, with their role, and enrolled if that was acknowledged.
fn all_there(site: &Site, acknowledged: &Acknowledged) {
    let listed: serde_json::Value =
        serde_json::from_str(&site.ok(&["--json", "user", "list"])).expect("the user list");
    let by_name: BTreeMap<&str, &serde_json::Value> = listed
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|u| Some((u["username"].as_str()?, u)))
        .collect();
    for (name, enrolled) in acknowledged {
        let user = by_name
            .get(name.as_str())
            .unwrap_or_else(|| panic!("{name} was acknowledged and is lost"));
        assert!(
            user["roles"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r == "staff")),
            "{name}'s role is lost: {user}"
        );
        if *enrolled {
            assert_eq!(
                user["mfa"]["method"], "email",
                "{name}'s enrolment is lost: {user}"
            );
        }
    }
}

#[test]
fn killed_at_random_moments_the_daemon_loses_nothing_it_acknowledged() {
    let site = Site::new();
    let mut daemon = site.start();
    site.ok(&["role", "add", "staff"]);
    site.add_user("dave", &[]);
    let mut acknowledged = Acknowledged::new();
    let (mut signed_in, mut backups) = (0, 0);
    let started = Instant::now();
    for number in 0..rounds() {
        let (added, sign_ins, taken) = round(&site, &daemon, number);
        drop(daemon);
        acknowledged.extend(added);
        signed_in += sign_ins;
        backups += taken;
        check_store(&site);
        daemon = site.start();
        all_there(&site, &acknowledged);
    }
    eprintln!(
        "torture: {} rounds in {:.0} s, {} users and {} enrolments acknowledged, {signed_in} sign-ins, {backups} backups, nothing lost",
        rounds(),
        started.elapsed().as_secs_f64(),
        acknowledged.len(),
        acknowledged.values().filter(|e| **e).count(),
    );
    assert!(!acknowledged.is_empty(), "the load acknowledged nothing");
}
