//! The append-only logs (audit trail, sent-mail log), one table each, in the order written.

use super::connections::Connections;
use super::sql;
use super::{db, seconds};
use crate::clock::UnixSeconds;
use crate::store::codec::{Record, decode, encode};
use crate::store::{AppendLog, StoreError, Timestamped};
use async_trait::async_trait;
use std::marker::PhantomData;

/// How many entries a read of the newest entries fetches at a time.
const BATCH: i64 = 500;

#[derive(Debug)]
pub(super) struct PgLog<T> {
    connections: Connections,
    table: &'static str,
    kind: PhantomData<fn() -> T>,
}

impl<T> PgLog<T> {
    pub(super) fn new(connections: Connections, table: &'static str) -> Self {
        Self {
            connections,
            table,
            kind: PhantomData,
        }
    }
}

#[async_trait]
impl<T: Record + Timestamped + Send + Sync> AppendLog<T> for PgLog<T> {
    async fn append(&self, entry: &T) -> Result<(), StoreError> {
        let client = self.connections.shared().await?;
        let statement = format!("INSERT INTO {} (at, record) VALUES ($1, $2)", self.table);
        sql::execute(
            &*client,
            &statement,
            &[&seconds(entry.at()), &encode(entry)?],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn newest(
        &self,
        since: UnixSeconds,
        limit: usize,
        keep: &(dyn for<'e> Fn(&'e T) -> bool + Sync),
    ) -> Result<Vec<T>, StoreError> {
        let client = self.connections.shared().await?;
        let statement = format!(
            "SELECT id, record FROM {} WHERE id < $1 AND at >= $2 ORDER BY id DESC LIMIT $3",
            self.table
        );
        let mut entries = Vec::new();
        let mut before = i64::MAX;
        while entries.len() < limit {
            let rows = sql::query(&*client, &statement, &[&before, &seconds(since), &BATCH])
                .await
                .map_err(db)?;
            let Some(last) = rows.last() else { break };
            before = last.get(0);
            for row in &rows {
                let entry: T = decode(row.get(1))?;
                if keep(&entry) && entries.len() < limit {
                    entries.push(entry);
                }
            }
        }
        Ok(entries)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let client = self.connections.shared().await?;
        let statement = format!("SELECT count(*) FROM {}", self.table);
        let row = sql::query_one(&*client, &statement, &[])
            .await
            .map_err(db)?;
        Ok(row.get::<_, i64>(0).max(0) as u64)
    }
}
