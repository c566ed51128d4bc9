//! The SMTP transport: STARTTLS (required, never a fall-back to plain text) or TLS from the
//! first byte, verified by rustls against the public web roots or, with `mail.smtp_ca_file`,
//! against a private CA alone. Plain text only for a relay on this machine (the config checks).

use crate::config::{MailConfig, SmtpTls};
use lettre::SmtpTransport;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use std::time::Duration;

pub fn transport(config: &MailConfig) -> Result<SmtpTransport, String> {
    let host = &config.smtp_host;
    let tls = match config.smtp_tls {
        SmtpTls::None => Tls::None,
        SmtpTls::Starttls => Tls::Required(tls_parameters(config)?),
        SmtpTls::Implicit => Tls::Wrapper(tls_parameters(config)?),
    };
    let mut builder = SmtpTransport::builder_dangerous(host)
        .tls(tls)
        .port(config.smtp_port)
        .timeout(Some(Duration::from_secs(20)));
    if !config.smtp_username.is_empty() {
        builder = builder.credentials(Credentials::new(
            config.smtp_username.clone(),
            config.smtp_password.0.clone(),
        ));
    }
    Ok(builder.build())
}

fn tls_parameters(config: &MailConfig) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(config.smtp_host.clone());
    if !config.smtp_ca_file.as_os_str().is_empty() {
        let path = config.smtp_ca_file.display();
        let pem = std::fs::read(&config.smtp_ca_file)
            .map_err(|e| format!("mail.smtp_ca_file {path}: {e}"))?;
        if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            return Err(format!(
                "mail.smtp_ca_file {path}: holds no PEM certificate"
            ));
        }
        let ca = Certificate::from_pem(&pem)
            .map_err(|e| format!("mail.smtp_ca_file {path}: not a PEM certificate: {e}"))?;
        builder = builder
            .certificate_store(CertificateStore::None)
            .add_root_certificate(ca);
    }
    builder
        .build_rustls()
        .map_err(|e| format!("mail.smtp_host {}: TLS: {e}", config.smtp_host))
}
