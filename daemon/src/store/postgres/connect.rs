//! The connection pool: the configured server, password, timeouts and TLS.

use crate::config::PostgresConfig;
use crate::store::StoreError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::str::FromStr;

/// A pool to the configured database. No connection is made yet: the first request makes one,
/// and a pool whose database went away makes new ones when it is back.
pub(super) fn pool(config: &PostgresConfig) -> Result<Pool, StoreError> {
    let invalid = |message: String| StoreError::Db(format!("store.postgres: {message}"));
    let mut pg = tokio_postgres::Config::from_str(&config.url.0)
        .map_err(|e| invalid(format!("url is not a connection string: {e}")))?;
    if !config.password_file.as_os_str().is_empty() {
        let password = std::fs::read_to_string(&config.password_file).map_err(|e| {
            invalid(format!(
                "password_file {}: {e}",
                config.password_file.display()
            ))
        })?;
        pg.password(password.trim_end_matches(['\r', '\n']));
    }
    let timeout = config.connect_timeout.0;
    pg.connect_timeout(timeout);
    pg.application_name("posternd");
    // Every connection cancels a statement that runs too long, so a stuck query cannot hold a
    // sign-in (or a row lock) for ever.
    pg.options(format!(
        "-c statement_timeout={}",
        config.statement_timeout.0.as_millis()
    ));
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = if config.ca_file.as_os_str().is_empty() {
        Manager::from_config(pg, tokio_postgres::NoTls, manager_config)
    } else {
        // Required, so a server without TLS is refused rather than spoken to in the clear.
        pg.ssl_mode(tokio_postgres::config::SslMode::Require);
        Manager::from_config(pg, tls(config)?, manager_config)
    };
    Pool::builder(manager)
        .max_size(config.pool_size.max(1) as usize)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| invalid(e.to_string()))
}

/// TLS that trusts only the authorities in `ca_file`, and never falls back to plain text.
fn tls(config: &PostgresConfig) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let file = &config.ca_file;
    let invalid = |message: String| {
        StoreError::Db(format!(
            "store.postgres.ca_file {}: {message}",
            file.display()
        ))
    };
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(file).map_err(|e| invalid(e.to_string()))? {
        roots
            .add(certificate.map_err(|e| invalid(e.to_string()))?)
            .map_err(|e| invalid(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(invalid("holds no certificate".into()));
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(client))
}
