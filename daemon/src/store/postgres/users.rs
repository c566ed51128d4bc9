//! Users behind the store interface, with their indexes kept consistent in one transaction:
//! the case-folded name (unique), and who holds which role.

use super::sql;
use super::{PgStore, db, is, record_at};
use crate::clock::UnixSeconds;
use crate::model::{User, UserId, normalize_username};
use crate::store::codec::{decode, encode};
use crate::store::{Edit, RecordKey, StoreError, UnlessFailures, WindowPair};
use std::collections::BTreeSet;
use tokio_postgres::error::SqlState;

/// A user id as PostgreSQL's UUID.
pub(super) fn uuid(id: UserId) -> uuid::Uuid {
    id.0
}

/// Refuses roles that do not exist, naming the first, as the sled backend does.
pub(super) async fn check_roles_exist(
    transaction: &deadpool_postgres::Transaction<'_>,
    roles: &BTreeSet<String>,
) -> Result<(), StoreError> {
    if roles.is_empty() {
        return Ok(());
    }
    let wanted: Vec<&str> = roles.iter().map(String::as_str).collect();
    let rows = sql::query(
        transaction,
        "SELECT name FROM roles WHERE name = ANY($1)",
        &[&wanted],
    )
    .await
    .map_err(db)?;
    let found: BTreeSet<String> = rows.iter().map(|row| row.get(0)).collect();
    match roles.iter().find(|role| !found.contains(*role)) {
        Some(missing) => Err(StoreError::NotFound(format!("role `{missing}`"))),
        None => Ok(()),
    }
}

async fn add_members(
    transaction: &deadpool_postgres::Transaction<'_>,
    roles: impl Iterator<Item = &String>,
    id: UserId,
) -> Result<(), StoreError> {
    for role in roles {
        sql::execute(
            transaction,
            "INSERT INTO role_members (role, user_id) VALUES ($1, $2)",
            &[role, &uuid(id)],
        )
        .await
        .map_err(db)?;
    }
    Ok(())
}

/// The two failure windows in `row`'s columns from `first` on, each there if it is live.
fn windows_from(row: &tokio_postgres::Row, first: usize) -> Result<WindowPair, StoreError> {
    Ok((record_at(row, first)?, record_at(row, first + 1)?))
}

/// Whether a change leaves the name and roles alone (their indexes need a transaction).
fn keeps_indexes(before: &User, after: &User) -> bool {
    after.roles == before.roles
        && normalize_username(&after.username) == normalize_username(&before.username)
}

/// `before` as `change` leaves it; whatever the change did, the id stays.
fn changed(before: &User, change: &mut Edit<'_, User>) -> Result<User, StoreError> {
    let mut after = before.clone();
    change(&mut after)?;
    after.id = before.id;
    Ok(after)
}

impl PgStore {
    async fn user_where(
        &self,
        condition: &str,
        value: &(dyn tokio_postgres::types::ToSql + Sync),
    ) -> Result<Option<User>, StoreError> {
        let client = self.client().await?;
        let statement = format!("SELECT record FROM users WHERE {condition}");
        let row = sql::query_opt(&*client, &statement, &[value])
            .await
            .map_err(db)?;
        row.map(|row| decode(row.get(0))).transpose()
    }

    pub(super) async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        let mut client = self.exclusive().await?;
        let transaction = client.transaction().await.map_err(db)?;
        check_roles_exist(&transaction, &user.roles).await?;
        let inserted = sql::execute(
            &transaction,
            "INSERT INTO users (id, name_key, record) VALUES ($1, $2, $3)",
            &[
                &uuid(user.id),
                &normalize_username(&user.username),
                &encode(user)?,
            ],
        )
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is(&e, &SqlState::UNIQUE_VIOLATION) => {
                return Err(StoreError::AlreadyExists(format!(
                    "user `{}`",
                    user.username
                )));
            }
            Err(e) => return Err(db(e)),
        }
        add_members(&transaction, user.roles.iter(), user.id).await?;
        sql::execute(
            &transaction,
            "UPDATE counters SET value = value + 1 WHERE name = 'users'",
            &[],
        )
        .await
        .map_err(db)?;
        transaction.commit().await.map_err(db)
    }
    pub(super) async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.user_where("id = $1", &uuid(id)).await
    }
    pub(super) async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.user_where("name_key = $1", &normalize_username(username))
            .await
    }
    /// One statement: the user and each window is a lookup by its own key.
    pub(super) async fn user_by_name_and_windows(
        &self,
        username: &str,
        (first, second): (&RecordKey, &RecordKey),
        now: UnixSeconds,
    ) -> Result<(Option<User>, WindowPair), StoreError> {
        let client = self.client().await?;
        let row = sql::query_one(
            &*client,
            "SELECT (SELECT record FROM users WHERE name_key = $1), \
                    (SELECT record FROM short_lived WHERE kind = 'failure_windows' \
                         AND key = $2 AND expires_at > $4), \
                    (SELECT record FROM short_lived WHERE kind = 'failure_windows' \
                         AND key = $3 AND expires_at > $4)",
            &[
                &normalize_username(username),
                &first.to_bytes(),
                &second.to_bytes(),
                &super::seconds(now),
            ],
        )
        .await
        .map_err(db)?;
        Ok((record_at(&row, 0)?, windows_from(&row, 1)?))
    }

    pub(super) async fn users_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<User>, Option<String>), StoreError> {
        let client = self.client().await?;
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
        let rows = sql::query(
            &*client,
            "SELECT name_key, record FROM users \
                 WHERE $1::TEXT IS NULL OR name_key > $1 ORDER BY name_key LIMIT $2",
            &[&after, &fetch],
        )
        .await
        .map_err(db)?;
        let more = rows.len() > limit;
        let mut users = Vec::with_capacity(rows.len().min(limit));
        let mut last = None;
        for row in rows.iter().take(limit) {
            users.push(decode(row.get(1))?);
            last = Some(row.get::<_, String>(0));
        }
        Ok((users, if more { last } else { None }))
    }
    /// Most changes (a spent code, the last sign-in) touch neither the name nor the roles: they
    /// are a compare-and-swap of the record, two statements on a shared connection. A change
    /// of either index, or a record that keeps changing under us, takes the locked path.
    pub(super) async fn update_user(
        &self,
        id: UserId,
        mut change: Edit<'_, User>,
    ) -> Result<User, StoreError> {
        for _ in 0..3 {
            let client = self.client().await?;
            let old: Vec<u8> = sql::query_opt(
                &*client,
                "SELECT record FROM users WHERE id = $1",
                &[&uuid(id)],
            )
            .await
            .map_err(db)?
            .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?
            .get(0);
            let before: User = decode(&old)?;
            let after = changed(&before, &mut change)?;
            if !keeps_indexes(&before, &after) {
                break;
            }
            if self.swap_user(&old, &after).await? {
                return Ok(after);
            }
        }
        self.update_user_locked(id, change).await
    }

    /// The compare-and-swap of [`update_user`](Self::update_user) tried first against the
    /// caller's copy: a record stores the same bytes every time it is encoded, so the copy's
    /// encoding is what the row holds if nobody changed the user since.
    pub(super) async fn update_seen_user(
        &self,
        seen: &User,
        mut change: Edit<'_, User>,
    ) -> Result<User, StoreError> {
        if let Ok(after) = changed(seen, &mut change) {
            if keeps_indexes(seen, &after) && self.swap_user(&encode(seen)?, &after).await? {
                return Ok(after);
            }
        }
        self.update_user(seen.id, change).await
    }

    /// One statement on the common path: the windows are read in it, and the user swapped in
    /// it unless one of them is live.
    pub(super) async fn update_seen_user_unless_failures(
        &self,
        seen: &User,
        mut change: Edit<'_, User>,
        (first, second): (&RecordKey, &RecordKey),
        now: UnixSeconds,
    ) -> Result<UnlessFailures, StoreError> {
        let after = changed(seen, &mut change).ok();
        let Some(after) = after.filter(|after| keeps_indexes(seen, after)) else {
            let windows = (first, second);
            return crate::store::read_windows_then_update(self, seen, change, windows, now).await;
        };
        let client = self.client().await?;
        let row = sql::query_one(
            &*client,
            "WITH w AS (SELECT key, record FROM short_lived WHERE kind = 'failure_windows' \
                            AND key IN ($4, $5) AND expires_at > $6), \
                  u AS (UPDATE users SET record = $3 \
                            WHERE id = $1 AND record = $2 AND NOT EXISTS (SELECT 1 FROM w) \
                            RETURNING 1) \
             SELECT (SELECT count(*) FROM u), (SELECT record FROM w WHERE key = $4), \
                    (SELECT record FROM w WHERE key = $5)",
            &[
                &uuid(after.id),
                &encode(seen)?,
                &encode(&after)?,
                &first.to_bytes(),
                &second.to_bytes(),
                &super::seconds(now),
            ],
        )
        .await
        .map_err(db)?;
        let windows = windows_from(&row, 1)?;
        if row.get::<_, i64>(0) == 1 {
            Ok(UnlessFailures::Changed(Box::new(after)))
        } else if windows.0.is_some() || windows.1.is_some() {
            Ok(UnlessFailures::Failures(windows))
        } else {
            // Changed since it was read, no window live: as `update_user` does.
            let after = self.update_user(seen.id, change).await?;
            Ok(UnlessFailures::Changed(Box::new(after)))
        }
    }

    /// Writes `after` over the user whose row holds exactly `old`; false if it does not.
    async fn swap_user(&self, old: &[u8], after: &User) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let swapped = sql::execute(
            &*client,
            "UPDATE users SET record = $3 WHERE id = $1 AND record = $2",
            &[&uuid(after.id), &old, &encode(after)?],
        )
        .await
        .map_err(db)?;
        Ok(swapped == 1)
    }

    async fn update_user_locked(
        &self,
        id: UserId,
        mut change: Edit<'_, User>,
    ) -> Result<User, StoreError> {
        let mut client = self.exclusive().await?;
        let transaction = client.transaction().await.map_err(db)?;
        let row = sql::query_opt(
            &transaction,
            "SELECT record FROM users WHERE id = $1 FOR UPDATE",
            &[&uuid(id)],
        )
        .await
        .map_err(db)?
        .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
        let before: User = decode(row.get(0))?;
        let after = changed(&before, &mut change)?;
        if after.roles != before.roles {
            check_roles_exist(&transaction, &after.roles).await?;
        }
        let updated = sql::execute(
            &transaction,
            "UPDATE users SET name_key = $2, record = $3 WHERE id = $1",
            &[
                &uuid(id),
                &normalize_username(&after.username),
                &encode(&after)?,
            ],
        )
        .await;
        match updated {
            Ok(_) => {}
            Err(e) if is(&e, &SqlState::UNIQUE_VIOLATION) => {
                return Err(StoreError::AlreadyExists(format!(
                    "user `{}`",
                    after.username
                )));
            }
            Err(e) => return Err(db(e)),
        }
        for role in before.roles.difference(&after.roles) {
            sql::execute(
                &transaction,
                "DELETE FROM role_members WHERE role = $1 AND user_id = $2",
                &[role, &uuid(id)],
            )
            .await
            .map_err(db)?;
        }
        add_members(&transaction, after.roles.difference(&before.roles), id).await?;
        transaction.commit().await.map_err(db)?;
        Ok(after)
    }
    pub(super) async fn delete_user(&self, id: UserId) -> Result<User, StoreError> {
        let mut client = self.exclusive().await?;
        let transaction = client.transaction().await.map_err(db)?;
        let row = sql::query_opt(
            &transaction,
            "DELETE FROM users WHERE id = $1 RETURNING record",
            &[&uuid(id)],
        )
        .await
        .map_err(db)?
        .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
        let user: User = decode(row.get(0))?;
        sql::execute(
            &transaction,
            "DELETE FROM consents WHERE user_id = $1",
            &[&uuid(id)],
        )
        .await
        .map_err(db)?;
        sql::execute(
            &transaction,
            "UPDATE counters SET value = value - 1 WHERE name = 'users'",
            &[],
        )
        .await
        .map_err(db)?;
        transaction.commit().await.map_err(db)?;
        Ok(user)
    }
    pub(super) async fn user_count(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row = sql::query_one(
            &*client,
            "SELECT value FROM counters WHERE name = 'users'",
            &[],
        )
        .await
        .map_err(db)?;
        Ok(row.get::<_, i64>(0).max(0) as u64)
    }
}
