//! What every door needs: the configuration, the store, the clock. Built once at start-up and
//! shared by reference; there are no process-wide globals.

use crate::audit::AuditEvent;
use crate::clock::{Clock, UnixSeconds};
use crate::config::Config;
use crate::store::{Store, StoreError};
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Debug)]
pub struct Context {
    pub config: Config,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub started_at: UnixSeconds,
    /// The address the web door actually bound (the config may say port 0).
    pub http_addr: SocketAddr,
}

impl Context {
    /// Stores and logs an audit event. A failure to store it is an error for the caller: an
    /// action that cannot be audited should not be reported as done.
    pub fn record(&self, event: AuditEvent) -> Result<(), StoreError> {
        event.log();
        self.store.append_audit(&event)
    }
}
