//! The durable records (users, roles, clients, settings, keys, consents) behind the store
//! interface. Every change that touches more than one row is one transaction, and a
//! read-and-change holds the row's lock until it commits.

use super::sql;
use super::users::uuid;
use super::{PgStore, db, is, record_at, seconds};
use crate::clock::UnixSeconds;
use crate::model::audit::AuditEvent;
use crate::model::consent::ConsentGrant;
use crate::model::grants::{
    AccessToken, AuthorizationCode, EmailCode, FailureWindow, LoginFlow, RefreshToken,
    RememberedDevice, RememberedHost, Session, TokenFamily,
};
use crate::model::mail::MailRecord;
use crate::model::signing_key::SigningKeyRecord;
use crate::model::{Client, Role, SiteSettings, User, UserId};
use crate::store::codec::{decode, encode};
use crate::store::{
    AppendLog, BackupError, BackupSummary, CodeGrant, Edit, FamilyGrant, RecordKey, ShortLived,
    Store, StoreError,
};
use async_trait::async_trait;
use tokio_postgres::error::SqlState;

const SITE: &str = "site";

impl PgStore {
    async fn read_site_settings(&self) -> Result<SiteSettings, StoreError> {
        let client = self.client().await?;
        let row = sql::query_opt(
            &*client,
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

    /// Commits a change of the settings, a client or a role and announces it to every daemon
    /// (`cache`): the notification goes out with the commit, and this daemon forgets at once.
    pub(super) async fn commit_announced(
        &self,
        transaction: deadpool_postgres::Transaction<'_>,
    ) -> Result<(), StoreError> {
        sql::execute(
            &transaction,
            super::cache::NOTIFY,
            &[&super::cache::CHANNEL],
        )
        .await
        .map_err(db)?;
        let committed = transaction.commit().await.map_err(db);
        // Forgotten even when the commit's answer was lost: it may have committed.
        self.cache.forget();
        committed
    }

    async fn client_where(
        &self,
        condition: &str,
        value: &str,
    ) -> Result<Option<Client>, StoreError> {
        let client = self.client().await?;
        let statement = format!("SELECT record FROM clients WHERE {condition}");
        let row = sql::query_opt(&*client, &statement, &[&value])
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
        PgStore::insert_user(self, user).await
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        PgStore::user(self, id).await
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        PgStore::user_by_name(self, username).await
    }

    async fn user_by_name_and_windows(
        &self,
        username: &str,
        windows: (&RecordKey, &RecordKey),
        now: UnixSeconds,
    ) -> Result<(Option<User>, crate::store::WindowPair), StoreError> {
        PgStore::user_by_name_and_windows(self, username, windows, now).await
    }

    async fn users_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<User>, Option<String>), StoreError> {
        PgStore::users_page(self, after, limit).await
    }

    async fn update_user(&self, id: UserId, change: Edit<'_, User>) -> Result<User, StoreError> {
        PgStore::update_user(self, id, change).await
    }

    async fn update_seen_user(
        &self,
        seen: &User,
        change: Edit<'_, User>,
    ) -> Result<User, StoreError> {
        PgStore::update_seen_user(self, seen, change).await
    }

    async fn update_seen_user_unless_failures(
        &self,
        seen: &User,
        change: Edit<'_, User>,
        windows: (&RecordKey, &RecordKey),
        now: UnixSeconds,
    ) -> Result<crate::store::UnlessFailures, StoreError> {
        PgStore::update_seen_user_unless_failures(self, seen, change, windows, now).await
    }

    async fn delete_user(&self, id: UserId) -> Result<User, StoreError> {
        PgStore::delete_user(self, id).await
    }

    async fn user_count(&self) -> Result<u64, StoreError> {
        PgStore::user_count(self).await
    }

    async fn insert_role(&self, role: &Role) -> Result<(), StoreError> {
        PgStore::insert_role(self, role).await
    }

    async fn role(&self, name: &str) -> Result<Option<Role>, StoreError> {
        PgStore::role(self, name).await
    }

    async fn roles(&self) -> Result<Vec<Role>, StoreError> {
        PgStore::roles(self).await
    }

    async fn role_count(&self) -> Result<u64, StoreError> {
        PgStore::role_count(self).await
    }

    async fn update_role(&self, name: &str, change: Edit<'_, Role>) -> Result<Role, StoreError> {
        PgStore::update_role(self, name, change).await
    }

    async fn delete_role(&self, name: &str) -> Result<(), StoreError> {
        PgStore::delete_role(self, name).await
    }

    async fn role_members(&self, role: &str) -> Result<Vec<UserId>, StoreError> {
        PgStore::role_members(self, role).await
    }

    async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        let connection = self.client().await?;
        let inserted = sql::execute(
            &*connection,
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
        if let Some(kept) = self.cache.client(client_id) {
            return Ok(Some(kept));
        }
        let read_at = self.cache.epoch();
        let found = self.client_where("id = $1", client_id).await?;
        if let Some(client) = &found {
            self.cache.keep_client(read_at, client);
        }
        Ok(found)
    }

    async fn client_exists(&self, client_id: &str) -> Result<bool, StoreError> {
        if self.cache.client(client_id).is_some() {
            return Ok(true);
        }
        let client = self.client().await?;
        let row = sql::query_opt(
            &*client,
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
        let rows = sql::query(&*client, "SELECT record FROM clients ORDER BY name", &[])
            .await
            .map_err(db)?;
        rows.iter().map(|row| decode(row.get(0))).collect()
    }

    async fn update_client(
        &self,
        client_id: &str,
        mut change: Edit<'_, Client>,
    ) -> Result<Client, StoreError> {
        let mut connection = self.exclusive().await?;
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
        self.commit_announced(transaction).await?;
        Ok(client)
    }

    async fn delete_client(&self, client_id: &str) -> Result<Client, StoreError> {
        let mut connection = self.exclusive().await?;
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
        self.commit_announced(transaction).await?;
        decode(row.get(0))
    }

    async fn site_settings(&self) -> Result<SiteSettings, StoreError> {
        if let Some(kept) = self.cache.settings() {
            return Ok(kept);
        }
        let read_at = self.cache.epoch();
        let settings = self.read_site_settings().await?;
        self.cache.keep_settings(read_at, &settings);
        Ok(settings)
    }

    async fn update_site_settings(
        &self,
        mut change: Edit<'_, SiteSettings>,
    ) -> Result<SiteSettings, StoreError> {
        let mut client = self.exclusive().await?;
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
        self.commit_announced(transaction).await?;
        Ok(settings)
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let client = self.client().await?;
        let rows = sql::query(
            &*client,
            "SELECT record FROM signing_keys ORDER BY kid",
            &[],
        )
        .await
        .map_err(db)?;
        rows.iter().map(|row| decode(row.get(0))).collect()
    }

    async fn put_signing_key(&self, record: &SigningKeyRecord) -> Result<(), StoreError> {
        let client = self.client().await?;
        sql::execute(
            &*client,
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
        sql::execute(&*client, "DELETE FROM signing_keys WHERE kid = $1", &[&kid])
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn put_consent(&self, user: UserId, grant: &ConsentGrant) -> Result<(), StoreError> {
        let client = self.client().await?;
        sql::execute(
            &*client,
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
            &*client,
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
            &*client,
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
            &*client,
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

    fn passkey_challenges(&self) -> &dyn ShortLived<crate::model::passkey::PasskeyChallenge> {
        &self.short.passkey_challenges
    }

    fn device_authorizations(&self) -> &dyn ShortLived<crate::model::device::DeviceAuthorization> {
        &self.short.device_authorizations
    }

    /// One round trip: the client and user are joined through the links the family was stored
    /// with (`Record::links`). A family stored before it had links is answered in three.
    async fn family_grant(
        &self,
        family: &RecordKey,
        now: UnixSeconds,
    ) -> Result<Option<FamilyGrant>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT f.record, f.link_client IS NOT NULL, c.id IS NOT NULL, u.record \
                 FROM short_lived f \
                 LEFT JOIN clients c ON c.id = f.link_client \
                 LEFT JOIN users u ON u.id = f.link_user \
                 WHERE f.kind = 'token_families' AND f.key = $1 AND f.expires_at > $2",
            )
            .await
            .map_err(db)?;
        let Some(row) = client
            .query_opt(&statement, &[&family.to_bytes(), &seconds(now)])
            .await
            .map_err(db)?
        else {
            return Ok(None);
        };
        let record: TokenFamily = decode(row.get(0))?;
        if !row.get::<_, bool>(1) {
            return Ok(Some(FamilyGrant {
                client_registered: self.client_exists(&record.client_id).await?,
                user: self.user(record.user_id).await?,
                family: record,
            }));
        }
        Ok(Some(FamilyGrant {
            family: record,
            client_registered: row.get(2),
            user: record_at(&row, 3)?,
        }))
    }

    /// One statement (see `batch`).
    async fn write_all(&self, writes: crate::store::batch::Writes) -> Result<(), StoreError> {
        self.write_statement(writes).await
    }

    /// One statement (see `swaps`).
    async fn swap_and_record(
        &self,
        _now: UnixSeconds,
        swaps: Vec<crate::store::swaps::Swap>,
        events: Vec<crate::model::audit::AuditEvent>,
    ) -> Result<usize, StoreError> {
        self.swap_statement(swaps, events).await
    }

    /// One round trip: the family and user are joined through the links the code was stored
    /// with (`Record::links`). A code stored before codes had links (by a daemon of the
    /// previous version, during a rolling upgrade) is answered in two.
    async fn code_grant(
        &self,
        code: &RecordKey,
        now: UnixSeconds,
    ) -> Result<Option<CodeGrant>, StoreError> {
        let client = self.client().await?;
        let row = sql::query_opt(
            &*client,
            "SELECT c.record, c.link_family IS NOT NULL, \
                    (SELECT f.record FROM short_lived f WHERE f.kind = 'token_families' \
                         AND f.key = c.link_family AND f.expires_at > $2), \
                    (SELECT u.record FROM users u WHERE u.id = c.link_user) \
             FROM short_lived c \
             WHERE c.kind = 'authorization_codes' AND c.key = $1 AND c.expires_at > $2",
            &[&code.to_bytes(), &seconds(now)],
        )
        .await
        .map_err(db)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let code: AuthorizationCode = decode(row.get(0))?;
        if !row.get::<_, bool>(1) {
            return Ok(Some(CodeGrant::read_for(self, code, now).await?));
        }
        Ok(Some(CodeGrant {
            code,
            family: record_at(&row, 2)?,
            user: record_at(&row, 3)?,
        }))
    }

    /// One round trip, through the link a flow is stored with once its step names its user.
    async fn flow_and_user(
        &self,
        flow: &RecordKey,
        now: UnixSeconds,
    ) -> Result<Option<(LoginFlow, Option<User>)>, StoreError> {
        let client = self.client().await?;
        let row = sql::query_opt(
            &*client,
            "SELECT f.record, (SELECT u.record FROM users u WHERE u.id = f.link_user) \
             FROM short_lived f \
             WHERE f.kind = 'login_flows' AND f.key = $1 AND f.expires_at > $2",
            &[&flow.to_bytes(), &seconds(now)],
        )
        .await
        .map_err(db)?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some((decode(row.get(0))?, record_at(&row, 1)?)))
    }

    async fn family_and_user(
        &self,
        family: &RecordKey,
        user: UserId,
        now: UnixSeconds,
    ) -> Result<(Option<TokenFamily>, Option<User>), StoreError> {
        let client = self.client().await?;
        let row = sql::query_one(
            &*client,
            "SELECT (SELECT record FROM short_lived WHERE kind = 'token_families' \
                         AND key = $1 AND expires_at > $3), \
                    (SELECT record FROM users WHERE id = $2)",
            &[&family.to_bytes(), &uuid(user), &seconds(now)],
        )
        .await
        .map_err(db)?;
        Ok((record_at(&row, 0)?, record_at(&row, 1)?))
    }

    /// One statement for every kind; safe on every daemon at once.
    async fn sweep_expired(&self, now: UnixSeconds) -> Result<usize, StoreError> {
        // Its own connection: a long delete would hold up the statements queued behind it.
        let client = self.exclusive().await?;
        let removed = sql::execute(
            &client,
            "DELETE FROM short_lived WHERE expires_at <= $1",
            &[&seconds(now)],
        )
        .await
        .map_err(db)?;
        Ok(removed as usize)
    }

    async fn rebuild_derived(&self) -> Result<Vec<String>, StoreError> {
        self.rebuild_derived_now().await
    }

    fn write_backup(
        &self,
        out: &mut (dyn std::io::Write + Send),
        created_at: UnixSeconds,
    ) -> Result<BackupSummary, BackupError> {
        self.write_backup_blocking(out, created_at)
    }
}
