//! Where the database is: the configured server, password, timeouts and TLS; and the pool of
//! connections to it.

use crate::config::PostgresConfig;
use crate::store::StoreError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::str::FromStr;

/// The configured database, as a connection needs it.
#[derive(Clone)]
pub(super) struct Target {
    pub(super) pg: tokio_postgres::Config,
    /// `None`: no `ca_file`, plain connections (a socket or a loopback address).
    pub(super) tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

/// Reads the configuration (and the password and CA files it names).
pub(super) fn target(config: &PostgresConfig) -> Result<Target, StoreError> {
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
    let tls = if config.ca_file.as_os_str().is_empty() {
        None
    } else {
        // Required, so a server without TLS is refused rather than spoken to in the clear.
        pg.ssl_mode(tokio_postgres::config::SslMode::Require);
        Some(tls(config)?)
    };
    Ok(Target { pg, tls })
}

/// A pool to `target`. No connection is made yet: the first request makes one, and a pool
/// whose database went away makes new ones when it is back.
pub(super) fn pool(target: &Target, config: &PostgresConfig) -> Result<Pool, StoreError> {
    let invalid = |message: String| StoreError::Db(format!("store.postgres: {message}"));
    let timeout = config.connect_timeout.0;
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let pg = target.pg.clone();
    let manager = match &target.tls {
        None => Manager::from_config(pg, tokio_postgres::NoTls, manager_config),
        Some(tls) => Manager::from_config(pg, tls.clone(), manager_config),
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
