//! Checks what types alone cannot: values that parse but cannot work, or cannot work together.
//! Each error names the key and says how to fix it.

use super::{Config, ConfigError};
use std::time::Duration;

impl Config {
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_issuer()?;
        self.validate_paths()?;
        self.validate_durations()?;
        if !self.admin.group.is_empty()
            && nix::unistd::Group::from_name(&self.admin.group)
                .ok()
                .flatten()
                .is_none()
        {
            return invalid(
                "admin.group",
                format!(
                    "the group `{0}` does not exist; create it (groupadd {0}) or set admin.group = \"\" to allow only root and the daemon's user",
                    self.admin.group
                ),
            );
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return invalid(
                "log.level",
                format!(
                    "`{}` is not a log filter ({e}); use \"info\", \"debug\" or \"warn\"",
                    self.log.level
                ),
            );
        }
        self.validate_mail()?;
        for (key, value) in [
            (
                "limits.account_max_failures",
                self.limits.account_max_failures,
            ),
            (
                "limits.address_max_failures",
                self.limits.address_max_failures,
            ),
        ] {
            if value == 0 {
                return invalid(key, "must be at least 1".into());
            }
        }
        match self.store.cache_bytes() {
            Ok(bytes) if (16 << 20..=64 << 30).contains(&bytes) => {}
            Ok(_) => return invalid("store.cache", "must be from 16MiB to 64GiB".into()),
            Err(e) => return invalid("store.cache", e),
        }
        if let Err(e) = self.store.min_free_bytes() {
            return invalid("store.min_free", e);
        }
        if self.store.postgres.pool_size < 2 {
            // A few connections are shared by single statements; a transaction needs one more.
            return invalid(
                "store.postgres.pool_size",
                "must be at least 2 (statements share some connections, transactions need their own)"
                    .into(),
            );
        }
        Ok(())
    }

    /// The issuer is compared byte for byte by clients, so it must be a clean base URL; plain
    /// HTTP is only for loopback, where no one can listen in.
    fn validate_issuer(&self) -> Result<(), ConfigError> {
        if self.issuer.is_empty() {
            if !self.http.listen.ip().is_loopback() || !self.http.tls_cert.as_os_str().is_empty() {
                return invalid(
                    "issuer",
                    "must be set to the public URL clients use (e.g. \"https://id.example.com\") unless http.listen is a loopback address serving plain HTTP".into(),
                );
            }
            return Ok(());
        }
        let url = url::Url::parse(&self.issuer).map_err(|e| ConfigError::Invalid {
            key: "issuer",
            message: format!(
                "`{}` is not a URL ({e}); write it like \"https://id.example.com\"",
                self.issuer
            ),
        })?;
        if url.query().is_some() || url.fragment().is_some() || self.issuer.ends_with('/') {
            return invalid(
                "issuer",
                "must have no query, fragment or trailing slash".into(),
            );
        }
        let loopback = crate::model::is_loopback_host(&url);
        match url.scheme() {
            "https" => Ok(()),
            "http" if loopback => Ok(()),
            "http" => invalid(
                "issuer",
                "plain http is allowed only on loopback; use https (set http.tls_cert and http.tls_key, or put a TLS proxy in front)".into(),
            ),
            other => invalid("issuer", format!("scheme `{other}` is not http or https")),
        }
    }

    fn validate_mail(&self) -> Result<(), ConfigError> {
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return invalid(
                "mail.from",
                format!(
                    "`{}` is not an address; write it like \"Postern <postern@example.com>\"",
                    self.mail.from
                ),
            );
        }
        match self.mail.transport {
            super::MailTransport::Outbox if self.mail.outbox_dir.as_os_str().is_empty() => {
                invalid("mail.outbox_dir", "must be set when mail.transport = \"outbox\"".into())
            }
            super::MailTransport::Smtp if self.mail.smtp_host.is_empty() => {
                invalid("mail.smtp_host", "must be set when mail.transport = \"smtp\"".into())
            }
            super::MailTransport::Smtp
                if self.mail.smtp_tls == super::SmtpTls::None
                    && !matches!(self.mail.smtp_host.as_str(), "localhost" | "127.0.0.1" | "::1") =>
            {
                invalid(
                    "mail.smtp_tls",
                    "\"none\" sends codes in clear; it is allowed only for a relay on this machine (localhost)".into(),
                )
            }
            super::MailTransport::Smtp if self.mail.smtp_username.is_empty() != self.mail.smtp_password.0.is_empty() => {
                invalid("mail.smtp_username", "mail.smtp_username and mail.smtp_password go together".into())
            }
            _ => Ok(()),
        }
    }

    fn validate_paths(&self) -> Result<(), ConfigError> {
        if self.state_dir.as_os_str().is_empty() {
            return invalid(
                "state_dir",
                "must not be empty; set it to a directory such as \"/var/lib/postern\"".into(),
            );
        }
        if self.admin.socket.file_name().is_none() {
            return invalid(
                "admin.socket",
                "must be a file path such as \"/run/postern/admin.sock\"".into(),
            );
        }
        if self.admin.socket.starts_with(&self.state_dir) {
            return invalid(
                "admin.socket",
                format!(
                    "must not be inside state_dir ({}); put sockets in a runtime directory such as /run/postern",
                    self.state_dir.display()
                ),
            );
        }
        if self.pam.socket.file_name().is_none() || self.pam.socket.starts_with(&self.state_dir) {
            return invalid(
                "pam.socket",
                "must be a file path outside state_dir, such as \"/run/postern/pam.sock\"".into(),
            );
        }
        if self.pam.remember.0.as_secs() > 30 * 24 * 3600 {
            return invalid(
                "pam.remember",
                "must be at most 30days (\"0\" always asks)".into(),
            );
        }
        if self.pam.socket == self.admin.socket {
            return invalid("pam.socket", "must differ from admin.socket".into());
        }
        if self.secrets.key_file.file_name().is_none() {
            return invalid(
                "secrets.key_file",
                "must be a file path such as \"/etc/postern/master.key\"".into(),
            );
        }
        if self.secrets.key_file.starts_with(&self.state_dir) {
            return invalid(
                "secrets.key_file",
                format!(
                    "must not be inside state_dir ({}): a copy of the database must not carry the key that opens it",
                    self.state_dir.display()
                ),
            );
        }
        let (cert, key) = (
            self.http.tls_cert.as_os_str().is_empty(),
            self.http.tls_key.as_os_str().is_empty(),
        );
        if cert != key {
            return invalid(
                "http.tls_cert",
                "http.tls_cert and http.tls_key must be set together".into(),
            );
        }
        if !cert && !self.issuer.starts_with("https://") {
            return invalid(
                "issuer",
                "must start with https:// when the daemon serves TLS".into(),
            );
        }
        Ok(())
    }

    fn validate_durations(&self) -> Result<(), ConfigError> {
        let checks: [(&'static str, Duration, u64, u64); 13] = [
            ("shutdown_grace", self.shutdown_grace.0, 1, 300),
            ("admin.idle_timeout", self.admin.idle_timeout.0, 1, 3600),
            ("admin.frame_timeout", self.admin.frame_timeout.0, 1, 300),
            ("pam.frame_timeout", self.pam.frame_timeout.0, 1, 300),
            (
                "pam.conversation_timeout",
                self.pam.conversation_timeout.0,
                10,
                600,
            ),
            (
                "tokens.access_token_lifetime",
                self.tokens.access_token_lifetime.0,
                60,
                24 * 3600,
            ),
            (
                "tokens.id_token_lifetime",
                self.tokens.id_token_lifetime.0,
                60,
                24 * 3600,
            ),
            (
                "tokens.refresh_token_lifetime",
                self.tokens.refresh_token_lifetime.0,
                300,
                365 * 24 * 3600,
            ),
            (
                "session.lifetime",
                self.session.lifetime.0,
                60,
                30 * 24 * 3600,
            ),
            (
                "limits.account_window",
                self.limits.account_window.0,
                1,
                24 * 3600,
            ),
            (
                "limits.account_lockout",
                self.limits.account_lockout.0,
                1,
                24 * 3600,
            ),
            (
                "limits.address_window",
                self.limits.address_window.0,
                1,
                24 * 3600,
            ),
            (
                "limits.address_lockout",
                self.limits.address_lockout.0,
                1,
                24 * 3600,
            ),
        ];
        for (key, value, low, high) in checks {
            if !(low..=high).contains(&value.as_secs()) {
                return invalid(
                    key,
                    format!(
                        "must be between {} and {}",
                        humantime::format_duration(Duration::from_secs(low)),
                        humantime::format_duration(Duration::from_secs(high))
                    ),
                );
            }
        }
        Ok(())
    }
}

fn invalid(key: &'static str, message: String) -> Result<(), ConfigError> {
    Err(ConfigError::Invalid { key, message })
}
