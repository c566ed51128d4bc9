//! Sending mail (codes, invitations, security notices) and keeping the sent-mail log, so an
//! administrator can check whether a message went out. Every message is multipart plain text
//! and HTML, from the templates in `letters`. Delivery is through SMTP over rustls (`smtp`), or,
//! for development and tests, an outbox directory with one `.eml` file a message.

mod letters;
mod smtp;

pub use letters::{Kind, Letter};

use crate::clock::Clock;
use crate::config::{MailConfig, MailTransport};
use crate::metrics::Metrics;
pub use crate::model::mail::MailRecord;
use crate::store::{SharedStore, StoreError};
use letters::{Letters, Rendered};
use lettre::message::{Mailbox, MultiPart};
use lettre::{FileTransport, Message, SmtpTransport, Transport as _};
use std::path::Path;
use std::sync::Arc;

/// Sends mail and logs every attempt. It holds what it needs, and nothing else of the daemon.
#[derive(Debug)]
pub struct Mailer {
    transport: Arc<Transport>,
    /// Replaced whole on a reload.
    letters: std::sync::RwLock<Arc<Letters>>,
    config: MailConfig,
    issuer: String,
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
        templates_dir: &Path,
        issuer: &str,
        log: SharedStore,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, String> {
        Ok(Self {
            transport: Arc::new(Transport::new(config)?),
            letters: std::sync::RwLock::new(Arc::new(Letters::load(templates_dir)?)),
            config: config.clone(),
            issuer: issuer.trim_end_matches('/').to_owned(),
            log,
            clock,
            metrics,
        })
    }

    /// Loads the mail templates from `templates_dir` again; on failure the current ones stay.
    pub fn reload_templates(&self, templates_dir: &Path) -> Result<(), String> {
        let loaded = Arc::new(Letters::load(templates_dir)?);
        *self
            .letters
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = loaded;
        Ok(())
    }

    /// Renders `letter`, sends it and records the attempt in the sent-mail log. Returns
    /// whether it was delivered (to the SMTP server, or the outbox). Delivery blocks (SMTP
    /// waits for the server), so it runs off the async runtime.
    pub async fn send(&self, username: &str, to: &str, letter: Letter) -> Result<bool, StoreError> {
        let site_name = self.log.site_settings().await?.site_name;
        let letters = self
            .letters
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let rendered = letters.render(&letter, &site_name, &self.issuer);
        let subject = match &rendered {
            Ok(rendered) => rendered.subject.clone(),
            Err(_) => letter.subject.replace("{site}", &site_name),
        };
        let subject = subject.as_str();
        let outcome = match rendered.and_then(|r| compose(&self.config, to, r)) {
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
            MailTransport::Smtp => Ok(Self::Smtp(Box::new(smtp::transport(config)?))),
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

/// The message itself: both parts, with a Message-ID in the sender's domain (the builder adds
/// the Date).
fn compose(config: &MailConfig, to: &str, rendered: Rendered) -> Result<Message, String> {
    let from: Mailbox = config.from.parse().map_err(|e| format!("mail.from: {e}"))?;
    let to: Mailbox = to.parse().map_err(|e| format!("recipient {to}: {e}"))?;
    let id = format!(
        "<{}@{}>",
        crate::secrets::random_token(),
        from.email.domain()
    );
    Message::builder()
        .from(from)
        .to(to)
        .subject(rendered.subject)
        .message_id(Some(id))
        .multipart(MultiPart::alternative_plain_html(
            rendered.text,
            rendered.html,
        ))
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
        let mailer = Mailer::new(
            &config,
            Path::new(""),
            "https://id.example.com/",
            store.clone(),
            clock,
            Arc::new(Metrics::new()),
        )
        .unwrap();
        let letter = || {
            Letter::new(Kind::Code, "Your {site} code")
                .with("name", "Alice")
                .with("why", "to finish signing in")
                .with("code", "123456")
                .with("minutes", 15)
        };
        assert!(
            mailer
                .send("alice", "alice@example.com", letter())
                .await
                .unwrap()
        );
        let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1);
        let eml = std::fs::read_to_string(&files[0]).unwrap();
        for header in [
            "Subject: Your Postern code",
            "Message-ID: <",
            "@localhost>",
            "Date: ",
            "Content-Type: multipart/alternative",
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit",
            "Content-Type: text/html; charset=utf-8",
        ] {
            assert!(eml.contains(header), "{header} missing from\n{eml}");
        }
        let text_at = eml.find("text/plain").unwrap();
        assert!(text_at < eml.find("text/html").unwrap(), "plain text first");
        assert!(eml.contains("\r\n    123456\r\n"), "{eml}");
        let log = store.mail_log().newest(0, 10, &|_| true).await.unwrap();
        assert_eq!(
            (log[0].to.as_str(), log[0].delivered),
            ("alice@example.com", true)
        );
        assert!(
            !mailer
                .send("bob", "not an address", letter())
                .await
                .unwrap()
        );
        let log = store.mail_log().newest(0, 10, &|_| true).await.unwrap();
        assert!(!log[0].delivered && log[0].error.is_some(), "{log:?}");
    }
}
