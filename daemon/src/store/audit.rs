//! The audit trail, keyed by a monotonically increasing id so that iteration is in time order.

use super::codec::{decode, encode};
use super::{Store, StoreError};
use crate::model::audit::AuditEvent;

impl Store {
    /// Appends an event. Events are never changed or removed through this API.
    pub fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let id = self
            .next_audit_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.audit.insert(id.to_be_bytes(), encode(event)?)?;
        Ok(())
    }

    /// Up to `limit` events for which `keep` is true, newest first. Stops reading at the first
    /// event older than `since`, so recent queries stay cheap on a long trail.
    pub fn audit_events(
        &self,
        since: u64,
        limit: usize,
        keep: impl Fn(&AuditEvent) -> bool,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let mut events = Vec::new();
        for value in self.audit.iter().values().rev() {
            let event: AuditEvent = decode(&value?)?;
            if event.at < since || events.len() >= limit {
                break;
            }
            if keep(&event) {
                events.push(event);
            }
        }
        Ok(events)
    }

    pub fn audit_count(&self) -> u64 {
        self.audit.len() as u64
    }
}
