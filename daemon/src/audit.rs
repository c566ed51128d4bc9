//! The audit trail: an append-only record of every security-relevant event, with who did what
//! to whom, when, from where, and how it ended. Details never hold a password, code or secret.

pub use crate::model::audit::{AuditAction, AuditDoor, AuditEvent, Factor, Outcome};

impl AuditEvent {
    /// Writes the event to the log too, so operators who ship logs see the same trail.
    pub fn log(&self) {
        tracing::info!(
            target: "audit",
            action = self.action.as_str(),
            actor = %self.actor,
            subject = self.subject.as_deref().unwrap_or("-"),
            source = %self.source,
            outcome = self.outcome.as_str(),
            detail = self.detail.as_deref().unwrap_or("-"),
        );
    }
}

/// Where audit events go: stored in the trail, logged, and counted. A handle to what that
/// needs, so code that records events needs nothing else of the daemon.
#[derive(Debug, Clone)]
pub struct AuditTrail {
    store: crate::store::SharedStore,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
}

impl AuditTrail {
    pub fn new(
        store: crate::store::SharedStore,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> Self {
        Self { store, metrics }
    }

    /// Stores and logs an event. A failure to store it is an error for the caller: an action
    /// that cannot be audited should not be reported as done.
    pub async fn record(&self, event: AuditEvent) -> Result<(), crate::store::StoreError> {
        self.noted(&event);
        self.store.audit_log().append(&event).await
    }

    /// Logs and counts an event that is stored with others (`Context::record_in`).
    pub fn noted(&self, event: &AuditEvent) {
        event.log();
        self.metrics.observe(event);
    }
}
