//! `postern-bench`: starts its own release `posternd` on a temporary state directory and
//! loopback ports, seeds users, and measures what the issue asks, printing one table and
//! writing the same figures as JSON. See the README's "Performance" section.

mod bounds;
mod cpu;
mod daemon;
mod http;
mod jwk;
mod load;
mod pam;
mod report;
mod seed;
mod signin;
mod soak;

use anyhow::Context;
use bounds::Bound;
use clap::Parser;
use load::Figure;
use openidconnect::core::CoreJwsSigningAlgorithm;
use signin::RelyingParty;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Parser)]
#[command(name = "postern-bench", about = "Measure posternd on this machine")]
struct Args {
    /// Users to seed (TOTP enrolled, in a role that requires MFA).
    #[arg(long, default_value_t = 10_000)]
    users: u64,
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Concurrent connections for the cheap endpoints: enough to keep every core busy (the
    /// table's idle column shows whether they did).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Concurrent sign-ins and PAM logins. Default: two a core.
    #[arg(long)]
    workers: Option<usize>,
    /// Also write the figures here as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Run only these measurements (for profiling one thing): discovery, jwks, sign-ins,
    /// refresh, userinfo, introspection, pam. The bounds are always measured.
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    only: Vec<String>,
    /// The store: the embedded `sled`, or `postgres` (a server the bench starts itself).
    #[arg(long, default_value = "sled", value_parser = ["sled", "postgres"])]
    store: String,
    /// Daemons behind the load generator, sharing one PostgreSQL store; every connection
    /// goes to one of them in turn.
    #[arg(long, default_value_t = 1)]
    daemons: usize,
    /// Instead of the table: a mixed load for this long ("10m", "90s"), reporting the
    /// daemon's memory, open descriptors and errors at each sample (see --sample-every).
    #[arg(long, value_name = "DURATION", value_parser = soak::parse_duration)]
    soak: Option<std::time::Duration>,
    /// Seconds between the soak's samples.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    sample_every: u64,
}

impl Args {
    fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|n| n == name)
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.users >= 1, "--users must be at least 1");
    anyhow::ensure!(
        (1..=256).contains(&args.connections),
        "--connections must be 1 to 256"
    );
    anyhow::ensure!(
        args.seconds > 0.0 && args.seconds <= 600.0,
        "--seconds must be above 0 and at most 600"
    );
    anyhow::ensure!((1..=4).contains(&args.daemons), "--daemons must be 1 to 4");
    anyhow::ensure!(
        args.daemons == 1 || args.store == "postgres",
        "several daemons share a store only on PostgreSQL: add --store postgres"
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let binary = daemon::release_binary()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let json = match args.soak {
        Some(length) => {
            anyhow::ensure!(args.daemons == 1, "the soak runs against one daemon");
            anyhow::ensure!(args.sample_every >= 1, "--sample-every must be at least 1");
            let report = runtime.block_on(soak(&args, &binary, length))?;
            soak::print_summary(&report);
            serde_json::to_string_pretty(&report)?
        }
        None => {
            let report = runtime.block_on(measure(&args, &binary))?;
            report::print(&report);
            serde_json::to_string_pretty(&report)?
        }
    };
    if let Some(path) = &args.json {
        std::fs::write(path, json).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

/// A seeded site and its started daemon, on the store `--store` names.
struct Prepared {
    /// Declared first: the server stops after the daemon.
    postgres: Option<postern_testkit::Postgres>,
    setup: daemon::Setup,
    site: daemon::Site,
    seed_seconds: f64,
    state_dir_bytes: u64,
}

async fn prepare(args: &Args) -> anyhow::Result<Prepared> {
    let postgres = (args.store == "postgres").then(postern_testkit::Postgres::start);
    let setup = daemon::Setup {
        postgres_url: postgres.as_ref().map(postern_testkit::Postgres::url),
        issuer: None,
    };
    let site = daemon::Site::new(&setup)?;
    let seeding = Instant::now();
    let (state, key, users) = (site.state_dir(), site.key_file(), args.users);
    match &setup.postgres_url {
        Some(url) => seed::seed_postgres(url, &key, users).await?,
        None => tokio::task::spawn_blocking(move || seed::seed(&state, &key, users)).await??,
    }
    let seed_seconds = seeding.elapsed().as_secs_f64();
    // Write the seeded gigabytes out now, so the kernel's writeback does not run during the
    // measurements (it took a third of discovery's rate with a million users).
    std::process::Command::new("sync").status()?;
    let state_dir_bytes = match &postgres {
        Some(server) => server.data_bytes(),
        None => site.state_dir_bytes(),
    };
    Ok(Prepared {
        postgres,
        setup,
        site,
        seed_seconds,
        state_dir_bytes,
    })
}

async fn soak(
    args: &Args,
    binary: &std::path::Path,
    length: std::time::Duration,
) -> anyhow::Result<soak::SoakReport> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let prepared = prepare(args).await?;
    let daemon = daemon::Daemon::start(&prepared.site, binary)?;
    let (id, secret) = prepared.site.add_client("soak", "EdDSA")?;
    let rp = RelyingParty::new(&daemon.http, id, secret, CoreJwsSigningAlgorithm::EdDsa).await?;
    let load = soak::Load {
        site: &prepared.site,
        daemon: &daemon,
        rp: Arc::new(rp),
        pool: Arc::new(seed::UserPool::new(args.users)),
        workers: args.workers.unwrap_or(cores),
        pam: running_as_root(),
    };
    let every = std::time::Duration::from_secs(args.sample_every);
    let report = soak::run(load, &args.store, args.users, length, every).await?;
    daemon.stop()?;
    drop(prepared.postgres);
    Ok(report)
}

async fn measure(args: &Args, binary: &std::path::Path) -> anyhow::Result<report::Report> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Two logins a core: while one waits on the network or the disk, the other hashes.
    let workers = args.workers.unwrap_or(2 * cores);
    let Prepared {
        postgres: _postgres,
        mut setup,
        site,
        seed_seconds,
        state_dir_bytes,
    } = prepare(args).await?;
    let users = args.users;

    let daemon = daemon::Daemon::start(&site, binary)?;
    let issuer = daemon.http.clone();
    // More daemons answer as the first one's issuer, on the same store and master key.
    setup.issuer = Some(issuer.clone());
    let mut others = Vec::new();
    for _ in 1..args.daemons {
        let other = daemon::Site::new(&setup)?;
        std::fs::copy(site.key_file(), other.key_file())?;
        let started = daemon::Daemon::start(&other, binary)?;
        others.push((other, started));
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let rss_idle = daemon.rss_bytes()?;
    // Connection i goes to daemon i mod n.
    let targets: Vec<String> = std::iter::once(issuer.clone())
        .chain(others.iter().map(|(_, d)| d.http.clone()))
        .collect();
    let pam_sockets: Vec<std::path::PathBuf> = std::iter::once(site.pam_socket())
        .chain(others.iter().map(|(s, _)| s.pam_socket()))
        .collect();

    // The bounds, measured first, while nothing else runs.
    let bound_seconds = (args.seconds / 2.0).clamp(0.5, 5.0);
    let mut argon2 = Bound::first(bounds::argon2, bound_seconds).await?;
    let mut rs256 = Bound::first(bounds::rs256, bound_seconds).await?;
    let eddsa = Bound::first(bounds::eddsa, bound_seconds).await?;

    let (id, secret) = site.add_client("bench-rs256", "RS256")?;
    let rs_rp = Arc::new(
        RelyingParty::new(
            &issuer,
            id,
            secret,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        )
        .await?,
    );
    let (id, secret) = site.add_client("bench-eddsa", "EdDSA")?;
    let ed_rp =
        Arc::new(RelyingParty::new(&issuer, id, secret, CoreJwsSigningAlgorithm::EdDsa).await?);
    // A TOTP code works once per user and step: the pool hands out users that can still sign in.
    let pool = Arc::new(seed::UserPool::new(users));
    let take_user = {
        let pool = pool.clone();
        move || pool.take()
    };

    let mut figures = Vec::new();
    if args.wants("discovery") {
        let path = "/.well-known/openid-configuration";
        figures.push(get_loop(&targets, "discovery", path, args).await);
    }
    if args.wants("jwks") {
        figures.push(get_loop(&targets, "jwks", "/jwks", args).await);
    }
    if args.wants("sign-ins") {
        for (rp, name) in [
            (&ed_rp, "browser sign-ins (EdDSA)"),
            (&rs_rp, "browser sign-ins (RS256)"),
        ] {
            let run = sign_in_loop(&targets, name, rp, take_user.clone(), workers, args);
            figures.push(argon2.around(run).await?);
        }
    }
    if args.wants("refresh") {
        for (rp, name) in [
            (&rs_rp, "refresh grants (RS256)"),
            (&ed_rp, "refresh grants (EdDSA)"),
        ] {
            // Each connection refreshes its own token family, from its own sign-in.
            let mut refresh_tokens = Vec::new();
            let mut connection = http::Connection::open(&issuer).await?;
            for _ in 0..args.connections {
                let tokens = signin::sign_in(&mut connection, rp, take_user()).await?;
                refresh_tokens.push(tokens.refresh_token);
            }
            let run = refresh_loop(&targets, name, rp, refresh_tokens, args);
            if Arc::ptr_eq(rp, &rs_rp) {
                figures.push(rs256.around(run).await?);
            } else {
                // The EdDSA target is a rate, not a share: the first measurement will do.
                let mut figure = run.await;
                figure.compare_with(eddsa.mean());
                figures.push(figure);
            }
        }
    }
    if args.wants("userinfo") || args.wants("introspection") {
        let mut access_tokens = Vec::new();
        let mut connection = http::Connection::open(&issuer).await?;
        for _ in 0..args.connections.min(4) {
            let tokens = signin::sign_in(&mut connection, &ed_rp, take_user()).await?;
            access_tokens.push(tokens.access_token);
        }
        if args.wants("userinfo") {
            figures.push(userinfo_loop(&targets, &access_tokens, args).await);
        }
        if args.wants("introspection") {
            figures.push(introspection_loop(&targets, &ed_rp, &access_tokens, args).await);
        }
    }
    if running_as_root() && args.wants("pam") {
        // Throughput with every core busy.
        let name = "PAM logins (password + TOTP)";
        let (sockets, take_user_now, seconds) =
            (pam_sockets.clone(), take_user.clone(), args.seconds);
        let run = async move {
            tokio::task::spawn_blocking(move || {
                let log_in = |socket: &mut std::path::PathBuf| pam::log_in(socket, take_user_now());
                let socket_of = |worker: usize| Ok(sockets[worker % sockets.len()].clone());
                load::run_blocking(name, workers, seconds, socket_of, log_in)
            })
            .await
            .unwrap_or_else(|panicked| load::Figure::failed(name, panicked.to_string()))
        };
        figures.push(argon2.around(run).await?);
        // Then latency, one login at a time, which is what a person at an SSH prompt waits
        // (at saturation, logins also wait for a core). Each login alternates with one
        // Argon2id verification here, so that the hash the target allows 5 ms above is
        // measured on the same machine at the same moments.
        let (socket, take_user, seconds) = (site.pam_socket(), take_user.clone(), args.seconds);
        let verify = bounds::argon2_verification()?;
        let (login, hash) = tokio::task::spawn_blocking(move || {
            load::run_in_turn(
                seconds,
                (report::PAM_LATENCY, &|| pam::log_in(&socket, take_user())),
                (report::HASH_LATENCY, &verify),
            )
        })
        .await?;
        figures.extend([login, hash]);
    }

    let rss_after = daemon.rss_bytes()?;
    let users_used = pool.taken();
    for (_, other) in others {
        other.stop()?;
    }
    daemon.stop()?;
    Ok(report::Report {
        machine: report::Machine::read(cores),
        store: args.store.clone(),
        daemons: args.daemons,
        users: args.users,
        seconds: args.seconds,
        connections: args.connections,
        users_signed_in: users_used,
        seed_seconds,
        startup_ms: daemon_startup_ms(&site, binary)?,
        state_dir_bytes,
        rss_idle_bytes: rss_idle,
        rss_after_load_bytes: rss_after,
        argon2_per_second: argon2.mean(),
        rs256_signatures_per_second: rs256.mean(),
        eddsa_signatures_per_second: eddsa.mean(),
        argon2_measured: argon2.runs,
        rs256_measured: rs256.runs,
        figures,
        pam_skipped: !running_as_root() && args.wants("pam"),
    })
}

/// Start-up measured again on the now-used store, stopped at once: the time from exec to the
/// admin socket answering.
fn daemon_startup_ms(site: &daemon::Site, binary: &std::path::Path) -> anyhow::Result<f64> {
    let daemon = daemon::Daemon::start(site, binary)?;
    let took = daemon.started_in.as_secs_f64() * 1000.0;
    daemon.stop()?;
    Ok(took)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The value of a top-level string member in a small JSON object, without parsing it all
/// (token values never contain quotes or escapes).
fn json_string(body: &[u8], key: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let marker = format!("\"{key}\":\"");
    let start = text.find(&marker)? + marker.len();
    let end = text[start..].find('"')?;
    Some(text[start..start + end].to_owned())
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|meta| std::os::unix::fs::MetadataExt::uid(&meta) == 0)
        .unwrap_or(false)
}

/// The daemon connection `worker` goes to.
fn target(targets: &[String], worker: usize) -> String {
    targets[worker % targets.len()].clone()
}

async fn get_loop(targets: &[String], name: &str, path: &'static str, args: &Args) -> Figure {
    let targets = targets.to_vec();
    load::run(
        name,
        args.connections,
        args.seconds,
        move |worker| {
            let issuer = target(&targets, worker);
            async move { http::Connection::open(&issuer).await }
        },
        move |mut connection| async move {
            let result = connection.get(path, None).await.map(|_| ());
            (connection, result)
        },
    )
    .await
}

async fn sign_in_loop(
    targets: &[String],
    name: &str,
    rp: &Arc<RelyingParty>,
    take_user: impl Fn() -> (u64, String) + Clone + Send + Sync + 'static,
    workers: usize,
    args: &Args,
) -> Figure {
    let (targets, rp) = (targets.to_vec(), rp.clone());
    load::run(
        name,
        workers,
        args.seconds,
        move |worker| {
            let issuer = target(&targets, worker);
            async move { http::Connection::open(&issuer).await }
        },
        move |mut connection| {
            let (rp, index) = (rp.clone(), take_user());
            async move {
                let result = signin::sign_in(&mut connection, &rp, index)
                    .await
                    .map(|_| ());
                (connection, result)
            }
        },
    )
    .await
}

async fn refresh_loop(
    targets: &[String],
    name: &str,
    rp: &Arc<RelyingParty>,
    refresh_tokens: Vec<String>,
    args: &Args,
) -> Figure {
    let targets = targets.to_vec();
    let refresh_tokens = Arc::new(refresh_tokens);
    let basic = Arc::new(rp.basic.clone());
    load::run(
        name,
        args.connections,
        args.seconds,
        move |worker| {
            let (issuer, refresh_token) =
                (target(&targets, worker), refresh_tokens[worker].clone());
            async move { Ok((http::Connection::open(&issuer).await?, refresh_token)) }
        },
        move |(mut connection, refresh_token)| {
            let basic = basic.clone();
            async move {
                let form = format!("grant_type=refresh_token&refresh_token={refresh_token}");
                let result = connection.post_form("/token", &form, Some(&basic)).await;
                let next = result.and_then(|body| {
                    anyhow::ensure!(contains(&body, b"\"id_token\":\""), "no id_token");
                    json_string(&body, "refresh_token").context("no refresh_token")
                });
                match next {
                    Ok(rotated) => ((connection, rotated), Ok(())),
                    Err(e) => ((connection, refresh_token), Err(e)),
                }
            }
        },
    )
    .await
}

async fn userinfo_loop(targets: &[String], access_tokens: &[String], args: &Args) -> Figure {
    let targets = targets.to_vec();
    let tokens = Arc::new(access_tokens.to_vec());
    load::run(
        "userinfo",
        args.connections,
        args.seconds,
        move |worker| {
            let (issuer, token) = (
                target(&targets, worker),
                tokens[worker % tokens.len()].clone(),
            );
            async move { Ok((http::Connection::open(&issuer).await?, token)) }
        },
        move |(mut connection, token)| async move {
            let result = connection.get("/userinfo", Some(&token)).await.map(|_| ());
            ((connection, token), result)
        },
    )
    .await
}

async fn introspection_loop(
    targets: &[String],
    rp: &Arc<RelyingParty>,
    access_tokens: &[String],
    args: &Args,
) -> Figure {
    let targets = targets.to_vec();
    let tokens = Arc::new(access_tokens.to_vec());
    let basic = Arc::new(rp.basic.clone());
    load::run(
        "introspection",
        args.connections,
        args.seconds,
        move |worker| {
            let (issuer, token) = (
                target(&targets, worker),
                tokens[worker % tokens.len()].clone(),
            );
            async move { Ok((http::Connection::open(&issuer).await?, token)) }
        },
        move |(mut connection, token)| {
            let basic = basic.clone();
            async move {
                let form = format!("token={token}");
                let result = connection
                    .post_form("/introspect", &form, Some(&basic))
                    .await
                    .and_then(|body| {
                        // A substring test, not a JSON parse: the load generator must stay
                        // light, for it shares the machine with the daemon.
                        anyhow::ensure!(
                            contains(&body, b"\"active\":true"),
                            "token not active: {}",
                            String::from_utf8_lossy(&body)
                        );
                        Ok(())
                    });
                ((connection, token), result)
            }
        },
    )
    .await
}
