//! Sending mail (emailed sign-in codes) and keeping the sent-mail log, so an administrator can
//! check whether a message went out. Delivery is through SMTP over rustls, or, for development
//! and tests, an outbox directory with one `.eml` file a message.

use crate::clock::Clock;
use crate::config::{MailConfig, MailTransport, SmtpTls};
use crate::metrics::Metrics;
pub use crate::model::mail::MailRecord;
use crate::store::{SharedStore, StoreError};
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{FileTransport, Message, SmtpTransport, Transport as _};
use std::sync::Arc;
use std::time::Duration;

/// Sends mail and logs every attempt. It holds what it needs, and nothing else of the daemon.
#[derive(Debug)]
pub struct Mailer {
    transport: Arc<Transport>,
    config: MailConfig,
    log: SharedStore,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
}

enum Transport {
    Outbox(FileTransport, std::path::PathBuf),
    Smtp(Box<SmtpTransport>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Outbox(_, dir) => write!(f, "Outbox({})", dir.display()),
            Self::Smtp(_) => f.write_str("Smtp"),
        }
    }
}

impl Mailer {
    pub fn new(
        config: &MailConfig,
        log: SharedStore,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, String> {
        Ok(Self {
            transport: Arc::new(Transport::new(config)?),
            config: config.clone(),
            log,
            clock,
            metrics,
        })
    }

    /// Sends a plain-text message and records the attempt in the sent-mail log. Returns
    /// whether it was delivered (to the SMTP server, or the outbox). Delivery blocks (SMTP
    /// waits for the server), so it runs off the async runtime.
    pub async fn send(
        &self,
        username: &str,
        to: &str,
        subject: &str,
        body: String,
    ) -> Result<bool, StoreError> {
        let outcome = match compose(&self.config, to, subject, body) {
            Ok(message) => {
                let transport = self.transport.clone();
                tokio::task::spawn_blocking(move || transport.deliver(&message))
                    .await
                    .unwrap_or_else(|e| Err(format!("the delivery task failed: {e}")))
            }
            Err(e) => Err(e),
        };
        if let Err(error) = &outcome {
            tracing::warn!(to, subject, %error, "mail delivery failed");
        }
        self.metrics.mail(outcome.is_ok());
        self.log
            .mail_log()
            .append(&MailRecord {
                at: self.clock.unix_now(),
                to: to.to_owned(),
                username: username.to_owned(),
                subject: subject.to_owned(),
                delivered: outcome.is_ok(),
                error: outcome.as_ref().err().cloned(),
            })
            .await?;
        Ok(outcome.is_ok())
    }
}

impl Transport {
    fn new(config: &MailConfig) -> Result<Self, String> {
        match config.transport {
            MailTransport::Outbox => {
                std::fs::create_dir_all(&config.outbox_dir)
                    .map_err(|e| format!("mail.outbox_dir {}: {e}", config.outbox_dir.display()))?;
                Ok(Self::Outbox(
                    FileTransport::new(&config.outbox_dir),
                    config.outbox_dir.clone(),
                ))
            }
            MailTransport::Smtp => {
                let host = &config.smtp_host;
                let builder = match config.smtp_tls {
                    SmtpTls::Starttls => SmtpTransport::starttls_relay(host),
                    SmtpTls::Implicit => SmtpTransport::relay(host),
                    SmtpTls::None => Ok(SmtpTransport::builder_dangerous(host)),
                }
                .map_err(|e| format!("mail.smtp_host {host}: {e}"))?;
                let mut builder = builder
                    .port(config.smtp_port)
                    .timeout(Some(Duration::from_secs(20)));
                if !config.smtp_username.is_empty() {
                    builder = builder.credentials(Credentials::new(
                        config.smtp_username.clone(),
                        config.smtp_password.0.clone(),
                    ));
                }
                Ok(Self::Smtp(Box::new(builder.build())))
            }
        }
    }

    fn deliver(&self, message: &Message) -> Result<(), String> {
        match self {
            Self::Outbox(transport, _) => transport
                .send(message)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Self::Smtp(transport) => transport
                .send(message)
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }
}

fn compose(config: &MailConfig, to: &str, subject: &str, body: String) -> Result<Message, String> {
    let from: Mailbox = config.from.parse().map_err(|e| format!("mail.from: {e}"))?;
    let to: Mailbox = to.parse().map_err(|e| format!("recipient {to}: {e}"))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| e.to_string())
}

/// "a•••@example.com": enough to recognise one's own address, not to learn someone else's.
pub fn mask_address(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "•••".into(),
    }
}

/// The same mask in ASCII alone, for a terminal (a PAM prompt) whose character set is unknown:
/// any other character becomes `?`.
pub fn mask_address_ascii(address: &str) -> String {
    mask_address(address)
        .replace('•', "*")
        .chars()
        .map(|c| if c.is_ascii() { c } else { '?' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sled_backend::SledStore;

    #[test]
    fn addresses_are_masked_but_recognisable() {
        assert_eq!(mask_address("alice@example.com"), "a•••@example.com");
        assert_eq!(mask_address("nonsense"), "•••");
        assert_eq!(mask_address_ascii("alice@example.com"), "a***@example.com");
        assert_eq!(
            mask_address_ascii("éva@bücher.example"),
            "?***@b?cher.example"
        );
    }

    #[tokio::test]
    async fn the_outbox_receives_a_message_and_the_log_records_it() {
        let dir = tempfile::tempdir().unwrap();
        let store: SharedStore = Arc::new(SledStore::open(&dir.path().join("state")).unwrap());
        let config = MailConfig {
            outbox_dir: dir.path().join("outbox"),
            ..MailConfig::default()
        };
        let clock = Arc::new(crate::clock::AdjustableClock::default());
        let mailer = Mailer::new(&config, store.clone(), clock, Arc::new(Metrics::new())).unwrap();
        assert!(
            mailer
                .send("alice", "alice@example.com", "Your code", "123456".into())
                .await
                .unwrap()
        );
        let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .collect();
        assert_eq!(files.len(), 1);
        let log = store.mail_log().newest(0, 10, &|_| true).await.unwrap();
        assert_eq!(
            (log[0].to.as_str(), log[0].delivered),
            ("alice@example.com", true)
        );
        assert!(
            !mailer
                .send("bob", "not an address", "Your code", "1".into())
                .await
                .unwrap()
        );
        let log = store.mail_log().newest(0, 10, &|_| true).await.unwrap();
        assert!(!log[0].delivered && log[0].error.is_some(), "{log:?}");
    }
}
