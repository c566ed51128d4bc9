//! The PostgreSQL backend: every record in one database that several daemons share, so that no
//! single machine is a point of failure for every sign-in. Records are stored as the same
//! versioned bytes as in sled (`store::codec`); the tables add what SQL needs to find them
//! (names, owners, expiry) and to keep them consistent (unique names, a role's holders).
//!
//! Single-use rules hold through the database, never a daemon's memory: a short-lived record
//! is changed by compare-and-swap (written only if it still holds what was read, so of two
//! daemons racing to use one code, one wins and the other reads it spent), and a user, role or
//! client by a transaction that locks its row (`SELECT … FOR UPDATE`).

mod backup;
mod batch;
mod cache;
mod connect;
mod connections;
mod listener;
mod logs;
mod rebuild;
mod records;
mod roles;
mod schema;
mod short_lived;
mod sql;
mod swaps;
#[cfg(test)]
pub(crate) mod tests;
mod users;

use crate::clock::UnixSeconds;
use crate::config::PostgresConfig;
use crate::store::StoreError;
use connections::Connections;
use deadpool_postgres::Pool;
use tokio_postgres::error::SqlState;

pub use schema::SCHEMA_VERSION;

/// The PostgreSQL store. Cheap to share: the pool inside is.
#[derive(Debug)]
pub struct PgStore {
    connections: Connections,
    audit: logs::PgLog<crate::model::audit::AuditEvent>,
    mail: logs::PgLog<crate::model::mail::MailRecord>,
    short: short_lived::Kinds,
    /// The settings and clients, while the listener hears every change to them.
    cache: std::sync::Arc<cache::Cache>,
}

impl PgStore {
    /// Connects, brings the schema up to this daemon's version (one daemon at a time, under an
    /// advisory lock), and refuses a schema newer than this daemon reads.
    pub async fn open(config: &PostgresConfig) -> Result<Self, StoreError> {
        let target = connect::target(config)?;
        let pool = connect::pool(&target, config)?;
        schema::migrate(&pool).await?;
        let store = Self::over(pool, config.pool_size as usize);
        listener::spawn(target, &store.cache);
        Ok(store)
    }

    fn over(pool: Pool, size: usize) -> Self {
        let connections = Connections::new(pool, size);
        Self {
            audit: logs::PgLog::new(connections.clone(), "audit_log"),
            mail: logs::PgLog::new(connections.clone(), "mail_log"),
            short: short_lived::Kinds::new(&connections),
            cache: Default::default(),
            connections,
        }
    }

    /// Whether the database holds anything (a target for `migrate-store` must not).
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT NOT EXISTS (SELECT 1 FROM users) AND NOT EXISTS (SELECT 1 FROM roles) \
                 AND NOT EXISTS (SELECT 1 FROM clients) AND NOT EXISTS (SELECT 1 FROM audit_log)",
                &[],
            )
            .await
            .map_err(db)?;
        Ok(row.get(0))
    }

    /// A connection for one statement, shared with other requests (`Connections::shared`).
    async fn client(&self) -> Result<std::sync::Arc<deadpool_postgres::Object>, StoreError> {
        self.connections.shared().await
    }

    /// A connection of its own, for a transaction.
    async fn exclusive(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.connections.exclusive().await
    }
}

/// A pool that could not hand out a connection: the database is unreachable (or every
/// connection is busy for longer than `connect_timeout`).
fn pool_error(error: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Unavailable(with_causes(&error))
}

/// An error with the errors beneath it ("error performing TLS handshake: invalid peer
/// certificate: UnknownIssuer"), since the top one alone rarely says what to fix.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

/// A failed statement. A connection that broke means the database went away; a server out of
/// disk, memory or connections (SQLSTATE class 53) or in recovery cannot take writes for now;
/// anything else is the statement's own failure.
fn db(error: tokio_postgres::Error) -> StoreError {
    let out_of_resources = error.code().is_some_and(|code| {
        code.code().starts_with("53") || *code == SqlState::READ_ONLY_SQL_TRANSACTION
    });
    if error.is_closed() || error.as_db_error().is_none() {
        StoreError::Unavailable(with_causes(&error))
    } else if out_of_resources {
        StoreError::CannotWrite(with_causes(&error))
    } else {
        StoreError::Db(with_causes(&error))
    }
}

fn is(error: &tokio_postgres::Error, state: &SqlState) -> bool {
    error.code() == Some(state)
}

/// The record in `row`'s `column`; none where the column is null (a subquery that found no
/// row: a link followed to a record that is gone, a window that is not there).
fn record_at<T: crate::store::codec::Record>(
    row: &tokio_postgres::Row,
    column: usize,
) -> Result<Option<T>, StoreError> {
    let bytes: Option<&[u8]> = row.get(column);
    bytes.map(crate::store::codec::decode).transpose()
}

/// Unix seconds as PostgreSQL's BIGINT.
fn seconds(at: UnixSeconds) -> i64 {
    i64::try_from(at).unwrap_or(i64::MAX)
}
