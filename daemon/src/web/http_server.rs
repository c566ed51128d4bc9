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
        let (chain, private_key) = read_pem_files(cert, key)?;
        axum_server::tls_rustls::RustlsConfig::from_der(chain, private_key)
            .await
            .map(Self)
            .map_err(|e| unusable(cert, key, &e))
    }

    /// Serves new connections with the certificate and key in these files (a renewal); open
    /// connections keep theirs. Files that do not load leave the current ones in place.
    pub async fn reload(&self, cert: &Path, key: &Path) -> Result<(), String> {
        let (chain, private_key) = read_pem_files(cert, key)?;
        self.0
            .reload_from_der(chain, private_key)
            .await
            .map_err(|e| unusable(cert, key, &e))
    }
}

/// The certificate chain and the private key in these PEM files, as DER. What is missing is
/// named in the administrator's words: rustls says "peer sent no certificates" of a
/// certificate file that holds none.
fn read_pem_files(cert: &Path, key: &Path) -> Result<(Vec<Vec<u8>>, Vec<u8>), String> {
    use rustls::pki_types::pem::{self, PemObject};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let refused = |why: String| format!("TLS certificate and key: {why}");
    let chain: Vec<Vec<u8>> = CertificateDer::pem_file_iter(cert)
        .and_then(|found| found.map(|c| c.map(|c| c.to_vec())).collect())
        .map_err(|e| refused(format!("http.tls_cert {}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(refused(format!(
            "http.tls_cert {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            cert.display()
        )));
    }
    match PrivateKeyDer::from_pem_file(key) {
        Ok(private_key) => Ok((chain, private_key.secret_der().to_vec())),
        Err(pem::Error::NoItemsFound) => Err(refused(format!(
            "http.tls_key {} holds no PEM private key (-----BEGIN PRIVATE KEY-----)",
            key.display()
        ))),
        Err(e) => Err(refused(format!("http.tls_key {}: {e}", key.display()))),
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

#[cfg(test)]
mod tests {
    use super::read_pem_files;

    #[test]
    fn files_without_a_certificate_or_key_are_named_plainly() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let issued = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(&cert, issued.cert.pem()).unwrap();
        std::fs::write(&key, issued.signing_key.serialize_pem()).unwrap();
        let (chain, _) = read_pem_files(&cert, &key).unwrap();
        assert_eq!(chain, vec![issued.cert.der().to_vec()]);

        std::fs::write(&key, "not a key").unwrap();
        let error = read_pem_files(&cert, &key).unwrap_err();
        assert!(error.contains("holds no PEM private key"), "{error}");

        std::fs::write(&cert, "not a certificate").unwrap();
        let error = read_pem_files(&cert, &key).unwrap_err();
        assert!(error.contains("holds no PEM certificate"), "{error}");

        let missing = dir.path().join("missing.pem");
        let error = read_pem_files(&missing, &key).unwrap_err();
        assert!(error.contains("missing.pem"), "{error}");
    }
}
