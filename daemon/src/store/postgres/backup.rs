//! Backups of the PostgreSQL store in the one backup format (`store::backup`), read in one
//! repeatable-read transaction so the copy is consistent while sign-ins go on; and restoring a
//! backup (of either backend) into an empty PostgreSQL database, which is also how a sled
//! store moves to PostgreSQL (`posternd migrate-store`).

use super::sql;
use super::{PgStore, db, seconds};
use crate::model::audit::AuditEvent;
use crate::model::mail::MailRecord;
use crate::model::{Client, User, UserId, normalize_username};
use crate::store::backup::{BackupError, BackupSummary, BackupWriter, read, verify};
use crate::store::codec::decode;
use crate::store::{StoreError, Timestamped};
use std::io::Write;
use std::path::Path;

/// Rows read at a time from the large tables.
const PAGE: i64 = 1000;

fn store(error: StoreError) -> BackupError {
    BackupError::Store(error)
}

impl PgStore {
    /// Writes a backup to `out`. Blocking (it writes a file and waits on the database): call it
    /// from a blocking thread of the runtime, as the admin door does.
    pub fn write_backup_blocking(
        &self,
        out: &mut (dyn Write + Send),
        created_at: u64,
    ) -> Result<BackupSummary, BackupError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
            store(StoreError::Db(format!(
                "a PostgreSQL backup needs the async runtime: {e}"
            )))
        })?;
        runtime.block_on(self.dump(out, created_at))
    }

    async fn dump(
        &self,
        out: &mut (dyn Write + Send),
        created_at: u64,
    ) -> Result<BackupSummary, BackupError> {
        let mut client = self.exclusive().await.map_err(store)?;
        let transaction = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|e| store(db(e)))?;
        let mut writer = BackupWriter::new(out, created_at)?;
        let t = &transaction;
        let query = |statement: &'static str| async move {
            sql::query(t, statement, &[])
                .await
                .map_err(|e| store(db(e)))
        };

        // Users, a page at a time, with the name index beside them.
        let mut after = uuid::Uuid::nil();
        let mut users = 0u64;
        loop {
            let rows = sql::query(
                t,
                "SELECT id, name_key, record FROM users WHERE id > $1 ORDER BY id LIMIT $2",
                &[&after, &PAGE],
            )
            .await
            .map_err(|e| store(db(e)))?;
            let Some(last) = rows.last() else { break };
            after = last.get(0);
            for row in &rows {
                let id: uuid::Uuid = row.get(0);
                writer.record("users", id.as_bytes(), row.get(2))?;
                let name: &str = row.get(1);
                writer.record("usernames", name.as_bytes(), id.as_bytes())?;
                users += 1;
            }
        }
        for row in query("SELECT role, user_id FROM role_members").await? {
            let (role, id): (&str, uuid::Uuid) = (row.get(0), row.get(1));
            let key = [role.as_bytes(), &[0], id.as_bytes()].concat();
            writer.record("role_members", &key, &[])?;
        }
        for row in query("SELECT name, record FROM roles").await? {
            writer.record("roles", row.get::<_, &str>(0).as_bytes(), row.get(1))?;
        }
        for row in query("SELECT name, record FROM settings").await? {
            writer.record("settings", row.get::<_, &str>(0).as_bytes(), row.get(1))?;
        }
        self.dump_log(t, "audit_log", "audit", &mut writer).await?;
        for row in query("SELECT id, name, record FROM clients").await? {
            let (id, name): (&str, &str) = (row.get(0), row.get(1));
            writer.record("clients", id.as_bytes(), row.get(2))?;
            writer.record("client_names", name.as_bytes(), id.as_bytes())?;
        }
        for row in query("SELECT kid, record FROM signing_keys").await? {
            writer.record("signing_keys", row.get::<_, &str>(0).as_bytes(), row.get(1))?;
        }
        self.dump_log(t, "mail_log", "mail_log", &mut writer)
            .await?;
        writer.record("counters", b"users", &users.to_be_bytes())?;
        for row in query("SELECT user_id, client_id, record FROM consents").await? {
            let (id, client): (uuid::Uuid, &str) = (row.get(0), row.get(1));
            let key = [id.as_bytes().as_slice(), client.as_bytes()].concat();
            writer.record("consents", &key, row.get(2))?;
        }
        transaction.commit().await.map_err(|e| store(db(e)))?;
        writer.finish()
    }

    async fn dump_log(
        &self,
        t: &deadpool_postgres::Transaction<'_>,
        table: &str,
        section: &str,
        writer: &mut BackupWriter<&mut (dyn Write + Send)>,
    ) -> Result<(), BackupError> {
        let statement =
            format!("SELECT id, record FROM {table} WHERE id > $1 ORDER BY id LIMIT $2");
        let mut after = 0i64;
        loop {
            let rows = sql::query(t, &statement, &[&after, &PAGE])
                .await
                .map_err(|e| store(db(e)))?;
            let Some(last) = rows.last() else { break };
            after = last.get(0);
            for row in &rows {
                let id: i64 = row.get(0);
                writer.record(section, &(id as u64).to_be_bytes(), row.get(1))?;
            }
        }
        Ok(())
    }

    /// Loads a backup (of either backend) into this database, which must hold nothing yet.
    /// The file is checked from end to end first; the load is one transaction, so a failure
    /// leaves the database as empty as it was.
    pub async fn restore(&self, file: &Path) -> Result<BackupSummary, BackupError> {
        let summary = verify(file)?;
        if !self.is_empty().await.map_err(store)? {
            return Err(BackupError::Store(StoreError::Conflict(
                "the PostgreSQL database is not empty: it already holds a Postern store; restore only into a new, empty database".into(),
            )));
        }
        // The file is read on a blocking thread and its records handed over a bounded channel.
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Entry>(256);
        let path = file.to_owned();
        let reading = tokio::task::spawn_blocking(move || {
            read(&path, |tree, key, value| {
                sender
                    .blocking_send(Entry {
                        tree: tree.to_owned(),
                        key: key.to_vec(),
                        value: value.to_vec(),
                    })
                    .map_err(|_| BackupError::Damaged("the restore stopped reading".into()))
            })
        });
        let mut client = self.exclusive().await.map_err(store)?;
        let transaction = client.transaction().await.map_err(|e| store(db(e)))?;
        let mut memberships = Vec::new();
        while let Some(entry) = receiver.recv().await {
            load(&transaction, &entry, &mut memberships).await?;
        }
        reading
            .await
            .map_err(|e| BackupError::Damaged(format!("the reading task failed: {e}")))??;
        // Roles are all in by now: the memberships can point at them.
        for (role, id) in memberships {
            sql::execute(
                &transaction,
                "INSERT INTO role_members (role, user_id) VALUES ($1, $2)",
                &[&role, &id.0],
            )
            .await
            .map_err(|e| store(db(e)))?;
        }
        transaction
            .execute(&transaction.prepare_cached("UPDATE counters SET value = (SELECT count(*) FROM users) WHERE name = 'users'").await.map_err(|e| store(db(e)))?,
                &[],
            )
            .await
            .map_err(|e| store(db(e)))?;
        transaction.commit().await.map_err(|e| store(db(e)))?;
        Ok(summary)
    }
}

struct Entry {
    tree: String,
    key: Vec<u8>,
    value: Vec<u8>,
}

/// Writes one backup record into its table. Indexes and counters (`usernames`,
/// `client_names`, `role_members`, `counters`) are derived from the records themselves.
async fn load(
    t: &deadpool_postgres::Transaction<'_>,
    entry: &Entry,
    memberships: &mut Vec<(String, UserId)>,
) -> Result<(), BackupError> {
    let text = |bytes: &[u8]| {
        String::from_utf8(bytes.to_vec())
            .map_err(|_| BackupError::Damaged(format!("a {} key is not text", entry.tree)))
    };
    let value = &entry.value;
    match entry.tree.as_str() {
        "users" => {
            let user: User = decode(value).map_err(store)?;
            memberships.extend(user.roles.iter().map(|role| (role.clone(), user.id)));
            let name = normalize_username(&user.username);
            sql::execute(
                t,
                "INSERT INTO users (id, name_key, record) VALUES ($1, $2, $3)",
                &[&user.id.0, &name, value],
            )
            .await
        }
        "roles" => {
            sql::execute(
                t,
                "INSERT INTO roles (name, record) VALUES ($1, $2)",
                &[&text(&entry.key)?, value],
            )
            .await
        }
        "settings" => {
            sql::execute(
                t,
                "INSERT INTO settings (name, record) VALUES ($1, $2)",
                &[&text(&entry.key)?, value],
            )
            .await
        }
        "audit" => {
            let event: AuditEvent = decode(value).map_err(store)?;
            sql::execute(
                t,
                "INSERT INTO audit_log (at, record) VALUES ($1, $2)",
                &[&seconds(event.at()), value],
            )
            .await
        }
        "mail_log" => {
            let record: MailRecord = decode(value).map_err(store)?;
            sql::execute(
                t,
                "INSERT INTO mail_log (at, record) VALUES ($1, $2)",
                &[&seconds(record.at()), value],
            )
            .await
        }
        "clients" => {
            let client: Client = decode(value).map_err(store)?;
            sql::execute(
                t,
                "INSERT INTO clients (id, name, record) VALUES ($1, $2, $3)",
                &[&client.id, &client.name, value],
            )
            .await
        }
        "signing_keys" => {
            sql::execute(
                t,
                "INSERT INTO signing_keys (kid, record) VALUES ($1, $2)",
                &[&text(&entry.key)?, value],
            )
            .await
        }
        "consents" => {
            let (id, client) = entry
                .key
                .split_at_checked(16)
                .ok_or_else(|| BackupError::Damaged("a consent key is too short".into()))?;
            let id = uuid::Uuid::from_slice(id)
                .map_err(|_| BackupError::Damaged("a consent key names no user".into()))?;
            sql::execute(
                t,
                "INSERT INTO consents (user_id, client_id, record) VALUES ($1, $2, $3)",
                &[&id, &text(client)?, value],
            )
            .await
        }
        // Derived from the records above.
        "usernames" | "client_names" | "role_members" | "counters" => return Ok(()),
        other => {
            return Err(BackupError::Damaged(format!(
                "a backup cannot hold a section `{other}`"
            )));
        }
    }
    .map_err(|e| store(db(e)))?;
    Ok(())
}
