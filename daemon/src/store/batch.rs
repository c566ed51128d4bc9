//! Writes that close a request and need no answer (a sign-in's audit events, its session, its
//! grant, its spent flow), gathered while the request runs and made together when it ends: one
//! statement where the backend can ([`Store::write_all`]), so a sign-in on a database across a
//! socket pays one round trip for them, not eight, and they land all or none.
//!
//! Only writes whose outcome nothing decides on go here: a put that replaces, a remove that
//! may find nothing, an append. A read-and-change (a code spent, a counter bumped) stays a call
//! of its own, made when the request makes it. And nothing a request gathers is read back by
//! the same request: a gathered write is not in the store until the request ends.

use super::{RecordKey, Store, StoreError};
use crate::model::audit::AuditEvent;
use crate::model::grants::{AuthorizationCode, LoginFlow, RememberedDevice, Session, TokenFamily};
use std::sync::{Arc, Mutex};

/// A record to write, replacing any under its key.
#[derive(Debug, Clone)]
pub enum Put {
    LoginFlow(RecordKey, LoginFlow),
    Session(RecordKey, Session),
    RememberedDevice(RecordKey, RememberedDevice),
    TokenFamily(RecordKey, TokenFamily),
    AuthorizationCode(RecordKey, AuthorizationCode),
}

/// A record to remove, if it is there.
#[derive(Debug, Clone)]
pub enum Remove {
    LoginFlow(RecordKey),
    FailureWindow(RecordKey),
}

/// One write.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "a few live per request, moved into a list once: boxing would only add allocations"
)]
pub enum Write {
    Put(Put),
    Remove(Remove),
    /// An event for the audit trail.
    Audit(AuditEvent),
}

impl Put {
    /// The kind of record, as the store names its short-lived collections.
    pub fn kind(&self) -> &'static str {
        match self {
            Put::LoginFlow(..) => "login_flows",
            Put::Session(..) => "sessions",
            Put::RememberedDevice(..) => "remembered_devices",
            Put::TokenFamily(..) => "token_families",
            Put::AuthorizationCode(..) => "authorization_codes",
        }
    }

    pub fn key(&self) -> &RecordKey {
        match self {
            Put::LoginFlow(key, _)
            | Put::Session(key, _)
            | Put::RememberedDevice(key, _)
            | Put::TokenFamily(key, _)
            | Put::AuthorizationCode(key, _) => key,
        }
    }
}

impl Remove {
    pub fn kind(&self) -> &'static str {
        match self {
            Remove::LoginFlow(_) => "login_flows",
            Remove::FailureWindow(_) => "failure_windows",
        }
    }

    pub fn key(&self) -> &RecordKey {
        match self {
            Remove::LoginFlow(key) | Remove::FailureWindow(key) => key,
        }
    }
}

impl Write {
    /// The record it writes, for the writes that write one.
    fn record(&self) -> Option<(&'static str, &RecordKey)> {
        match self {
            Write::Put(put) => Some((put.kind(), put.key())),
            Write::Remove(remove) => Some((remove.kind(), remove.key())),
            Write::Audit(_) => None,
        }
    }

    /// Makes this write through the store's own calls: what a backend without a statement for
    /// many writes does, in order.
    pub async fn apply<S: Store + ?Sized>(self, store: &S) -> Result<(), StoreError> {
        match self {
            Write::Put(Put::LoginFlow(key, flow)) => store.login_flows().put(&key, &flow).await,
            Write::Put(Put::Session(key, session)) => store.sessions().put(&key, &session).await,
            Write::Put(Put::RememberedDevice(key, device)) => {
                store.remembered_devices().put(&key, &device).await
            }
            Write::Put(Put::TokenFamily(key, family)) => {
                store.token_families().put(&key, &family).await
            }
            Write::Put(Put::AuthorizationCode(key, code)) => {
                store.authorization_codes().put(&key, &code).await
            }
            Write::Remove(Remove::LoginFlow(key)) => {
                store.login_flows().remove(&key).await.map(drop)
            }
            Write::Remove(Remove::FailureWindow(key)) => {
                store.failure_windows().remove(&key).await.map(drop)
            }
            Write::Audit(event) => store.audit_log().append(&event).await,
        }
    }
}

/// Writes in the order they were made, each record at most once: a later write of a record
/// takes the place of an earlier one (so one statement never writes a row twice).
#[derive(Debug, Default)]
pub struct Writes(Vec<Write>);

impl Writes {
    pub fn push(&mut self, write: Write) {
        if let Some(record) = write.record() {
            self.0.retain(|earlier| earlier.record() != Some(record));
        }
        self.0.push(write);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Write> {
        self.0.iter()
    }

    /// The audit events among them, in order.
    pub fn audit_events(&self) -> impl Iterator<Item = &AuditEvent> {
        self.0.iter().filter_map(|write| match write {
            Write::Audit(event) => Some(event),
            _ => None,
        })
    }
}

impl From<Write> for Writes {
    fn from(write: Write) -> Self {
        Self(vec![write])
    }
}

impl FromIterator<Write> for Writes {
    fn from_iter<I: IntoIterator<Item = Write>>(writes: I) -> Self {
        let mut all = Self::default();
        writes.into_iter().for_each(|write| all.push(write));
        all
    }
}

impl IntoIterator for Writes {
    type Item = Write;
    type IntoIter = std::vec::IntoIter<Write>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Where a request's closing writes go: gathered until the request ends
/// ([`Batch::gathering`]), or made at once ([`Batch::now`]: the default, for callers that do not
/// gather). Clones share what was gathered.
#[derive(Debug, Clone, Default)]
pub struct Batch(Option<Arc<Mutex<Gathered>>>);

#[derive(Debug, Default)]
struct Gathered(Writes);

impl Batch {
    /// Every write is made when it is asked for.
    pub fn now() -> Self {
        Self(None)
    }

    /// Writes wait for [`take`](Self::take); whoever made this batch must write what it takes.
    pub fn gathering() -> Self {
        Self(Some(Arc::default()))
    }

    pub fn gathers(&self) -> bool {
        self.0.is_some()
    }

    /// Writes `write` now, or gathers it.
    pub async fn write(&self, store: &dyn Store, write: Write) -> Result<(), StoreError> {
        self.write_all(store, write.into()).await
    }

    /// Writes `writes` now (together), or gathers them.
    pub async fn write_all(&self, store: &dyn Store, writes: Writes) -> Result<(), StoreError> {
        match &self.0 {
            Some(gathered) => {
                let mut gathered = gathered.lock().unwrap_or_else(|p| p.into_inner());
                writes.into_iter().for_each(|write| gathered.0.push(write));
                Ok(())
            }
            None => store.write_all(writes).await,
        }
    }

    pub async fn put(&self, store: &dyn Store, put: Put) -> Result<(), StoreError> {
        self.write(store, Write::Put(put)).await
    }

    pub async fn remove(&self, store: &dyn Store, remove: Remove) -> Result<(), StoreError> {
        self.write(store, Write::Remove(remove)).await
    }

    /// What was gathered so far, which the caller now owns and writes.
    pub fn take(&self) -> Writes {
        match &self.0 {
            Some(gathered) => {
                std::mem::take(&mut gathered.lock().unwrap_or_else(|p| p.into_inner()).0)
            }
            None => Writes::default(),
        }
    }
}

impl Drop for Gathered {
    /// Gathered writes nobody wrote are a bug of the code that gathered them (an audit event
    /// lost): said loudly, and fatal in a debug build.
    fn drop(&mut self) {
        if !self.0.is_empty() {
            tracing::error!(
                writes = self.0.0.len(),
                "gathered writes were dropped without being written"
            );
            if !std::thread::panicking() {
                debug_assert!(false, "gathered writes were dropped: {:?}", self.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_write_of_a_record_takes_the_place_of_an_earlier_one() {
        let key = RecordKey::bearer([1; 32]);
        let other = RecordKey::bearer([2; 32]);
        let mut writes = Writes::default();
        writes.push(Write::Remove(Remove::FailureWindow(key)));
        writes.push(Write::Remove(Remove::LoginFlow(key)));
        writes.push(Write::Remove(Remove::FailureWindow(other)));
        writes.push(Write::Remove(Remove::FailureWindow(key)));
        let records: Vec<_> = writes.iter().filter_map(Write::record).collect();
        assert_eq!(
            records,
            [
                ("login_flows", &key),
                ("failure_windows", &other),
                ("failure_windows", &key)
            ]
        );
    }
}
