//! The daemon's life: open the store, open the doors, wait for SIGTERM or SIGINT, then stop
//! accepting, let in-flight work finish within the grace period, remove the sockets, flush.

use crate::audit::{AuditAction, AuditDoor, AuditEvent, Outcome};
use crate::clock::{AdjustableClock, Clock, SystemClock};
use crate::config::Config;
use crate::context::{Context, Parts};
use crate::secrets::{MasterKey, SecretsError};
use crate::store::{SharedStore, StoreError};
use crate::tokens::keys::{KeyError, KeyRing};
use crate::unix_socket::{self, SocketError};
use crate::{admin_door, web};
use std::sync::Arc;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("PAM socket: {0}")]
    PamSocket(#[source] SocketError),
    #[error("admin socket: {0}")]
    AdminSocket(#[source] SocketError),
    #[error("cannot listen on {setting} = {addr}: {source}")]
    Bind {
        setting: &'static str,
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    /// Templates or TLS files that cannot be used.
    #[error("{0}")]
    Setup(String),
    #[error("web server failed: {0}")]
    Http(#[source] std::io::Error),
    #[error(
        "a write to the state directory failed ({0}); posternd stopped so that it starts again from what the disk holds (once the disk has room)"
    )]
    WriteFailed(String),
}

impl ServeError {
    /// Whether the store was written by a newer posternd (a downgrade): no restart mends it.
    pub fn is_downgrade(&self) -> bool {
        matches!(
            self,
            ServeError::Store(StoreError::StoreTooNew { .. } | StoreError::RecordTooNew { .. })
        )
    }
}

/// Runs the daemon until SIGTERM or SIGINT; SIGHUP reloads (see `reload`). `config_path` is
/// the file `config` was read from, read again on a reload.
pub async fn run(
    config: Config,
    config_path: Option<std::path::PathBuf>,
    log_level: crate::logging::LogLevel,
) -> Result<(), ServeError> {
    let test_clock = config
        .testing
        .adjustable_clock
        .then(|| Arc::new(AdjustableClock::default()));
    let clock: Arc<dyn Clock> = match &test_clock {
        Some(adjustable) => {
            tracing::warn!(
                "testing.adjustable_clock is on: administrators can move this daemon's clock; never use this in production"
            );
            adjustable.clone()
        }
        None => Arc::new(SystemClock),
    };
    let master_key = MasterKey::load_or_create(&config.secrets.key_file)?;
    let store: SharedStore = crate::store::open(&config).await?;
    let keys = KeyRing::load(
        &*store,
        &master_key,
        clock.unix_now(),
        config.tokens.id_token_lifetime.0.as_secs(),
    )
    .await?;
    let http_listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .map_err(|source| ServeError::Bind {
            setting: "http.listen",
            addr: config.http.listen,
            source,
        })?;
    let http_addr = http_listener.local_addr().map_err(ServeError::Http)?;
    let tls = match (&config.http.tls_cert, &config.http.tls_key) {
        (cert, key) if !cert.as_os_str().is_empty() => Some(
            web::http_server::Tls::load(cert, key)
                .await
                .map_err(ServeError::Setup)?,
        ),
        _ => None,
    };
    let metrics_listener = if config.metrics.enabled {
        let addr = config.metrics.listen;
        let bound = tokio::net::TcpListener::bind(addr).await;
        Some(bound.map_err(|source| ServeError::Bind {
            setting: "metrics.listen",
            addr,
            source,
        })?)
    } else {
        None
    };
    let metrics_addr = metrics_listener
        .as_ref()
        .map(tokio::net::TcpListener::local_addr)
        .transpose()
        .map_err(ServeError::Http)?;
    let admin_group = Some(config.admin.group.as_str()).filter(|g| !g.is_empty());
    let admin_mode = if admin_group.is_some() { 0o660 } else { 0o600 };
    let pam_listener =
        unix_socket::bind(&config.pam.socket, 0o600, None).map_err(ServeError::PamSocket)?;
    let admin_listener = unix_socket::bind(&config.admin.socket, admin_mode, admin_group)
        .map_err(ServeError::AdminSocket)?;

    let issuer = config.issuer_for(http_addr);
    let issuer = openidconnect::IssuerUrl::new(issuer.clone())
        .map_err(|e| ServeError::Setup(format!("issuer `{issuer}`: {e}")))?;
    let ctx = Arc::new(
        Context::new(Parts {
            config,
            store,
            clock,
            test_clock,
            master_key,
            keys,
            http_addr,
            metrics_addr,
            issuer,
        })
        .map_err(ServeError::Setup)?,
    );
    lifecycle_event(&ctx, AuditAction::DaemonStarted).await;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        issuer = %ctx.issuer,
        listen = %http_addr,
        admin_socket = %ctx.config.admin.socket.display(),
        state_dir = %ctx.config.state_dir.display(),
        "posternd is ready"
    );
    if let Err(reason) = &ctx.passkeys {
        tracing::warn!("passkeys are off: {reason}");
    }

    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    tracker.spawn(admin_door::serve(
        admin_listener,
        ctx.clone(),
        shutdown.clone(),
        tracker.clone(),
    ));
    let web_door = Arc::new(web::Web::new(ctx.clone()).map_err(ServeError::Setup)?);
    let reloader = crate::reload::Reloader {
        config_path,
        log_level,
        tls: tls.clone(),
        web: web_door.clone(),
        ctx: ctx.clone(),
    };
    let http = tokio::spawn(web::http_server::serve(
        http_listener,
        web::router(web_door),
        tls,
        shutdown.clone(),
        ctx.config.shutdown_grace.0,
    ));

    tracker.spawn(crate::pam_door::serve(
        pam_listener,
        ctx.clone(),
        shutdown.clone(),
        tracker.clone(),
    ));
    tracker.spawn(sweep_expired(ctx.clone(), shutdown.clone()));
    if let Some(listener) = metrics_listener {
        tracker.spawn(web::metrics_endpoint::serve(
            listener,
            ctx.clone(),
            shutdown.clone(),
        ));
    }
    crate::systemd::notify("READY=1");

    tokio::select! {
        signalled = wait_for_signal(&reloader) => signalled?,
        error = failed_write() => {
            // sled cannot take writes again until it is reopened, and its memory may hold
            // records the disk never got: stop at once, without the writes of a clean stop.
            crate::systemd::notify("STOPPING=1");
            shutdown.cancel();
            unix_socket::remove(&ctx.config.admin.socket);
            unix_socket::remove(&ctx.config.pam.socket);
            return Err(ServeError::WriteFailed(error));
        }
    }
    tracing::info!("shutting down");
    crate::systemd::notify("STOPPING=1");
    shutdown.cancel();
    unix_socket::remove(&ctx.config.admin.socket);
    unix_socket::remove(&ctx.config.pam.socket);

    let grace = ctx.config.shutdown_grace.0;
    tracker.close();
    let finished = tokio::time::timeout(grace, async {
        tracker.wait().await;
        http.await
    })
    .await;
    match finished {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => return Err(ServeError::Http(e)),
        Ok(Err(e)) => tracing::error!(error = %e, "web server task failed"),
        Err(_) => tracing::warn!(
            ?grace,
            "in-flight requests did not finish within the grace period"
        ),
    }
    lifecycle_event(&ctx, AuditAction::DaemonStopped).await;
    ctx.store.flush().await?;
    tracing::info!("stopped");
    Ok(())
}

/// How often the signing keys are read again: a rotation made through another daemon sharing
/// the store reaches this one's JWKS and tokens within this time.
const KEY_RELOAD: std::time::Duration = std::time::Duration::from_secs(10);
/// How often expired sessions, codes, tokens and flows are removed.
const SWEEP_EVERY: u32 = 6;

/// Reloads the signing keys (dropping retired ones whose tokens have all expired) every ten
/// seconds, and removes expired records every minute.
async fn sweep_expired(ctx: Arc<Context>, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(KEY_RELOAD);
    let mut count = 0u32;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let now = ctx.clock.unix_now();
        let reloaded = ctx
            .tokens
            .keys
            .reload(&*ctx.store, &ctx.master_key, now, ctx.key_retention())
            .await;
        if let Err(e) = reloaded {
            tracing::warn!(error = %e, "reloading the signing keys failed");
        }
        count = count.wrapping_add(1);
        if count % SWEEP_EVERY != 1 {
            continue;
        }
        match ctx.store.sweep_expired(now).await {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "swept expired records"),
            Err(e) => tracing::warn!(error = %e, "sweeping expired records failed"),
        }
    }
}

/// Resolves when the embedded store met an I/O error (see `store::sled_backend::disk`).
async fn failed_write() -> String {
    let mut ticks = tokio::time::interval(std::time::Duration::from_millis(200));
    loop {
        ticks.tick().await;
        if let Some(error) = crate::store::sled_backend::disk::io_failure() {
            return error.to_owned();
        }
    }
}

/// Returns on SIGTERM or SIGINT; reloads on each SIGHUP meanwhile.
async fn wait_for_signal(reloader: &crate::reload::Reloader) -> Result<(), ServeError> {
    let mut terminate = signal(SignalKind::terminate()).map_err(ServeError::Signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(ServeError::Signals)?;
    let mut hangup = signal(SignalKind::hangup()).map_err(ServeError::Signals)?;
    loop {
        tokio::select! {
            _ = terminate.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
            _ = hangup.recv() => {
                crate::systemd::notify("RELOADING=1");
                reloader.reload().await;
                crate::systemd::notify("READY=1");
            }
        }
    }
}

async fn lifecycle_event(ctx: &Context, action: AuditAction) {
    let event = AuditEvent::new(
        ctx.clock.unix_now(),
        "posternd",
        action,
        AuditDoor::Daemon,
        format!("pid {}", std::process::id()),
        Outcome::Success,
    );
    if let Err(e) = ctx.record(event).await {
        tracing::error!(error = %e, "could not record a lifecycle event");
    }
}
