//! What every door needs: the configuration, the store, the clock. Built once at start-up and
//! shared by reference; there are no process-wide globals.

use crate::audit::AuditEvent;
use crate::clock::{AdjustableClock, Clock, UnixSeconds};
use crate::config::Config;
use crate::limits::Limiter;
use crate::oidc::keys::KeyRing;
use crate::secrets::MasterKey;
use crate::store::{Store, StoreError};
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Debug)]
pub struct Context {
    pub config: Config,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// Set only when `testing.adjustable_clock` is on; then it is also `clock`.
    pub test_clock: Option<Arc<AdjustableClock>>,
    pub master_key: MasterKey,
    pub keys: KeyRing,
    pub limiter: Limiter,
    pub mailer: crate::mail::Mailer,
    pub metrics: crate::metrics::Metrics,
    pub started_at: UnixSeconds,
    /// The address the web door actually bound (the config may say port 0).
    pub http_addr: SocketAddr,
    /// Where `/metrics` is served, if it is.
    pub metrics_addr: Option<SocketAddr>,
    /// The OIDC issuer, resolved against `http_addr` when the config leaves it empty; parsed
    /// once, and read as the exact string it was written as.
    pub issuer: openidconnect::IssuerUrl,
}

impl Context {
    /// How long a retired signing key stays published: as long as an ID token it signed lives.
    pub fn key_retention(&self) -> u64 {
        self.config.tokens.id_token_lifetime.0.as_secs()
    }

    /// Stores and logs an audit event. A failure to store it is an error for the caller: an
    /// action that cannot be audited should not be reported as done.
    pub fn record(&self, event: AuditEvent) -> Result<(), StoreError> {
        event.log();
        self.metrics.observe(&event);
        self.store.append_audit(&event)
    }
}

#[cfg(test)]
impl Context {
    /// A context over a fresh store in `dir`, with an adjustable clock, for handler tests.
    pub fn for_tests(dir: &std::path::Path) -> Self {
        let clock = Arc::new(AdjustableClock::default());
        let store = Store::open(dir).expect("test store");
        let master_key = MasterKey::for_tests();
        let keys = KeyRing::load(&store, &master_key, clock.unix_now(), 600).expect("test keys");
        let mut config = Config::default();
        config.admin.group = String::new();
        config.mail.outbox_dir = dir.join("outbox");
        Self {
            mailer: crate::mail::Mailer::new(&config.mail).expect("test outbox"),
            limiter: Limiter::new(&config.limits),
            metrics: crate::metrics::Metrics::new(),
            clock: clock.clone(),
            test_clock: Some(clock),
            master_key,
            keys,
            store,
            started_at: 0,
            http_addr: "127.0.0.1:8080".parse().expect("address"),
            metrics_addr: None,
            issuer: openidconnect::IssuerUrl::new("http://127.0.0.1:8080".into())
                .expect("test issuer"),
            config,
        }
    }
}
