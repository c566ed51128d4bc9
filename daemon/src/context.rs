//! What the engine and the doors share: the configuration, the store, the clock, and the
//! handles built over them (the audit trail, the mailer, the token core). Built once at
//! start-up and shared by reference; there are no process-wide globals. Parts of the daemon
//! that need less take the handle they need (`AuditTrail`, `Mailer`, `Tokens`), not this.

use crate::audit::{AuditEvent, AuditTrail};
use crate::clock::{AdjustableClock, Clock, UnixSeconds};
use crate::config::Config;
use crate::limits::Limiter;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::secrets::MasterKey;
use crate::store::batch::{Batch, Write};
use crate::store::{SharedStore, StoreError};
use crate::tokens::Tokens;
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Debug)]
pub struct Context {
    pub config: Config,
    pub store: SharedStore,
    pub clock: Arc<dyn Clock>,
    /// Set only when `testing.adjustable_clock` is on; then it is also `clock`.
    pub test_clock: Option<Arc<AdjustableClock>>,
    pub master_key: MasterKey,
    pub tokens: Tokens,
    pub limiter: Limiter,
    pub mailer: Mailer,
    pub audit: AuditTrail,
    pub metrics: Arc<Metrics>,
    pub started_at: UnixSeconds,
    /// The address the web door actually bound (the config may say port 0).
    pub http_addr: SocketAddr,
    /// Where `/metrics` is served, if it is.
    pub metrics_addr: Option<SocketAddr>,
    /// The OIDC issuer, resolved against `http_addr` when the config leaves it empty; parsed
    /// once, and read as the exact string it was written as.
    pub issuer: openidconnect::IssuerUrl,
    /// The WebAuthn relying party of the issuer, or why passkeys cannot work with it.
    pub passkeys: Result<crate::factors::passkey::RelyingParty, String>,
}

/// What the context is built from: the parts that start-up opens or loads.
#[derive(Debug)]
pub struct Parts {
    pub config: Config,
    pub store: SharedStore,
    pub clock: Arc<dyn Clock>,
    pub test_clock: Option<Arc<AdjustableClock>>,
    pub master_key: MasterKey,
    pub keys: crate::tokens::keys::KeyRing,
    pub http_addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub issuer: openidconnect::IssuerUrl,
}

impl Context {
    /// Builds the handles over the parts.
    pub fn new(parts: Parts) -> Result<Self, String> {
        let Parts {
            config,
            store,
            clock,
            test_clock,
            master_key,
            keys,
            http_addr,
            metrics_addr,
            issuer,
        } = parts;
        let metrics = Arc::new(Metrics::new());
        let audit = AuditTrail::new(store.clone(), metrics.clone());
        let mailer = Mailer::new(
            &config.mail,
            &config.templates_dir,
            issuer.as_str(),
            store.clone(),
            clock.clone(),
            metrics.clone(),
        )?;
        let tokens = Tokens {
            store: store.clone(),
            clock: clock.clone(),
            audit: audit.clone(),
            metrics: metrics.clone(),
            keys,
            access_key: crate::tokens::access::minted::AccessTokenKey::derive(&master_key),
            issuer: issuer.clone(),
            lifetimes: config.tokens.clone(),
        };
        let passkeys =
            crate::factors::passkey::RelyingParty::for_issuer(issuer.as_str(), "Postern");
        Ok(Self {
            passkeys,
            started_at: clock.unix_now(),
            limiter: Limiter::new(&config.limits, store.clone()),
            config,
            store,
            clock,
            test_clock,
            master_key,
            tokens,
            mailer,
            audit,
            metrics,
            http_addr,
            metrics_addr,
            issuer,
        })
    }

    /// How long a retired signing key stays published: as long as an ID token it signed lives.
    pub fn key_retention(&self) -> u64 {
        self.config.tokens.id_token_lifetime.0.as_secs()
    }

    /// Stores and logs an audit event (see [`AuditTrail::record`]), then mails the security
    /// notice it calls for, if any (`notices`).
    pub async fn record(&self, event: AuditEvent) -> Result<(), StoreError> {
        self.audit.record(event.clone()).await?;
        crate::notices::after(&self.store, &self.mailer, &event).await;
        Ok(())
    }

    /// [`record`](Self::record), in `batch`: logged and counted now, stored (and its notice
    /// mailed) when the batch is written ([`write_batch`](Self::write_batch)).
    pub async fn record_in(&self, batch: &Batch, event: AuditEvent) -> Result<(), StoreError> {
        if !batch.gathers() {
            return self.record(event).await;
        }
        self.audit.noted(&event);
        batch.write(&*self.store, Write::Audit(event)).await
    }

    /// Writes what `batch` gathered, then mails the notices its audit events call for.
    pub async fn write_batch(&self, batch: &Batch) -> Result<(), StoreError> {
        let writes = batch.take();
        if writes.is_empty() {
            return Ok(());
        }
        let events: Vec<AuditEvent> = writes.audit_events().cloned().collect();
        self.store.write_all(writes).await?;
        for event in &events {
            crate::notices::after(&self.store, &self.mailer, event).await;
        }
        Ok(())
    }
}

#[cfg(test)]
impl Context {
    /// A context over a fresh sled store in `dir`, with an adjustable clock, for handler tests.
    pub async fn for_tests(dir: &std::path::Path) -> Self {
        let clock = Arc::new(AdjustableClock::default());
        let store: SharedStore =
            Arc::new(crate::store::sled_backend::SledStore::open(dir).expect("test store"));
        let master_key = MasterKey::for_tests();
        let keys = crate::tokens::keys::KeyRing::load(&*store, &master_key, clock.unix_now(), 600)
            .await
            .expect("test keys");
        let mut config = Config::default();
        config.admin.group = String::new();
        config.mail.outbox_dir = dir.join("outbox");
        Self::new(Parts {
            config,
            store,
            clock: clock.clone(),
            test_clock: Some(clock),
            master_key,
            keys,
            http_addr: "127.0.0.1:8080".parse().expect("address"),
            metrics_addr: None,
            // A host name, not an address, so that passkeys work (see `factors::passkey`).
            issuer: openidconnect::IssuerUrl::new("http://localhost:8080".into())
                .expect("test issuer"),
        })
        .expect("test context")
    }
}
