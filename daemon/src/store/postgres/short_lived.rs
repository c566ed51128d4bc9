//! Short-lived records of every kind in one table, found by kind and key. A read-and-change is
//! a compare-and-swap: the change is written only if the row still holds what was read, so of
//! two daemons racing to spend one code, the second sees it spent (and reads it again).

use super::connections::Connections;
use super::sql;
use super::{db, seconds};
use crate::clock::UnixSeconds;
use crate::model::UserId;
use crate::model::device::DeviceAuthorization;
use crate::model::grants::{
    AccessToken, AuthorizationCode, EmailCode, Expiring, FailureWindow, LoginFlow, RefreshToken,
    RememberedDevice, RememberedHost, Session, TokenFamily,
};
use crate::model::passkey::PasskeyChallenge;
use crate::store::codec::{Record, decode, encode};
use crate::store::{Change, Changer, RecordKey, ShortLived, StoreError, Upserter};
use async_trait::async_trait;
use std::marker::PhantomData;

/// A short-lived record as its row holds it, for an insert of one row or of several at once.
pub(super) struct Row {
    kind: &'static str,
    key: Vec<u8>,
    owner: Option<uuid::Uuid>,
    expires_at: i64,
    record: Vec<u8>,
    family: Option<Vec<u8>>,
    client: Option<String>,
    user: Option<uuid::Uuid>,
}

impl Row {
    pub(super) fn of<T: Record + Expiring>(
        kind: &'static str,
        key: &RecordKey,
        record: &T,
    ) -> Result<Self, StoreError> {
        let links = record.links();
        Ok(Self {
            kind,
            key: key.to_bytes(),
            owner: key.owner.map(|o| o.0),
            expires_at: seconds(record.expires_at()),
            record: encode(record)?,
            family: links.family.map(|f| f.to_vec()),
            client: links.client_id,
            user: links.user_id.map(|u| u.0),
        })
    }

    /// Its values, in the order of the columns of [`insert`](Self::insert).
    pub(super) fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 8] {
        [
            &self.kind,
            &self.key,
            &self.owner,
            &self.expires_at,
            &self.record,
            &self.family,
            &self.client,
            &self.user,
        ]
    }

    /// The statement that writes `rows` rows, one or two (replacing any under the same kind
    /// and key), their values given one row after the other. Built once: every put asks.
    pub(super) fn insert(rows: usize) -> &'static str {
        static STATEMENTS: std::sync::OnceLock<[String; 2]> = std::sync::OnceLock::new();
        &STATEMENTS.get_or_init(|| [1, 2].map(|rows| Self::statement(1, rows)))[rows - 1]
    }

    /// The statement that writes `rows` rows, its parameters numbered from `first`.
    pub(super) fn statement(first: usize, rows: usize) -> String {
        let values: Vec<String> = (0..rows)
            .map(|row| {
                let columns: Vec<String> = (0..8)
                    .map(|c| format!("${}", first + row * 8 + c))
                    .collect();
                format!("({})", columns.join(", "))
            })
            .collect();
        format!(
            "INSERT INTO short_lived (kind, key, owner, expires_at, record, \
                 link_family, link_client, link_user) VALUES {} \
             ON CONFLICT (kind, key) DO UPDATE \
             SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at, \
                 record = EXCLUDED.record, link_family = EXCLUDED.link_family, \
                 link_client = EXCLUDED.link_client, link_user = EXCLUDED.link_user",
            values.join(", ")
        )
    }
}

#[derive(Debug)]
pub(super) struct PgShortLived<T> {
    connections: Connections,
    kind: &'static str,
    record: PhantomData<fn() -> T>,
}

impl<T> PgShortLived<T> {
    fn new(connections: &Connections, kind: &'static str) -> Self {
        Self {
            connections: connections.clone(),
            kind,
            record: PhantomData,
        }
    }
}

impl<T: Record + Expiring + Send + Sync> PgShortLived<T> {
    /// The row under `key` exactly as stored (for a compare-and-swap), if there is one.
    async fn read(
        &self,
        client: &deadpool_postgres::Object,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let statement = client
            .prepare_cached("SELECT record FROM short_lived WHERE kind = $1 AND key = $2")
            .await
            .map_err(db)?;
        let row = client
            .query_opt(&statement, &[&self.kind, &key])
            .await
            .map_err(db)?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Makes what `change` says of the row that held `expected` (`None`: no row) in one
    /// statement, only if the row still holds it; false if another writer changed it first
    /// (the caller reads it again). As sled's compare-and-swap, without holding a lock between
    /// round trips.
    async fn swap(
        &self,
        client: &deadpool_postgres::Object,
        key: &RecordKey,
        expected: Option<&[u8]>,
        change: Change<T>,
    ) -> Result<bool, StoreError> {
        let bytes = key.to_bytes();
        let changed = match (expected, change) {
            (_, Change::Keep) | (None, Change::Remove) => return Ok(true),
            (Some(old), Change::Remove) => {
                let statement = client
                    .prepare_cached(
                        "DELETE FROM short_lived WHERE kind = $1 AND key = $2 AND record = $3",
                    )
                    .await
                    .map_err(db)?;
                client
                    .execute(&statement, &[&self.kind, &bytes, &old])
                    .await
            }
            (Some(old), Change::Replace(record)) => {
                let statement = client
                    .prepare_cached(
                        "UPDATE short_lived SET record = $3, expires_at = $4 \
                         WHERE kind = $1 AND key = $2 AND record = $5",
                    )
                    .await
                    .map_err(db)?;
                client
                    .execute(
                        &statement,
                        &[
                            &self.kind,
                            &bytes,
                            &encode(&record)?,
                            &seconds(record.expires_at()),
                            &old,
                        ],
                    )
                    .await
            }
            (None, Change::Replace(record)) => {
                let statement = client
                    .prepare_cached(
                        "INSERT INTO short_lived (kind, key, owner, expires_at, record, \
                             link_family, link_client, link_user) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (kind, key) DO NOTHING",
                    )
                    .await
                    .map_err(db)?;
                let links = record.links();
                client
                    .execute(
                        &statement,
                        &[
                            &self.kind,
                            &bytes,
                            &key.owner.map(|o| o.0),
                            &seconds(record.expires_at()),
                            &encode(&record)?,
                            &links.family.as_ref().map(|f| f.as_slice()),
                            &links.client_id,
                            &links.user_id.map(|u| u.0),
                        ],
                    )
                    .await
            }
        };
        Ok(changed.map_err(db)? == 1)
    }

    async fn rows(
        &self,
        statement: &str,
        owner: Option<UserId>,
        now: UnixSeconds,
    ) -> Result<Vec<(RecordKey, T)>, StoreError> {
        let client = self.connections.shared().await?;
        let rows = match owner {
            Some(owner) => sql::query(&*client, statement, &[&self.kind, &seconds(now), &owner.0])
                .await
                .map_err(db)?,
            None => sql::query(&*client, statement, &[&self.kind, &seconds(now)])
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
        let client = self.connections.shared().await?;
        let row = sql::query_opt(
            &*client,
            "SELECT record FROM short_lived \
                 WHERE kind = $1 AND key = $2 AND expires_at > $3",
            &[&self.kind, &key.to_bytes(), &seconds(now)],
        )
        .await
        .map_err(db)?;
        row.map(|row| decode(row.get(0))).transpose()
    }

    async fn get_pair(
        &self,
        first: &RecordKey,
        second: &RecordKey,
        now: UnixSeconds,
    ) -> Result<(Option<T>, Option<T>), StoreError> {
        let client = self.connections.shared().await?;
        let (first, second) = (first.to_bytes(), second.to_bytes());
        let rows = sql::query(
            &*client,
            "SELECT key, record FROM short_lived \
                 WHERE kind = $1 AND key IN ($2, $3) AND expires_at > $4",
            &[&self.kind, &first, &second, &seconds(now)],
        )
        .await
        .map_err(db)?;
        let mut pair = (None, None);
        for row in rows {
            let key: &[u8] = row.get(0);
            let record = Some(decode(row.get(1))?);
            if key == first.as_slice() {
                pair.0 = record;
            } else if key == second.as_slice() {
                pair.1 = record;
            }
        }
        Ok(pair)
    }

    async fn put(&self, key: &RecordKey, record: &T) -> Result<(), StoreError> {
        let client = self.connections.shared().await?;
        let row = Row::of(self.kind, key, record)?;
        sql::execute(&*client, Row::insert(1), &row.params())
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn remove(&self, key: &RecordKey) -> Result<bool, StoreError> {
        let client = self.connections.shared().await?;
        let removed = sql::execute(
            &*client,
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
        let client = self.connections.shared().await?;
        loop {
            let Some(stored) = self.read(&client, &key.to_bytes()).await? else {
                return Ok(None);
            };
            let current: T = decode(&stored)?;
            if current.expires_at() <= now {
                return Ok(None);
            }
            let next = change(&current);
            if self.swap(&client, key, Some(&stored), next).await? {
                return Ok(Some(current));
            }
        }
    }

    async fn update_seen(
        &self,
        key: &RecordKey,
        seen: &T,
        now: UnixSeconds,
        change: Changer<'_, T>,
    ) -> Result<Option<T>, StoreError>
    where
        T: Clone,
    {
        if seen.expires_at() > now {
            let next = change(seen);
            if !matches!(next, Change::Keep) {
                let client = self.connections.shared().await?;
                // A record encodes to the same bytes every time: the copy's are the row's if
                // nobody changed it since.
                if self.swap(&client, key, Some(&encode(seen)?), next).await? {
                    return Ok(Some(seen.clone()));
                }
            }
        }
        self.update(key, now, change).await
    }

    async fn upsert(
        &self,
        key: &RecordKey,
        now: UnixSeconds,
        change: Upserter<'_, T>,
    ) -> Result<Option<T>, StoreError> {
        let client = self.connections.shared().await?;
        loop {
            let stored = self.read(&client, &key.to_bytes()).await?;
            let current = match &stored {
                Some(bytes) => Some(decode::<T>(bytes)?).filter(|r| r.expires_at() > now),
                None => None,
            };
            let next = change(current.as_ref());
            if self.swap(&client, key, stored.as_deref(), next).await? {
                return Ok(current);
            }
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
        let client = self.connections.shared().await?;
        let removed = sql::execute(
            &*client,
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
        let client = self.connections.shared().await?;
        let removed = sql::execute(
            &*client,
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
            pub(super) fn new(connections: &Connections) -> Self {
                Self { $($field: PgShortLived::new(connections, stringify!($field)),)* }
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
    passkey_challenges: PasskeyChallenge;
    device_authorizations: DeviceAuthorization;
}
