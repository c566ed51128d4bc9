//! The durable records (users, roles, clients, settings, keys, consents) behind the store
//! interface. Every change that touches more than one row is one transaction, and a
//! read-and-change holds the row's lock until it commits.

use super::sql;
use super::{PgStore, db, is, pool_error, seconds};
use crate::clock::UnixSeconds;
use crate::model::audit::AuditEvent;
use crate::model::consent::ConsentGrant;
use crate::model::grants::{
    AccessToken, AuthorizationCode, EmailCode, FailureWindow, LoginFlow, RefreshToken,
    RememberedDevice, RememberedHost, Session, TokenFamily,
};
use crate::model::mail::MailRecord;
use crate::model::signing_key::SigningKeyRecord;
use crate::model::{Client, Role, SiteSettings, User, UserId, normalize_username};
use crate::store::codec::{Record, decode, encode};
use crate::store::{
    AccessGrant, AppendLog, BackupError, BackupSummary, Edit, RecordKey, ShortLived, Store,
    StoreError,
};
use async_trait::async_trait;
use std::collections::BTreeSet;
use tokio_postgres::error::SqlState;

const SITE: &str = "site";

/// A user id as PostgreSQL's UUID.
fn uuid(id: UserId) -> uuid::Uuid {
    id.0
}

/// Refuses roles that do not exist, naming the first, as the sled backend does.
async fn check_roles_exist(
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

impl PgStore {
    async fn user_where(
        &self,
        condition: &str,
        value: &(dyn tokio_postgres::types::ToSql + Sync),
    ) -> Result<Option<User>, StoreError> {
        let client = self.client().await?;
        let statement = format!("SELECT record FROM users WHERE {condition}");
        let row = sql::query_opt(&client, &statement, &[value])
            .await
            .map_err(db)?;
        row.map(|row| decode(row.get(0))).transpose()
    }

    async fn client_where(
        &self,
        condition: &str,
        value: &str,
    ) -> Result<Option<Client>, StoreError> {
        let client = self.client().await?;
        let statement = format!("SELECT record FROM clients WHERE {condition}");
        let row = sql::query_opt(&client, &statement, &[&value])
            .await
            .map_err(db)?;
        row.map(|row| decode(row.get(0))).transpose()
    }
}

#[async_trait]
impl Store for PgStore {
    /// A committed transaction is durable on the server already.
    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        let mut client = self.client().await?;
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

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.user_where("id = $1", &uuid(id)).await
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.user_where("name_key = $1", &normalize_username(username))
            .await
    }

    async fn users_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<User>, Option<String>), StoreError> {
        let client = self.client().await?;
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
        let rows = sql::query(
            &client,
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

    async fn update_user(&self, id: UserId, change: Edit<'_, User>) -> Result<User, StoreError> {
        let mut client = self.client().await?;
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
        let mut after = before.clone();
        change(&mut after)?;
        after.id = before.id;
        check_roles_exist(&transaction, &after.roles).await?;
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

    async fn delete_user(&self, id: UserId) -> Result<User, StoreError> {
        let mut client = self.client().await?;
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

    async fn user_count(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row = sql::query_one(
            &client,
            "SELECT value FROM counters WHERE name = 'users'",
            &[],
        )
        .await
        .map_err(db)?;
        Ok(row.get::<_, i64>(0).max(0) as u64)
    }

    async fn insert_role(&self, role: &Role) -> Result<(), StoreError> {
        let client = self.client().await?;
        let inserted = sql::execute(
            &client,
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

    async fn role(&self, name: &str) -> Result<Option<Role>, StoreError> {
        let client = self.client().await?;
        let row = sql::query_opt(
            &client,
            "SELECT record FROM roles WHERE name = $1",
            &[&name],
        )
        .await
        .map_err(db)?;
        row.map(|row| decode(row.get(0))).transpose()
    }

    async fn roles(&self) -> Result<Vec<Role>, StoreError> {
        let client = self.client().await?;
        let rows = sql::query(&client, "SELECT record FROM roles ORDER BY name", &[])
            .await
            .map_err(db)?;
        rows.iter().map(|row| decode(row.get(0))).collect()
    }

    async fn role_count(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row = sql::query_one(&client, "SELECT count(*) FROM roles", &[])
            .await
            .map_err(db)?;
        Ok(row.get::<_, i64>(0).max(0) as u64)
    }

    async fn update_role(&self, name: &str, change: Edit<'_, Role>) -> Result<Role, StoreError> {
        let mut client = self.client().await?;
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
        transaction.commit().await.map_err(db)?;
        Ok(role)
    }

    async fn delete_role(&self, name: &str) -> Result<(), StoreError> {
        let mut client = self.client().await?;
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
        transaction.commit().await.map_err(db)
    }

    async fn role_members(&self, role: &str) -> Result<Vec<UserId>, StoreError> {
        let client = self.client().await?;
        let rows = sql::query(
            &client,
            "SELECT user_id FROM role_members WHERE role = $1 ORDER BY user_id",
            &[&role],
        )
        .await
        .map_err(db)?;
        Ok(rows.iter().map(|row| UserId(row.get(0))).collect())
    }

    async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        let connection = self.client().await?;
        let inserted = sql::execute(
            &connection,
            "INSERT INTO clients (id, name, record) VALUES ($1, $2, $3)",
            &[&client.id, &client.name, &encode(client)?],
        )
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is(&e, &SqlState::UNIQUE_VIOLATION) => Err(StoreError::AlreadyExists(
                format!("client `{}`", client.name),
            )),
            Err(e) => Err(db(e)),
        }
    }

    async fn client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        self.client_where("id = $1", client_id).await
    }

    async fn client_exists(&self, client_id: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let row = sql::query_opt(
            &client,
            "SELECT 1 FROM clients WHERE id = $1",
            &[&client_id],
        )
        .await
        .map_err(db)?;
        Ok(row.is_some())
    }

    async fn client_by_name(&self, name: &str) -> Result<Option<Client>, StoreError> {
        self.client_where("name = $1", name).await
    }

    async fn clients(&self) -> Result<Vec<Client>, StoreError> {
        let client = self.client().await?;
        let rows = sql::query(&client, "SELECT record FROM clients ORDER BY name", &[])
            .await
            .map_err(db)?;
        rows.iter().map(|row| decode(row.get(0))).collect()
    }

    async fn update_client(
        &self,
        client_id: &str,
        change: Edit<'_, Client>,
    ) -> Result<Client, StoreError> {
        let mut connection = self.client().await?;
        let transaction = connection.transaction().await.map_err(db)?;
        let row = sql::query_opt(
            &transaction,
            "SELECT record FROM clients WHERE id = $1 FOR UPDATE",
            &[&client_id],
        )
        .await
        .map_err(db)?
        .ok_or_else(|| StoreError::NotFound(format!("client {client_id}")))?;
        let mut client: Client = decode(row.get(0))?;
        let name = client.name.clone();
        change(&mut client)?;
        client.name = name;
        client.id = client_id.to_owned();
        sql::execute(
            &transaction,
            "UPDATE clients SET record = $2 WHERE id = $1",
            &[&client_id, &encode(&client)?],
        )
        .await
        .map_err(db)?;
        transaction.commit().await.map_err(db)?;
        Ok(client)
    }

    async fn delete_client(&self, client_id: &str) -> Result<Client, StoreError> {
        let mut connection = self.client().await?;
        let transaction = connection.transaction().await.map_err(db)?;
        let row = sql::query_opt(
            &transaction,
            "DELETE FROM clients WHERE id = $1 RETURNING record",
            &[&client_id],
        )
        .await
        .map_err(db)?
        .ok_or_else(|| StoreError::NotFound(format!("client {client_id}")))?;
        sql::execute(
            &transaction,
            "DELETE FROM consents WHERE client_id = $1",
            &[&client_id],
        )
        .await
        .map_err(db)?;
        transaction.commit().await.map_err(db)?;
        decode(row.get(0))
    }

    async fn site_settings(&self) -> Result<SiteSettings, StoreError> {
        let client = self.client().await?;
        let row = sql::query_opt(
            &client,
            "SELECT record FROM settings WHERE name = $1",
            &[&SITE],
        )
        .await
        .map_err(db)?;
        match row {
            Some(row) => decode(row.get(0)),
            None => Ok(SiteSettings::default()),
        }
    }

    async fn update_site_settings(
        &self,
        change: Edit<'_, SiteSettings>,
    ) -> Result<SiteSettings, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(db)?;
        sql::execute(
            &transaction,
            "INSERT INTO settings (name, record) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&SITE, &encode(&SiteSettings::default())?],
        )
        .await
        .map_err(db)?;
        let row = sql::query_one(
            &transaction,
            "SELECT record FROM settings WHERE name = $1 FOR UPDATE",
            &[&SITE],
        )
        .await
        .map_err(db)?;
        let mut settings: SiteSettings = decode(row.get(0))?;
        change(&mut settings)?;
        sql::execute(
            &transaction,
            "UPDATE settings SET record = $2 WHERE name = $1",
            &[&SITE, &encode(&settings)?],
        )
        .await
        .map_err(db)?;
        transaction.commit().await.map_err(db)?;
        Ok(settings)
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let client = self.client().await?;
        let rows = sql::query(&client, "SELECT record FROM signing_keys ORDER BY kid", &[])
            .await
            .map_err(db)?;
        rows.iter().map(|row| decode(row.get(0))).collect()
    }

    async fn put_signing_key(&self, record: &SigningKeyRecord) -> Result<(), StoreError> {
        let client = self.client().await?;
        sql::execute(
            &client,
            "INSERT INTO signing_keys (kid, record) VALUES ($1, $2) \
                 ON CONFLICT (kid) DO UPDATE SET record = EXCLUDED.record",
            &[&record.kid, &encode(record)?],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        sql::execute(&client, "DELETE FROM signing_keys WHERE kid = $1", &[&kid])
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn put_consent(&self, user: UserId, grant: &ConsentGrant) -> Result<(), StoreError> {
        let client = self.client().await?;
        sql::execute(
            &client,
            "INSERT INTO consents (user_id, client_id, record) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, client_id) DO UPDATE SET record = EXCLUDED.record",
            &[&uuid(user), &grant.client_id, &encode(grant)?],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn consent(
        &self,
        user: UserId,
        client_id: &str,
    ) -> Result<Option<ConsentGrant>, StoreError> {
        let client = self.client().await?;
        let row = sql::query_opt(
            &client,
            "SELECT record FROM consents WHERE user_id = $1 AND client_id = $2",
            &[&uuid(user), &client_id],
        )
        .await
        .map_err(db)?;
        row.map(|row| decode(row.get(0))).transpose()
    }

    async fn consents_of(&self, user: UserId) -> Result<Vec<ConsentGrant>, StoreError> {
        let client = self.client().await?;
        let rows = sql::query(
            &client,
            "SELECT record FROM consents WHERE user_id = $1 ORDER BY client_id",
            &[&uuid(user)],
        )
        .await
        .map_err(db)?;
        rows.iter().map(|row| decode(row.get(0))).collect()
    }

    async fn remove_consent(&self, user: UserId, client_id: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let removed = sql::execute(
            &client,
            "DELETE FROM consents WHERE user_id = $1 AND client_id = $2",
            &[&uuid(user), &client_id],
        )
        .await
        .map_err(db)?;
        Ok(removed > 0)
    }

    fn audit_log(&self) -> &dyn AppendLog<AuditEvent> {
        &self.audit
    }

    fn mail_log(&self) -> &dyn AppendLog<MailRecord> {
        &self.mail
    }

    fn login_flows(&self) -> &dyn ShortLived<LoginFlow> {
        &self.short.login_flows
    }

    fn sessions(&self) -> &dyn ShortLived<Session> {
        &self.short.sessions
    }

    fn token_families(&self) -> &dyn ShortLived<TokenFamily> {
        &self.short.token_families
    }

    fn authorization_codes(&self) -> &dyn ShortLived<AuthorizationCode> {
        &self.short.authorization_codes
    }

    fn access_tokens(&self) -> &dyn ShortLived<AccessToken> {
        &self.short.access_tokens
    }

    fn refresh_tokens(&self) -> &dyn ShortLived<RefreshToken> {
        &self.short.refresh_tokens
    }

    fn remembered_devices(&self) -> &dyn ShortLived<RememberedDevice> {
        &self.short.remembered_devices
    }

    fn remembered_hosts(&self) -> &dyn ShortLived<RememberedHost> {
        &self.short.remembered_hosts
    }

    fn email_codes(&self) -> &dyn ShortLived<EmailCode> {
        &self.short.email_codes
    }

    fn failure_windows(&self) -> &dyn ShortLived<FailureWindow> {
        &self.short.failure_windows
    }

    /// One round trip: the family, client and user are joined through the links the access
    /// token was stored with (`Record::links`).
    async fn access_grant(
        &self,
        key: &RecordKey,
        now: UnixSeconds,
    ) -> Result<Option<AccessGrant>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT a.record, f.record, c.id IS NOT NULL, u.record \
                 FROM short_lived a \
                 LEFT JOIN short_lived f ON f.kind = 'token_families' \
                     AND f.key = a.link_family AND f.expires_at > $2 \
                 LEFT JOIN clients c ON c.id = a.link_client \
                 LEFT JOIN users u ON u.id = a.link_user \
                 WHERE a.kind = 'access_tokens' AND a.key = $1 AND a.expires_at > $2",
            )
            .await
            .map_err(db)?;
        let Some(row) = client
            .query_opt(&statement, &[&key.to_bytes(), &seconds(now)])
            .await
            .map_err(db)?
        else {
            return Ok(None);
        };
        let family: Option<&[u8]> = row.get(1);
        let user: Option<&[u8]> = row.get(3);
        Ok(Some(AccessGrant {
            token: decode(row.get(0))?,
            family: family.map(decode).transpose()?,
            client_registered: row.get(2),
            user: user.map(decode).transpose()?,
        }))
    }

    async fn family_and_user(
        &self,
        family: &RecordKey,
        user: UserId,
        now: UnixSeconds,
    ) -> Result<(Option<TokenFamily>, Option<User>), StoreError> {
        let client = self.client().await?;
        let row = sql::query_one(
            &client,
            "SELECT (SELECT record FROM short_lived WHERE kind = 'token_families' \
                         AND key = $1 AND expires_at > $3), \
                    (SELECT record FROM users WHERE id = $2)",
            &[&family.to_bytes(), &uuid(user), &seconds(now)],
        )
        .await
        .map_err(db)?;
        let family: Option<&[u8]> = row.get(0);
        let user: Option<&[u8]> = row.get(1);
        Ok((
            family.map(decode).transpose()?,
            user.map(decode).transpose()?,
        ))
    }

    async fn put_tokens(
        &self,
        access: (&RecordKey, &AccessToken),
        refresh: Option<(&RecordKey, &RefreshToken)>,
    ) -> Result<(), StoreError> {
        let Some(refresh) = refresh else {
            return self.access_tokens().put(access.0, access.1).await;
        };
        // Both in one statement. Token keys are random: a new one is never already there.
        let client = self.client().await?;
        let (links, refresh_links) = (access.1.links(), refresh.1.links());
        sql::execute(
            &client,
            "INSERT INTO short_lived (kind, key, owner, expires_at, record, \
                 link_family, link_client, link_user) \
             VALUES ('access_tokens', $1, NULL, $2, $3, $4, $5, $6), \
                    ('refresh_tokens', $7, NULL, $8, $9, $10, $11, $12)",
            &[
                &access.0.to_bytes(),
                &seconds(access.1.expires_at),
                &encode(access.1)?,
                &links.family.as_ref().map(|f| f.as_slice()),
                &links.client_id,
                &links.user_id.map(|u| u.0),
                &refresh.0.to_bytes(),
                &seconds(refresh.1.expires_at),
                &encode(refresh.1)?,
                &refresh_links.family.as_ref().map(|f| f.as_slice()),
                &refresh_links.client_id,
                &refresh_links.user_id.map(|u| u.0),
            ],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    /// One statement for every kind; safe on every daemon at once.
    async fn sweep_expired(&self, now: UnixSeconds) -> Result<usize, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let removed = sql::execute(
            &client,
            "DELETE FROM short_lived WHERE expires_at <= $1",
            &[&seconds(now)],
        )
        .await
        .map_err(db)?;
        Ok(removed as usize)
    }

    fn write_backup(
        &self,
        out: &mut (dyn std::io::Write + Send),
        created_at: UnixSeconds,
    ) -> Result<BackupSummary, BackupError> {
        self.write_backup_blocking(out, created_at)
    }
}
