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
