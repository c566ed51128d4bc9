//! The sled backend behind the store interface. sled answers from memory or its page cache in
//! microseconds, so each call does its work at once; only flushing waits for the disk.

use super::SledStore;
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
use crate::store::{AppendLog, BackupError, BackupSummary, Edit, ShortLived, Store, StoreError};
use async_trait::async_trait;

#[async_trait]
impl Store for SledStore {
    async fn flush(&self) -> Result<(), StoreError> {
        let (durable, short_lived) =
            tokio::join!(self.db.flush_async(), self.short_lived_db.flush_async());
        durable?;
        short_lived?;
        let files = self.log_files.clone();
        tokio::task::spawn_blocking(move || files.sync())
            .await
            .map_err(|e| StoreError::Db(format!("the sync task failed: {e}")))?
    }

    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        SledStore::insert_user(self, user)
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        SledStore::user(self, id)
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        SledStore::user_by_name(self, username)
    }

    async fn users_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<User>, Option<String>), StoreError> {
        SledStore::users_page(self, after, limit)
    }

    async fn update_user(&self, id: UserId, change: Edit<'_, User>) -> Result<User, StoreError> {
        SledStore::update_user(self, id, change)
    }

    async fn delete_user(&self, id: UserId) -> Result<User, StoreError> {
        SledStore::delete_user(self, id)
    }

    async fn user_count(&self) -> Result<u64, StoreError> {
        SledStore::user_count(self)
    }

    async fn insert_role(&self, role: &Role) -> Result<(), StoreError> {
        SledStore::insert_role(self, role)
    }

    async fn role(&self, name: &str) -> Result<Option<Role>, StoreError> {
        SledStore::role(self, name)
    }

    async fn roles(&self) -> Result<Vec<Role>, StoreError> {
        SledStore::roles(self)
    }

    async fn role_count(&self) -> Result<u64, StoreError> {
        Ok(SledStore::role_count(self))
    }

    async fn update_role(&self, name: &str, change: Edit<'_, Role>) -> Result<Role, StoreError> {
        SledStore::update_role(self, name, change)
    }

    async fn delete_role(&self, name: &str) -> Result<(), StoreError> {
        SledStore::delete_role(self, name)
    }

    async fn role_members(&self, role: &str) -> Result<Vec<UserId>, StoreError> {
        SledStore::role_members(self, role)
    }

    async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        SledStore::insert_client(self, client)
    }

    async fn client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        SledStore::client(self, client_id)
    }

    async fn client_exists(&self, client_id: &str) -> Result<bool, StoreError> {
        SledStore::client_exists(self, client_id)
    }

    async fn client_by_name(&self, name: &str) -> Result<Option<Client>, StoreError> {
        SledStore::client_by_name(self, name)
    }

    async fn clients(&self) -> Result<Vec<Client>, StoreError> {
        SledStore::clients(self)
    }

    async fn update_client(
        &self,
        client_id: &str,
        change: Edit<'_, Client>,
    ) -> Result<Client, StoreError> {
        SledStore::update_client(self, client_id, change)
    }

    async fn delete_client(&self, client_id: &str) -> Result<Client, StoreError> {
        SledStore::delete_client(self, client_id)
    }

    async fn site_settings(&self) -> Result<SiteSettings, StoreError> {
        SledStore::site_settings(self)
    }

    async fn update_site_settings(
        &self,
        change: Edit<'_, SiteSettings>,
    ) -> Result<SiteSettings, StoreError> {
        SledStore::update_site_settings(self, change)
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        SledStore::signing_keys(self)
    }

    async fn put_signing_key(&self, record: &SigningKeyRecord) -> Result<(), StoreError> {
        SledStore::put_signing_key(self, record)
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError> {
        SledStore::delete_signing_key(self, kid)
    }

    async fn put_consent(&self, user: UserId, grant: &ConsentGrant) -> Result<(), StoreError> {
        SledStore::put_consent(self, user, grant)
    }

    async fn consent(
        &self,
        user: UserId,
        client_id: &str,
    ) -> Result<Option<ConsentGrant>, StoreError> {
        SledStore::consent(self, user, client_id)
    }

    async fn consents_of(&self, user: UserId) -> Result<Vec<ConsentGrant>, StoreError> {
        SledStore::consents_of(self, user)
    }

    async fn remove_consent(&self, user: UserId, client_id: &str) -> Result<bool, StoreError> {
        SledStore::remove_consent(self, user, client_id)
    }

    fn audit_log(&self) -> &dyn AppendLog<AuditEvent> {
        &self.audit
    }

    fn mail_log(&self) -> &dyn AppendLog<MailRecord> {
        &self.mail_log
    }

    fn login_flows(&self) -> &dyn ShortLived<LoginFlow> {
        &self.ephemeral.login_flows
    }

    fn sessions(&self) -> &dyn ShortLived<Session> {
        &self.ephemeral.sessions
    }

    fn token_families(&self) -> &dyn ShortLived<TokenFamily> {
        &self.ephemeral.token_families
    }

    fn authorization_codes(&self) -> &dyn ShortLived<AuthorizationCode> {
        &self.ephemeral.authorization_codes
    }

    fn access_tokens(&self) -> &dyn ShortLived<AccessToken> {
        &self.ephemeral.access_tokens
    }

    fn refresh_tokens(&self) -> &dyn ShortLived<RefreshToken> {
        &self.ephemeral.refresh_tokens
    }

    fn remembered_devices(&self) -> &dyn ShortLived<RememberedDevice> {
        &self.ephemeral.remembered_devices
    }

    fn remembered_hosts(&self) -> &dyn ShortLived<RememberedHost> {
        &self.ephemeral.remembered_hosts
    }

    fn email_codes(&self) -> &dyn ShortLived<EmailCode> {
        &self.ephemeral.email_codes
    }

    fn failure_windows(&self) -> &dyn ShortLived<FailureWindow> {
        &self.ephemeral.failure_windows
    }

    fn passkey_challenges(&self) -> &dyn ShortLived<crate::model::passkey::PasskeyChallenge> {
        &self.ephemeral.passkey_challenges
    }

    fn device_authorizations(&self) -> &dyn ShortLived<crate::model::device::DeviceAuthorization> {
        &self.ephemeral.device_authorizations
    }

    async fn sweep_expired(&self, now: UnixSeconds) -> Result<usize, StoreError> {
        // A sweep reads every short-lived record: off the async runtime.
        let trees = self.ephemeral.clone();
        tokio::task::spawn_blocking(move || trees.sweep_now(now))
            .await
            .map_err(|e| StoreError::Db(format!("the sweep task failed: {e}")))?
    }

    async fn rebuild_derived(&self) -> Result<Vec<String>, StoreError> {
        SledStore::rebuild_derived(self)
    }

    async fn writable(&self) -> Result<(), StoreError> {
        self.disk.check()
    }

    fn write_backup(
        &self,
        out: &mut (dyn std::io::Write + Send),
        created_at: UnixSeconds,
    ) -> Result<BackupSummary, BackupError> {
        SledStore::write_backup(self, out, created_at)
    }
}
