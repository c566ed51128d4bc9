//! The sent-mail log: append-only, keyed by a monotonically increasing id.

use super::codec::{Record, decode, encode};
use super::{Store, StoreError};
use crate::model::mail::MailRecord;

impl Record for MailRecord {
    const KIND: &'static str = "mail record";
}

impl Store {
    pub fn append_mail_record(&self, record: &MailRecord) -> Result<(), StoreError> {
        let id = self
            .next_mail_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.mail_log.insert(id.to_be_bytes(), encode(record)?)?;
        Ok(())
    }

    /// Up to `limit` records for which `keep` is true, newest first, none older than `since`.
    pub fn mail_records(
        &self,
        since: u64,
        limit: usize,
        keep: impl Fn(&MailRecord) -> bool,
    ) -> Result<Vec<MailRecord>, StoreError> {
        let mut records = Vec::new();
        for value in self.mail_log.iter().values().rev() {
            let record: MailRecord = decode(&value?)?;
            if record.at < since || records.len() >= limit {
                break;
            }
            if keep(&record) {
                records.push(record);
            }
        }
        Ok(records)
    }
}
