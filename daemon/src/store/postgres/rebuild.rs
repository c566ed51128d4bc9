//! Rebuilding what follows from the records (`posternd check-store --repair`), in one
//! transaction: each user's case-folded name and role memberships, each client's name column,
//! the user count, and consents whose user is gone (consents have no foreign key: a backup
//! restores them before their users).

use super::users::uuid;
use super::{PgStore, db, sql};
use crate::model::{Client, User, UserId, normalize_username};
use crate::store::StoreError;
use crate::store::codec::decode;
use std::collections::BTreeSet;

impl PgStore {
    pub(super) async fn rebuild_derived_now(&self) -> Result<Vec<String>, StoreError> {
        let mut client = self.exclusive().await?;
        let transaction = client.transaction().await.map_err(db)?;
        let mut changes = Vec::new();

        let roles: BTreeSet<String> = sql::query(&transaction, "SELECT name FROM roles", &[])
            .await
            .map_err(db)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let mut wanted_members = BTreeSet::new();
        let mut renamed = 0;
        for row in sql::query(&transaction, "SELECT name_key, record FROM users", &[])
            .await
            .map_err(db)?
        {
            let user: User = decode(row.get::<_, &[u8]>(1))?;
            let name_key = normalize_username(&user.username);
            if row.get::<_, &str>(0) != name_key {
                sql::execute(
                    &transaction,
                    "UPDATE users SET name_key = $2 WHERE id = $1",
                    &[&uuid(user.id), &name_key],
                )
                .await
                .map_err(db)?;
                renamed += 1;
            }
            for role in user.roles.iter().filter(|r| roles.contains(*r)) {
                wanted_members.insert((role.clone(), user.id.0));
            }
        }
        if renamed > 0 {
            changes.push(format!("username index: corrected {renamed} entries"));
        }

        let held: BTreeSet<(String, uuid::Uuid)> =
            sql::query(&transaction, "SELECT role, user_id FROM role_members", &[])
                .await
                .map_err(db)?
                .iter()
                .map(|row| (row.get(0), row.get(1)))
                .collect();
        let (mut removed, mut added) = (0, 0);
        for (role, id) in held.difference(&wanted_members) {
            sql::execute(
                &transaction,
                "DELETE FROM role_members WHERE role = $1 AND user_id = $2",
                &[role, id],
            )
            .await
            .map_err(db)?;
            removed += 1;
        }
        for (role, id) in wanted_members.difference(&held) {
            sql::execute(
                &transaction,
                "INSERT INTO role_members (role, user_id) VALUES ($1, $2)",
                &[role, &uuid(UserId(*id))],
            )
            .await
            .map_err(db)?;
            added += 1;
        }
        if removed + added > 0 {
            changes.push(format!(
                "role membership: removed {removed} stale entries, wrote {added} missing ones"
            ));
        }

        let mut renamed = 0;
        for row in sql::query(&transaction, "SELECT name, record FROM clients", &[])
            .await
            .map_err(db)?
        {
            let record: Client = decode(row.get::<_, &[u8]>(1))?;
            if row.get::<_, &str>(0) != record.name {
                sql::execute(
                    &transaction,
                    "UPDATE clients SET name = $2 WHERE id = $1",
                    &[&record.id, &record.name],
                )
                .await
                .map_err(db)?;
                renamed += 1;
            }
        }
        if renamed > 0 {
            changes.push(format!("client name index: corrected {renamed} entries"));
        }

        let counts = sql::query_one(
            &transaction,
            "SELECT (SELECT value FROM counters WHERE name = 'users'), (SELECT count(*) FROM users)",
            &[],
        )
        .await
        .map_err(db)?;
        let (stored, users): (Option<i64>, i64) = (counts.get(0), counts.get(1));
        if stored != Some(users) {
            sql::execute(
                &transaction,
                "INSERT INTO counters (name, value) VALUES ('users', $1) \
                 ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                &[&users],
            )
            .await
            .map_err(db)?;
            let was = stored.map_or_else(|| "nothing".into(), |n| n.to_string());
            changes.push(format!("set the user count from {was} to {users}"));
        }

        let orphaned = sql::execute(
            &transaction,
            "DELETE FROM consents WHERE user_id NOT IN (SELECT id FROM users)",
            &[],
        )
        .await
        .map_err(db)?;
        if orphaned > 0 {
            changes.push(format!("removed {orphaned} consents of deleted users"));
        }
        transaction.commit().await.map_err(db)?;
        Ok(changes)
    }
}
