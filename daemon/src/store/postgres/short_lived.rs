//! Short-lived records of every kind in one table, found by kind and key. A read-and-change
//! locks the row for the length of one transaction, so of two daemons racing to spend one code,
//! the second sees it spent.

use super::{db, is, pool_error, seconds};
use crate::clock::UnixSeconds;
use crate::model::UserId;
use crate::model::grants::{
    AccessToken, AuthorizationCode, EmailCode, Expiring, FailureWindow, LoginFlow, RefreshToken,
    RememberedDevice, RememberedHost, Session, TokenFamily,
};
use crate::store::codec::{Record, decode, encode};
use crate::store::{Change, Changer, RecordKey, ShortLived, StoreError, Upserter};
use async_trait::async_trait;
use deadpool_postgres::Pool;
use std::marker::PhantomData;
use tokio_postgres::error::SqlState;

#[derive(Debug)]
pub(super) struct PgShortLived<T> {
    pool: Pool,
    kind: &'static str,
    record: PhantomData<fn() -> T>,
}

impl<T> PgShortLived<T> {
    fn new(pool: &Pool, kind: &'static str) -> Self {
        Self {
            pool: pool.clone(),
            kind,
            record: PhantomData,
        }
    }
}

/// What the row under a key holds now, for a read-and-change.
struct Locked<T> {
    exists: bool,
    current: Option<T>,
}

impl<T: Record + Expiring + Send + Sync> PgShortLived<T> {
    /// Reads and locks the row under `key` in `transaction`.
    async fn lock(
        &self,
        transaction: &tokio_postgres::Transaction<'_>,
        key: &[u8],
        now: UnixSeconds,
    ) -> Result<Locked<T>, StoreError> {
        let row = transaction
            .query_opt(
                "SELECT record FROM short_lived WHERE kind = $1 AND key = $2 FOR UPDATE",
                &[&self.kind, &key],
            )
            .await
            .map_err(db)?;
        let current = match &row {
            Some(row) => Some(decode::<T>(row.get(0))?).filter(|r| r.expires_at() > now),
            None => None,
        };
        Ok(Locked {
            exists: row.is_some(),
            current,
        })
    }

    /// Writes what `change` decided about the locked row; false if another daemon inserted the
    /// same key meanwhile (the caller tries again).
    async fn write(
        &self,
        transaction: &tokio_postgres::Transaction<'_>,
        key: &RecordKey,
        exists: bool,
        change: Change<T>,
    ) -> Result<bool, StoreError> {
        let bytes = key.to_bytes();
        match change {
            Change::Keep => {}
            Change::Remove => {
                transaction
                    .execute(
                        "DELETE FROM short_lived WHERE kind = $1 AND key = $2",
                        &[&self.kind, &bytes],
                    )
                    .await
                    .map_err(db)?;
            }
            Change::Replace(record) if exists => {
                transaction
                    .execute(
                        "UPDATE short_lived SET record = $3, expires_at = $4 \
                         WHERE kind = $1 AND key = $2",
                        &[
                            &self.kind,
                            &bytes,
                            &encode(&record)?,
                            &seconds(record.expires_at()),
                        ],
                    )
                    .await
                    .map_err(db)?;
            }
            Change::Replace(record) => {
                let inserted = transaction
                    .execute(
                        "INSERT INTO short_lived (kind, key, owner, expires_at, record) \
                         VALUES ($1, $2, $3, $4, $5)",
                        &[
                            &self.kind,
                            &bytes,
                            &key.owner.map(|o| o.0),
                            &seconds(record.expires_at()),
                            &encode(&record)?,
                        ],
                    )
                    .await;
                match inserted {
                    Ok(_) => {}
                    Err(e) if is(&e, &SqlState::UNIQUE_VIOLATION) => return Ok(false),
                    Err(e) => return Err(db(e)),
                }
            }
        }
        Ok(true)
    }

    async fn rows(
        &self,
        statement: &str,
        owner: Option<UserId>,
        now: UnixSeconds,
    ) -> Result<Vec<(RecordKey, T)>, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let rows = match owner {
            Some(owner) => client
                .query(statement, &[&self.kind, &seconds(now), &owner.0])
                .await
                .map_err(db)?,
            None => client
                .query(statement, &[&self.kind, &seconds(now)])
                .await
                .map_err(db)?,
        };
        rows.iter()
            .map(|row| Ok((RecordKey::from_bytes(row.get(0))?, decode(row.get(1))?)))
            .collect()
    }
}

#[async_trait]
impl<T: Record + Expiring + Send + Sync> ShortLived<T> for PgShortLived<T> {
    async fn get(&self, key: &RecordKey, now: UnixSeconds) -> Result<Option<T>, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let row = client
            .query_opt(
                "SELECT record FROM short_lived \
                 WHERE kind = $1 AND key = $2 AND expires_at > $3",
                &[&self.kind, &key.to_bytes(), &seconds(now)],
            )
            .await
            .map_err(db)?;
        row.map(|row| decode(row.get(0))).transpose()
    }

    async fn put(&self, key: &RecordKey, record: &T) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        client
            .execute(
                "INSERT INTO short_lived (kind, key, owner, expires_at, record) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (kind, key) DO UPDATE \
                 SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at, \
                     record = EXCLUDED.record",
                &[
                    &self.kind,
                    &key.to_bytes(),
                    &key.owner.map(|o| o.0),
                    &seconds(record.expires_at()),
                    &encode(record)?,
                ],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn remove(&self, key: &RecordKey) -> Result<bool, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let removed = client
            .execute(
                "DELETE FROM short_lived WHERE kind = $1 AND key = $2",
                &[&self.kind, &key.to_bytes()],
            )
            .await
            .map_err(db)?;
        Ok(removed > 0)
    }

    async fn update(
        &self,
        key: &RecordKey,
        now: UnixSeconds,
        change: Changer<'_, T>,
    ) -> Result<Option<T>, StoreError> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let transaction = client.transaction().await.map_err(db)?;
        let locked = self.lock(&transaction, &key.to_bytes(), now).await?;
        let Some(current) = locked.current else {
            return Ok(None);
        };
        self.write(&transaction, key, true, change(&current))
            .await?;
        transaction.commit().await.map_err(db)?;
        Ok(Some(current))
    }

    async fn upsert(
        &self,
        key: &RecordKey,
        now: UnixSeconds,
        change: Upserter<'_, T>,
    ) -> Result<Option<T>, StoreError> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        loop {
            let transaction = client.transaction().await.map_err(db)?;
            let locked = self.lock(&transaction, &key.to_bytes(), now).await?;
            let next = change(locked.current.as_ref());
            if self.write(&transaction, key, locked.exists, next).await? {
                transaction.commit().await.map_err(db)?;
                return Ok(locked.current);
            }
            // Another daemon inserted the row first: the transaction is spoilt; read it again.
        }
    }

    async fn of_owner(
        &self,
        owner: UserId,
        now: UnixSeconds,
    ) -> Result<Vec<(RecordKey, T)>, StoreError> {
        self.rows(
            "SELECT key, record FROM short_lived \
             WHERE kind = $1 AND expires_at > $2 AND owner = $3 ORDER BY key",
            Some(owner),
            now,
        )
        .await
    }

    async fn remove_of_owner(&self, owner: UserId) -> Result<usize, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let removed = client
            .execute(
                "DELETE FROM short_lived WHERE kind = $1 AND owner = $2",
                &[&self.kind, &owner.0],
            )
            .await
            .map_err(db)?;
        Ok(removed as usize)
    }

    async fn all(&self, now: UnixSeconds) -> Result<Vec<(RecordKey, T)>, StoreError> {
        self.rows(
            "SELECT key, record FROM short_lived WHERE kind = $1 AND expires_at > $2",
            None,
            now,
        )
        .await
    }

    async fn sweep(&self, now: UnixSeconds) -> Result<usize, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let removed = client
            .execute(
                "DELETE FROM short_lived WHERE kind = $1 AND expires_at <= $2",
                &[&self.kind, &seconds(now)],
            )
            .await
            .map_err(db)?;
        Ok(removed as usize)
    }
}

macro_rules! kinds {
    ($($field:ident: $record:ty;)*) => {
        /// One handle a kind, all over the same table.
        #[derive(Debug)]
        pub(super) struct Kinds {
            $(pub(super) $field: PgShortLived<$record>,)*
        }

        impl Kinds {
            pub(super) fn new(pool: &Pool) -> Self {
                Self { $($field: PgShortLived::new(pool, stringify!($field)),)* }
            }
        }
    };
}

kinds! {
    login_flows: LoginFlow;
    sessions: Session;
    token_families: TokenFamily;
    authorization_codes: AuthorizationCode;
    access_tokens: AccessToken;
    refresh_tokens: RefreshToken;
    remembered_devices: RememberedDevice;
    email_codes: EmailCode;
    remembered_hosts: RememberedHost;
    failure_windows: FailureWindow;
}
