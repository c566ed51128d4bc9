//! Serving the router over plain HTTP or, with `http.tls_cert`/`tls_key`, HTTPS with rustls
//! (ring as the only crypto provider). Both stop accepting on shutdown and let in-flight
//! requests finish.

use axum::Router;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A loaded TLS configuration, checked at start-up so a bad certificate stops the daemon.
/// Clones share it: a reload through one reaches the server.
#[derive(Clone)]
pub struct Tls(axum_server::tls_rustls::RustlsConfig);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    pub async fn load(cert: &Path, key: &Path) -> Result<Self, String> {
        // Exactly one provider is compiled in; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
            .await
            .map(Self)
            .map_err(|e| unusable(cert, key, &e))
    }

    /// Serves new connections with the certificate and key in these files (a renewal); open
    /// connections keep theirs. Files that do not load leave the current ones in place.
    pub async fn reload(&self, cert: &Path, key: &Path) -> Result<(), String> {
        self.0
            .reload_from_pem_file(cert, key)
            .await
            .map_err(|e| unusable(cert, key, &e))
    }
}

fn unusable(cert: &Path, key: &Path, e: &std::io::Error) -> String {
    format!(
        "TLS certificate and key from http.tls_cert {} and http.tls_key {}: {e}",
        cert.display(),
        key.display()
    )
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    tls: Option<Tls>,
    shutdown: CancellationToken,
    grace: Duration,
) -> std::io::Result<()> {
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    let Some(Tls(config)) = tls else {
        return axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
    };
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        stopper.graceful_shutdown(Some(grace));
    });
    axum_server::from_tcp_rustls(listener.into_std()?, config)?
        .handle(handle)
        .serve(app)
        .await
}
