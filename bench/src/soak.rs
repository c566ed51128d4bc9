//! `--soak DURATION`: a mixed load for a long time, sampled at a steady interval (a minute by
//! default): the daemon's resident memory and open file descriptors, and each kind of work's
//! operations and errors in the interval. Memory and descriptors should stay flat and errors at
//! zero; the README records a run.
//!
//! The load: browser sign-ins (password and TOTP, tokens exchanged), refresh-token rotations,
//! userinfo reads, administration (a user added with a role, the role taken away, the user
//! deleted) and, as root, PAM logins. Bounded in time and in workers, loopback only.

use crate::daemon::{Daemon, Site};
use crate::seed::UserPool;
use crate::signin::RelyingParty;
use crate::{contains, http, json_string, pam, signin};
use anyhow::Context;
use postern_proto::Secret;
use postern_proto::admin::{AdminRequest, NewUser};
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The kinds of work, in the order the table shows them.
const KINDS: [&str; 5] = ["sign-ins", "refreshes", "userinfo", "admin", "pam"];

/// Reads "10m", "90s", "1h" or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = match text.chars().last() {
        Some('s') => (&text[..text.len() - 1], 1),
        Some('m') => (&text[..text.len() - 1], 60),
        Some('h') => (&text[..text.len() - 1], 3600),
        _ => (text, 1),
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write e.g. 10m, 90s or 1h"))?;
    match number.checked_mul(scale) {
        Some(0) => Err("the soak must last at least a second".into()),
        Some(seconds) if seconds <= 24 * 3600 => Ok(Duration::from_secs(seconds)),
        _ => Err("the soak lasts at most 24h".into()),
    }
}

/// One kind of work's counts: operations that succeeded and failed, and the first failure.
#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Counts {
    fn record(&self, result: anyhow::Result<()>) {
        match result {
            Ok(()) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().unwrap();
                first.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
}

/// What one interval saw.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds since the load began, at the end of the interval.
    pub at_seconds: u64,
    pub rss_bytes: u64,
    pub open_fds: u64,
    /// Per kind of work: operations that succeeded and that failed in the interval.
    pub operations: BTreeMap<String, (u64, u64)>,
}

#[derive(Debug, Serialize)]
pub struct SoakReport {
    pub store: String,
    pub users: u64,
    pub seconds: u64,
    pub sample_every_seconds: u64,
    pub samples: Vec<Sample>,
    /// The first error of each kind that had one.
    pub first_errors: BTreeMap<String, String>,
}

pub struct Load<'a> {
    pub site: &'a Site,
    pub daemon: &'a Daemon,
    pub rp: Arc<RelyingParty>,
    pub pool: Arc<UserPool>,
    pub workers: usize,
    pub pam: bool,
}

/// How long a userinfo reader uses an access token before refreshing it.
const ACCESS_RENEWAL: Duration = Duration::from_secs(300);

/// A userinfo reader's tokens.
struct Held {
    access: String,
    refresh: String,
    since: Instant,
}

/// Runs the load for `length`, sampling every `every`.
pub async fn run(
    load: Load<'_>,
    store: &str,
    users: u64,
    length: Duration,
    every: Duration,
) -> anyhow::Result<SoakReport> {
    let counts: Arc<BTreeMap<&'static str, Counts>> =
        Arc::new(KINDS.iter().map(|k| (*k, Counts::default())).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let issuer = load.daemon.http.clone();

    for _ in 0..load.workers {
        let (rp, pool, issuer) = (load.rp.clone(), load.pool.clone(), issuer.clone());
        tasks.push(spawn_loop("sign-ins", &counts, &stop, move || {
            let (rp, pool, issuer) = (rp.clone(), pool.clone(), issuer.clone());
            async move {
                let mut connection = http::Connection::open(&issuer).await?;
                signin::sign_in(&mut connection, &rp, pool.take()).await?;
                Ok(())
            }
        }));
    }
    // Each refresher signs in once, then rotates its token family for the rest of the soak.
    for _ in 0..2 {
        let (rp, pool, issuer) = (load.rp.clone(), load.pool.clone(), issuer.clone());
        let mut connection = http::Connection::open(&issuer).await?;
        let first = signin::sign_in(&mut connection, &rp, pool.take()).await?;
        let token = Arc::new(Mutex::new(first.refresh_token));
        let basic = Arc::new(rp.basic.clone());
        tasks.push(spawn_loop("refreshes", &counts, &stop, move || {
            let (token, basic, issuer) = (token.clone(), basic.clone(), issuer.clone());
            async move {
                let current = token.lock().unwrap().clone();
                let mut connection = http::Connection::open(&issuer).await?;
                let form = format!("grant_type=refresh_token&refresh_token={current}");
                let body = connection.post_form("/token", &form, Some(&basic)).await?;
                let rotated = json_string(&body, "refresh_token").context("no refresh_token")?;
                *token.lock().unwrap() = rotated;
                Ok(())
            }
        }));
    }
    // Each reader signs in once and reads userinfo with its access token, refreshing it as an
    // application does before it expires (half of `tokens.access_token_lifetime`'s default).
    for _ in 0..2 {
        let (rp, pool, issuer) = (load.rp.clone(), load.pool.clone(), issuer.clone());
        let mut connection = http::Connection::open(&issuer).await?;
        let first = signin::sign_in(&mut connection, &rp, pool.take()).await?;
        let held = Arc::new(Mutex::new(Held {
            access: first.access_token,
            refresh: first.refresh_token,
            since: Instant::now(),
        }));
        let basic = Arc::new(rp.basic.clone());
        tasks.push(spawn_loop("userinfo", &counts, &stop, move || {
            let (held, basic, issuer) = (held.clone(), basic.clone(), issuer.clone());
            async move {
                let mut connection = http::Connection::open(&issuer).await?;
                let (stale, refresh) = {
                    let held = held.lock().unwrap();
                    (held.since.elapsed() > ACCESS_RENEWAL, held.refresh.clone())
                };
                if stale {
                    let form = format!("grant_type=refresh_token&refresh_token={refresh}");
                    let body = connection.post_form("/token", &form, Some(&basic)).await?;
                    *held.lock().unwrap() = Held {
                        access: json_string(&body, "access_token").context("no access_token")?,
                        refresh: json_string(&body, "refresh_token").context("no refresh_token")?,
                        since: Instant::now(),
                    };
                }
                let access = held.lock().unwrap().access.clone();
                let body = connection.get("/userinfo", Some(&access)).await?;
                anyhow::ensure!(contains(&body, b"\"sub\":\""), "no sub in userinfo");
                Ok(())
            }
        }));
    }
    let admin_socket = load.site.admin_socket();
    let made = Arc::new(AtomicU64::new(0));
    tasks.push(spawn_blocking_loop("admin", &counts, &stop, move || {
        let username = format!("soak-{}", made.fetch_add(1, Ordering::Relaxed));
        administer(&admin_socket, &username)
    }));
    if load.pam {
        let (socket, pool) = (load.site.pam_socket(), load.pool.clone());
        tasks.push(spawn_blocking_loop("pam", &counts, &stop, move || {
            pam::log_in(&socket, pool.take())
        }));
    }

    let began = Instant::now();
    let mut samples = Vec::new();
    let mut before: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    while began.elapsed() < length {
        let left = length.saturating_sub(began.elapsed());
        tokio::time::sleep(every.min(left)).await;
        let now: BTreeMap<&str, (u64, u64)> = counts
            .iter()
            .map(|(kind, c)| {
                let totals = (
                    c.ok.load(Ordering::Relaxed),
                    c.errors.load(Ordering::Relaxed),
                );
                (*kind, totals)
            })
            .collect();
        let operations = now
            .iter()
            .map(|(kind, (ok, errors))| {
                let (ok_before, errors_before) = before.get(kind).copied().unwrap_or_default();
                (kind.to_string(), (ok - ok_before, errors - errors_before))
            })
            .collect();
        before = now;
        let sample = Sample {
            at_seconds: began.elapsed().as_secs(),
            rss_bytes: load.daemon.rss_bytes()?,
            open_fds: load.daemon.open_fds()?,
            operations,
        };
        print_sample(&sample, load.pam);
        samples.push(sample);
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let first_errors = counts
        .iter()
        .filter_map(|(kind, c)| {
            let first = c.first_error.lock().unwrap().clone()?;
            Some((kind.to_string(), first))
        })
        .collect();
    Ok(SoakReport {
        store: store.to_owned(),
        users,
        seconds: length.as_secs(),
        sample_every_seconds: every.as_secs(),
        samples,
        first_errors,
    })
}

/// A user added with the seeded role, the role taken away, the user deleted: the writes an
/// administrator's day makes, through the admin socket.
fn administer(socket: &std::path::Path, username: &str) -> anyhow::Result<()> {
    let mut connection =
        postern_proto::client::Connection::connect(socket, Duration::from_secs(30))?;
    connection.admin(&AdminRequest::UserAdd(NewUser {
        username: username.to_owned(),
        email: format!("{username}@example.com"),
        display_name: None,
        roles: vec![crate::seed::ROLE.to_owned()],
        password: Secret::new(crate::seed::PASSWORD),
    }))?;
    connection.admin(&AdminRequest::UserRemoveRole {
        username: username.to_owned(),
        role: crate::seed::ROLE.to_owned(),
    })?;
    connection.admin(&AdminRequest::UserDelete {
        username: username.to_owned(),
    })?;
    Ok(())
}

fn spawn_loop<F, Fut>(
    kind: &'static str,
    counts: &Arc<BTreeMap<&'static str, Counts>>,
    stop: &Arc<AtomicBool>,
    operation: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let (counts, stop) = (counts.clone(), stop.clone());
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            counts[kind].record(operation().await);
        }
    })
}

fn spawn_blocking_loop(
    kind: &'static str,
    counts: &Arc<BTreeMap<&'static str, Counts>>,
    stop: &Arc<AtomicBool>,
    operation: impl Fn() -> anyhow::Result<()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let (counts, stop) = (counts.clone(), stop.clone());
    tokio::task::spawn_blocking(move || {
        while !stop.load(Ordering::Relaxed) {
            counts[kind].record(operation());
        }
    })
}

fn print_sample(sample: &Sample, pam: bool) {
    let mut line = format!(
        "{:>6}s  rss {:>7.1} MiB  fds {:>4}",
        sample.at_seconds,
        sample.rss_bytes as f64 / (1 << 20) as f64,
        sample.open_fds
    );
    for kind in KINDS.iter().filter(|k| pam || **k != "pam") {
        let (ok, errors) = sample.operations[*kind];
        line.push_str(&format!("  {kind} {ok}"));
        if errors > 0 {
            line.push_str(&format!(" ({errors} errors)"));
        }
    }
    println!("{line}");
}

/// The summary after the samples: how memory and descriptors moved, and the errors.
pub fn print_summary(report: &SoakReport) {
    let (Some(first), Some(last)) = (report.samples.first(), report.samples.last()) else {
        return;
    };
    let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
    let max_rss = report
        .samples
        .iter()
        .map(|s| s.rss_bytes)
        .max()
        .unwrap_or(0);
    let max_fds = report.samples.iter().map(|s| s.open_fds).max().unwrap_or(0);
    let errors: u64 = report
        .samples
        .iter()
        .flat_map(|s| s.operations.values())
        .map(|(_, errors)| errors)
        .sum();
    let operations: u64 = report
        .samples
        .iter()
        .flat_map(|s| s.operations.values())
        .map(|(ok, _)| ok)
        .sum();
    println!(
        "soak of {} s on {} with {} users: {operations} operations, {errors} errors",
        report.seconds, report.store, report.users
    );
    println!(
        "resident memory: {:.1} MiB first, {:.1} MiB last, {:.1} MiB at most",
        mib(first.rss_bytes),
        mib(last.rss_bytes),
        mib(max_rss)
    );
    println!(
        "open descriptors: {} first, {} last, {max_fds} at most",
        first.open_fds, last.open_fds
    );
    for (kind, error) in &report.first_errors {
        println!("first {kind} error: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_written_and_nonsense_is_refused() {
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        for bad in ["", "ten minutes", "0m", "25h", "-3s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
