//! Roles behind the store interface. A role cannot go while anyone holds it; the refusal
//! names who does.

use super::sql;
use super::{PgStore, db};
use crate::model::{Role, User, UserId};
use crate::store::codec::{decode, encode};
use crate::store::{Edit, StoreError};

impl PgStore {
    pub(super) async fn insert_role(&self, role: &Role) -> Result<(), StoreError> {
        let client = self.client().await?;
        let inserted = sql::execute(
            &*client,
            "INSERT INTO roles (name, record) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&role.name, &encode(role)?],
        )
        .await
        .map_err(db)?;
        if inserted == 0 {
            return Err(StoreError::AlreadyExists(format!("role `{}`", role.name)));
        }
        Ok(())
    }
    /// Kept in memory while this daemon listens for changes (`cache`).
    pub(super) async fn role(&self, name: &str) -> Result<Option<Role>, StoreError> {
        if let Some(kept) = self.cache.role(name) {
            return Ok(Some(kept));
        }
        let read_at = self.cache.epoch();
        let client = self.client().await?;
        let row = sql::query_opt(
            &*client,
            "SELECT record FROM roles WHERE name = $1",
            &[&name],
        )
        .await
        .map_err(db)?;
        let role: Option<Role> = row.map(|row| decode(row.get(0))).transpose()?;
        if let Some(role) = &role {
            self.cache.keep_role(read_at, role);
        }
        Ok(role)
    }
    pub(super) async fn roles(&self) -> Result<Vec<Role>, StoreError> {
        let client = self.client().await?;
        let rows = sql::query(&*client, "SELECT record FROM roles ORDER BY name", &[])
            .await
            .map_err(db)?;
        rows.iter().map(|row| decode(row.get(0))).collect()
    }
    pub(super) async fn role_count(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row = sql::query_one(&*client, "SELECT count(*) FROM roles", &[])
            .await
            .map_err(db)?;
        Ok(row.get::<_, i64>(0).max(0) as u64)
    }
    pub(super) async fn update_role(
        &self,
        name: &str,
        mut change: Edit<'_, Role>,
    ) -> Result<Role, StoreError> {
        let mut client = self.exclusive().await?;
        let transaction = client.transaction().await.map_err(db)?;
        let row = sql::query_opt(
            &transaction,
            "SELECT record FROM roles WHERE name = $1 FOR UPDATE",
            &[&name],
        )
        .await
        .map_err(db)?
        .ok_or_else(|| StoreError::NotFound(format!("role `{name}`")))?;
        let mut role: Role = decode(row.get(0))?;
        change(&mut role)?;
        role.name = name.to_owned();
        sql::execute(
            &transaction,
            "UPDATE roles SET record = $2 WHERE name = $1",
            &[&name, &encode(&role)?],
        )
        .await
        .map_err(db)?;
        self.commit_announced(transaction).await?;
        Ok(role)
    }
    pub(super) async fn delete_role(&self, name: &str) -> Result<(), StoreError> {
        let mut client = self.exclusive().await?;
        let transaction = client.transaction().await.map_err(db)?;
        let exists = sql::query_opt(
            &transaction,
            "SELECT 1 FROM roles WHERE name = $1 FOR UPDATE",
            &[&name],
        )
        .await
        .map_err(db)?
        .is_some();
        if !exists {
            return Err(StoreError::NotFound(format!("role `{name}`")));
        }
        let holders = sql::query(
            &transaction,
            "SELECT u.record FROM role_members m JOIN users u ON u.id = m.user_id \
                 WHERE m.role = $1 ORDER BY u.name_key LIMIT 5",
            &[&name],
        )
        .await
        .map_err(db)?;
        if !holders.is_empty() {
            let count: i64 = sql::query_one(
                &transaction,
                "SELECT count(*) FROM role_members WHERE role = $1",
                &[&name],
            )
            .await
            .map_err(db)?
            .get(0);
            let mut names = Vec::new();
            for row in &holders {
                names.push(decode::<User>(row.get(0))?.username);
            }
            let more = if count as usize > names.len() {
                ", …"
            } else {
                ""
            };
            return Err(StoreError::Conflict(format!(
                "role `{name}` is held by {count} user(s) ({}{more}); remove it from them first with `postern user remove-role USER {name}`",
                names.join(", ")
            )));
        }
        sql::execute(&transaction, "DELETE FROM roles WHERE name = $1", &[&name])
            .await
            .map_err(db)?;
        self.commit_announced(transaction).await
    }
    pub(super) async fn role_members(&self, role: &str) -> Result<Vec<UserId>, StoreError> {
        let client = self.client().await?;
        let rows = sql::query(
            &*client,
            "SELECT user_id FROM role_members WHERE role = $1 ORDER BY user_id",
            &[&role],
        )
        .await
        .map_err(db)?;
        Ok(rows.iter().map(|row| UserId(row.get(0))).collect())
    }
}
