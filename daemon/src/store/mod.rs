//! The store interface: what the rest of the daemon may ask of storage, in records, never in a
//! backend's keys or bytes. [`Store`] is the durable records (users, roles, clients, settings,
//! keys, consents) and reaches the short-lived ones ([`ShortLived`]: sessions, codes, tokens,
//! devices) and the append-only logs ([`AppendLog`]: the audit trail, the sent-mail log).
//!
//! The interface is async: a network database (several daemons on PostgreSQL) answers over a
//! socket, and a daemon must not hold a runtime thread while it waits. Every change that must
//! be atomic is one call: a user with the indexes of their name and roles, a read-and-change of
//! a single-use code ([`ShortLived::update`]). The embedded sled backend
//! ([`sled_backend::SledStore`]) is the default.

pub mod backup;
pub mod batch;
pub mod codec;
pub mod postgres;
pub mod sled_backend;
pub mod swaps;

use crate::clock::UnixSeconds;
use crate::model::audit::AuditEvent;
use crate::model::consent::ConsentGrant;
use crate::model::grants::{
    AccessToken, AuthorizationCode, EmailCode, FailureWindow, LoginFlow, RefreshToken,
    RememberedDevice, RememberedHost, Session, TokenFamily,
};
use crate::model::mail::MailRecord;
use crate::model::signing_key::SigningKeyRecord;
use crate::model::{Client, Role, SiteSettings, User, UserId, ValidationError};
use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::Arc;

pub use backup::{BackupError, BackupSummary};

/// The store every part of the daemon shares.
pub type SharedStore = Arc<dyn Store>;

/// Opens the configured backend.
pub async fn open(config: &crate::config::Config) -> Result<SharedStore, StoreError> {
    Ok(match config.store.backend {
        crate::config::StoreBackend::Sled => {
            let tuning = sled_backend::Tuning {
                cache: config
                    .store
                    .cache_bytes()
                    .unwrap_or(sled_backend::DEFAULT_CACHE),
                min_free: config
                    .store
                    .min_free_bytes()
                    .unwrap_or(sled_backend::DEFAULT_MIN_FREE),
            };
            Arc::new(sled_backend::SledStore::open_with(
                &config.state_dir,
                tuning,
            )?)
        }
        crate::config::StoreBackend::Postgres => {
            Arc::new(postgres::PgStore::open(&config.store.postgres).await?)
        }
    })
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the state directory {} is in use by another posternd; stop that daemon first, or give this one another state_dir",
        dir.display()
    )]
    Locked { dir: PathBuf },
    #[error("cannot create the state directory {}: {source}", dir.display())]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// The backend failed; the text is for the log, never for a page.
    #[error("database error: {0}")]
    Db(String),
    /// The database cannot be reached (a network backend that went away): the request may
    /// succeed later, and the daemon reports itself not ready meanwhile.
    #[error("the database cannot be reached: {0}")]
    Unavailable(String),
    /// The store cannot take writes for now (sled's disk is full or read-only); reads still
    /// work, and writes resume once the cause is gone. The text says what to do.
    #[error("the store cannot take writes: {0}")]
    CannotWrite(String),
    #[error("a stored {kind} record is damaged: {message}")]
    Corrupt { kind: &'static str, message: String },
    #[error(
        "a stored {kind} record has format {found}, newer than this posternd reads ({supported}); upgrade posternd"
    )]
    RecordTooNew {
        kind: &'static str,
        found: u8,
        supported: u8,
    },
    #[error(
        "the store has format {found}, newer than this posternd reads ({supported}); upgrade posternd"
    )]
    StoreTooNew { found: u32, supported: u32 },
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(#[from] ValidationError),
}

/// A change to one stored record. It may refuse by returning an error; then nothing is
/// written. If another writer changed the record first, the store may call it again on what
/// that writer left, so it decides from its argument alone.
pub type Edit<'a, T> = Box<dyn FnMut(&mut T) -> Result<(), StoreError> + Send + 'a>;

/// The durable records, and the way to the short-lived ones and the logs.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Makes every write so far durable. Callers that answer a person call it first, so an
    /// acknowledged change survives a crash.
    async fn flush(&self) -> Result<(), StoreError>;

    // Users. Usernames are unique without regard to case.
    /// Adds a user; fails if the name is taken (in any case) or a role does not exist.
    async fn insert_user(&self, user: &User) -> Result<(), StoreError>;
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError>;
    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// Up to `limit` users in username order (without regard to case), after the one whose
    /// page key is `after`; and the key to continue after, when there are more.
    async fn users_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<User>, Option<String>), StoreError>;
    /// Changes a user and keeps the name and role indexes in step; returns the user after.
    async fn update_user(&self, id: UserId, change: Edit<'_, User>) -> Result<User, StoreError>;
    /// [`update_user`](Self::update_user) for a caller that holds the user as it read them:
    /// a backend across a network first applies `change` to that copy and swaps it in if the
    /// stored user is still that copy (one round trip instead of two), and otherwise does
    /// what `update_user` does. `change` is only ever judged on the stored user: an error it
    /// returns on a copy that turns out stale is not returned.
    async fn update_seen_user(
        &self,
        seen: &User,
        change: Edit<'_, User>,
    ) -> Result<User, StoreError> {
        self.update_user(seen.id, change).await
    }
    /// [`update_seen_user`](Self::update_seen_user), made only while none of `windows` (the
    /// failure windows of an attempt, see `limits`) is live: how a second factor is spent,
    /// with the limits read in the same step. One round trip where the backend can; the
    /// windows are read first here.
    async fn update_seen_user_unless_failures(
        &self,
        seen: &User,
        change: Edit<'_, User>,
        windows: (&RecordKey, &RecordKey),
        now: UnixSeconds,
    ) -> Result<UnlessFailures, StoreError> {
        read_windows_then_update(self, seen, change, windows, now).await
    }
    /// Removes a user, their indexes and consents; returns the removed user.
    async fn delete_user(&self, id: UserId) -> Result<User, StoreError>;
    /// Read from a running total, not by counting.
    async fn user_count(&self) -> Result<u64, StoreError>;

    // Roles. A role must exist to be granted, and cannot be deleted while anyone holds it.
    async fn insert_role(&self, role: &Role) -> Result<(), StoreError>;
    async fn role(&self, name: &str) -> Result<Option<Role>, StoreError>;
    /// All roles, ordered by name.
    async fn roles(&self) -> Result<Vec<Role>, StoreError>;
    async fn role_count(&self) -> Result<u64, StoreError>;
    /// The roles a user holds (a role deleted meanwhile is skipped).
    async fn roles_of(&self, user: &User) -> Result<Vec<Role>, StoreError> {
        let mut roles = Vec::new();
        for name in &user.roles {
            roles.extend(self.role(name).await?);
        }
        Ok(roles)
    }
    async fn update_role(&self, name: &str, change: Edit<'_, Role>) -> Result<Role, StoreError>;
    async fn delete_role(&self, name: &str) -> Result<(), StoreError>;
    async fn role_members(&self, role: &str) -> Result<Vec<UserId>, StoreError>;

    // Clients. Names are unique.
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError>;
    async fn client(&self, client_id: &str) -> Result<Option<Client>, StoreError>;
    async fn client_exists(&self, client_id: &str) -> Result<bool, StoreError>;
    async fn client_by_name(&self, name: &str) -> Result<Option<Client>, StoreError>;
    /// All clients, ordered by name.
    async fn clients(&self) -> Result<Vec<Client>, StoreError>;
    async fn update_client(
        &self,
        client_id: &str,
        change: Edit<'_, Client>,
    ) -> Result<Client, StoreError>;
    async fn delete_client(&self, client_id: &str) -> Result<Client, StoreError>;

    /// The site settings; the defaults until an administrator changes one.
    async fn site_settings(&self) -> Result<SiteSettings, StoreError>;
    /// Changes the settings so that two concurrent changes of different keys both survive.
    async fn update_site_settings(
        &self,
        change: Edit<'_, SiteSettings>,
    ) -> Result<SiteSettings, StoreError>;

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    async fn put_signing_key(&self, record: &SigningKeyRecord) -> Result<(), StoreError>;
    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError>;

    // Users' consents to third-party clients.
    /// Records (or replaces) a grant, durably: the user was told.
    async fn put_consent(&self, user: UserId, grant: &ConsentGrant) -> Result<(), StoreError>;
    async fn consent(
        &self,
        user: UserId,
        client_id: &str,
    ) -> Result<Option<ConsentGrant>, StoreError>;
    /// Every grant of one user, ordered by client id.
    async fn consents_of(&self, user: UserId) -> Result<Vec<ConsentGrant>, StoreError>;
    /// Forgets one grant, durably; whether there was one.
    async fn remove_consent(&self, user: UserId, client_id: &str) -> Result<bool, StoreError>;

    fn audit_log(&self) -> &dyn AppendLog<AuditEvent>;
    fn mail_log(&self) -> &dyn AppendLog<MailRecord>;

    fn login_flows(&self) -> &dyn ShortLived<LoginFlow>;
    fn sessions(&self) -> &dyn ShortLived<Session>;
    fn token_families(&self) -> &dyn ShortLived<TokenFamily>;
    fn authorization_codes(&self) -> &dyn ShortLived<AuthorizationCode>;
    fn access_tokens(&self) -> &dyn ShortLived<AccessToken>;
    /// Refresh tokens stored one by one by earlier versions, until they expire (tokens now
    /// live in their family: see `tokens::refresh`).
    fn refresh_tokens(&self) -> &dyn ShortLived<RefreshToken>;
    fn remembered_devices(&self) -> &dyn ShortLived<RememberedDevice>;
    fn remembered_hosts(&self) -> &dyn ShortLived<RememberedHost>;
    fn email_codes(&self) -> &dyn ShortLived<EmailCode>;
    fn failure_windows(&self) -> &dyn ShortLived<FailureWindow>;
    fn passkey_challenges(&self) -> &dyn ShortLived<crate::model::passkey::PasskeyChallenge>;
    fn device_authorizations(&self) -> &dyn ShortLived<crate::model::device::DeviceAuthorization>;

    /// A token family with what deciding whether its access tokens may be used takes: whether
    /// its client is still registered, and its user. One question, so that a backend across a
    /// network can answer it in one round trip; this default asks three.
    async fn family_grant(
        &self,
        family: &RecordKey,
        now: UnixSeconds,
    ) -> Result<Option<FamilyGrant>, StoreError> {
        let Some(family) = self.token_families().get(family, now).await? else {
            return Ok(None);
        };
        Ok(Some(FamilyGrant {
            client_registered: self.client_exists(&family.client_id).await?,
            user: self.user(family.user_id).await?,
            family,
        }))
    }

    /// An authorization code with the token family and the user it was issued for, as its
    /// exchange checks them: one round trip where the backend can follow the code's links.
    async fn code_grant(
        &self,
        code: &RecordKey,
        now: UnixSeconds,
    ) -> Result<Option<CodeGrant>, StoreError> {
        match self.authorization_codes().get(code, now).await? {
            Some(code) => Ok(Some(CodeGrant::read_for(self, code, now).await?)),
            None => Ok(None),
        }
    }

    /// A sign-in's flow with the user its step is about ([`LoginStep::user_id`]), read
    /// together: one round trip where the backend can follow the flow's link; two here. A flow
    /// whose user is gone, or stored without its link, comes without one.
    ///
    /// [`LoginStep::user_id`]: crate::model::grants::LoginStep::user_id
    async fn flow_and_user(
        &self,
        flow: &RecordKey,
        now: UnixSeconds,
    ) -> Result<Option<(LoginFlow, Option<User>)>, StoreError> {
        let Some(found) = self.login_flows().get(flow, now).await? else {
            return Ok(None);
        };
        let user = match found.step.user_id() {
            Some(id) => self.user(id).await?,
            None => None,
        };
        Ok(Some((found, user)))
    }

    /// A user by name with two failure windows (the account's and the address's, see
    /// `limits`): what a password check reads before it hashes. One round trip where the
    /// backend can; two here.
    async fn user_by_name_and_windows(
        &self,
        username: &str,
        windows: (&RecordKey, &RecordKey),
        now: UnixSeconds,
    ) -> Result<(Option<User>, WindowPair), StoreError> {
        let user = self.user_by_name(username).await?;
        let pair = self
            .failure_windows()
            .get_pair(windows.0, windows.1, now)
            .await?;
        Ok((user, pair))
    }

    /// A token family and a user, read together: what a refresh checks after spending its
    /// token. One round trip where the backend can; two here.
    async fn family_and_user(
        &self,
        family: &RecordKey,
        user: UserId,
        now: UnixSeconds,
    ) -> Result<(Option<TokenFamily>, Option<User>), StoreError> {
        Ok((
            self.token_families().get(family, now).await?,
            self.user(user).await?,
        ))
    }

    /// Makes `writes` (see [`batch`]): all in one statement, all or none, where the backend
    /// can; one after the other here.
    async fn write_all(&self, writes: batch::Writes) -> Result<(), StoreError> {
        for write in writes {
            write.apply(self).await?;
        }
        Ok(())
    }

    /// Makes `swaps` one after another, each only if the ones before it held, then appends
    /// `events` to the audit trail if they all did; says how many held (see [`swaps`]). One
    /// statement where the backend can; one call a swap here.
    async fn swap_and_record(
        &self,
        now: UnixSeconds,
        swaps: Vec<swaps::Swap>,
        events: Vec<AuditEvent>,
    ) -> Result<usize, StoreError> {
        let all = swaps.len();
        for (held, swap) in swaps.into_iter().enumerate() {
            if !swap.apply(self, now).await? {
                return Ok(held);
            }
        }
        for event in &events {
            self.audit_log().append(event).await?;
        }
        Ok(all)
    }

    /// Removes expired short-lived records of every kind; returns how many. Safe to run while
    /// other work goes on (and, on a shared database, on several daemons at once).
    async fn sweep_expired(&self, now: UnixSeconds) -> Result<usize, StoreError>;

    /// Rebuilds what follows from the records (the name and role indexes, the user count) and
    /// says what it changed (`posternd check-store --repair`). Run with no daemon writing.
    async fn rebuild_derived(&self) -> Result<Vec<String>, StoreError>;

    /// Whether writes can be taken now (`/healthz`): an embedded store says no while its disk
    /// is full or read-only.
    async fn writable(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Writes a consistent backup of every durable record to `out`. Blocking (it writes a
    /// file): call it off the async runtime.
    fn write_backup(
        &self,
        out: &mut (dyn std::io::Write + Send),
        created_at: UnixSeconds,
    ) -> Result<BackupSummary, BackupError>;
}

/// Two failure windows, as [`ShortLived::get_pair`] answers them.
pub type WindowPair = (Option<FailureWindow>, Option<FailureWindow>);

/// [`Store::update_seen_user_unless_failures`] in two steps: the windows, then the change.
pub async fn read_windows_then_update<S: Store + ?Sized>(
    store: &S,
    seen: &User,
    change: Edit<'_, User>,
    windows: (&RecordKey, &RecordKey),
    now: UnixSeconds,
) -> Result<UnlessFailures, StoreError> {
    let found = store
        .failure_windows()
        .get_pair(windows.0, windows.1, now)
        .await?;
    if found.0.is_some() || found.1.is_some() {
        return Ok(UnlessFailures::Failures(found));
    }
    let after = store.update_seen_user(seen, change).await?;
    Ok(UnlessFailures::Changed(Box::new(after)))
}

/// What [`Store::update_seen_user_unless_failures`] did.
#[derive(Debug)]
pub enum UnlessFailures {
    /// The user after the change.
    Changed(Box<User>),
    /// A window was live (locking or not): nothing was changed.
    Failures(WindowPair),
}

/// What [`Store::code_grant`] finds.
#[derive(Debug, Clone)]
pub struct CodeGrant {
    pub code: AuthorizationCode,
    /// Gone when it expired or was revoked.
    pub family: Option<TokenFamily>,
    pub user: Option<User>,
}

impl CodeGrant {
    /// `code`, with its family and user asked for by the names inside it.
    async fn read_for<S: Store + ?Sized>(
        store: &S,
        code: AuthorizationCode,
        now: UnixSeconds,
    ) -> Result<Self, StoreError> {
        let family = RecordKey::bearer(crate::secrets::token_hash(&code.family));
        let user = code.authentication.user_id;
        let (family, user) = store.family_and_user(&family, user, now).await?;
        Ok(Self { code, family, user })
    }
}

/// What [`Store::family_grant`] finds.
#[derive(Debug, Clone)]
pub struct FamilyGrant {
    pub family: TokenFamily,
    pub client_registered: bool,
    pub user: Option<User>,
}

/// Where a short-lived record is kept. Records are found by the SHA-256 of their bearer value
/// (a cookie, a code, a token), never the value; those listed per user (sessions, remembered
/// browsers and hosts) also name their user, and a user's one emailed code is found by the user alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordKey {
    pub owner: Option<UserId>,
    pub hash: Option<[u8; 32]>,
}

impl RecordKey {
    /// A record found by its bearer value's hash alone.
    pub fn bearer(hash: [u8; 32]) -> Self {
        Self {
            owner: None,
            hash: Some(hash),
        }
    }

    /// One of a user's records, listed with [`ShortLived::of_owner`].
    pub fn owned(owner: UserId, hash: [u8; 32]) -> Self {
        Self {
            owner: Some(owner),
            hash: Some(hash),
        }
    }

    /// The one record of its kind a user has.
    pub fn of_user(owner: UserId) -> Self {
        Self {
            owner: Some(owner),
            hash: None,
        }
    }

    /// The key as bytes: the owner's 16-byte id, then the 32-byte hash, each when present. (The
    /// shape every backend stores, and the sled layout from before there was a second one.)
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(48);
        if let Some(owner) = self.owner {
            bytes.extend_from_slice(owner.0.as_bytes());
        }
        if let Some(hash) = self.hash {
            bytes.extend_from_slice(&hash);
        }
        bytes
    }

    /// The key from [`to_bytes`](Self::to_bytes): 32 bytes are a hash alone, 16 an owner
    /// alone, 48 an owner and a hash.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt {
            kind: "record key",
            message: format!("{} bytes", bytes.len()),
        };
        let owner = |b: &[u8]| uuid::Uuid::from_slice(b).map(UserId).map_err(|_| corrupt());
        match bytes.len() {
            32 => Ok(Self::bearer(bytes.try_into().map_err(|_| corrupt())?)),
            16 => Ok(Self::of_user(owner(bytes)?)),
            48 => {
                let (id, hash) = bytes.split_at(16);
                Ok(Self::owned(
                    owner(id)?,
                    hash.try_into().map_err(|_| corrupt())?,
                ))
            }
            _ => Err(corrupt()),
        }
    }

    /// A short id that names the record to its owner (in a list of their browsers) without
    /// revealing the hash: the first six bytes, in hex.
    pub fn short_id(&self) -> String {
        self.hash
            .map(|hash| hash.iter().take(6).map(|b| format!("{b:02x}")).collect())
            .unwrap_or_default()
    }
}

/// What [`ShortLived::update`] does with the record it was shown.
#[derive(Debug)]
pub enum Change<T> {
    /// Leave it as it is (nothing is written).
    Keep,
    Replace(T),
    Remove,
}

/// The change [`ShortLived::update`] applies: it sees the current record and says what to do.
pub type Changer<'a, T> = &'a mut (dyn FnMut(&T) -> Change<T> + Send);

/// The change [`ShortLived::upsert`] applies: it sees the current record, if any.
pub type Upserter<'a, T> = &'a mut (dyn FnMut(Option<&T>) -> Change<T> + Send);

/// One kind of short-lived record. Expired records are never returned, even before the sweep
/// removes them. Not flushed on every write: losing the last moments of them in a crash only
/// signs people out.
#[async_trait]
pub trait ShortLived<T>: Send + Sync {
    /// The record under `key`, unless it has expired.
    async fn get(&self, key: &RecordKey, now: UnixSeconds) -> Result<Option<T>, StoreError>;
    /// The records under two keys, read together: one round trip where the backend is across
    /// a network (an account's and an address's failure windows, say); two reads here.
    async fn get_pair(
        &self,
        first: &RecordKey,
        second: &RecordKey,
        now: UnixSeconds,
    ) -> Result<(Option<T>, Option<T>), StoreError>
    where
        T: Send,
    {
        Ok((self.get(first, now).await?, self.get(second, now).await?))
    }
    async fn put(&self, key: &RecordKey, record: &T) -> Result<(), StoreError>;
    /// Removes the record; whether there was one.
    async fn remove(&self, key: &RecordKey) -> Result<bool, StoreError>;
    /// Atomically reads and changes a record: `change` sees the current (unexpired) value and
    /// says what to do with it. Concurrent changes are retried or serialised (so `change` may
    /// run more than once), and two requests racing to use a single-use code cannot both see
    /// it unused. Returns what `change` last saw.
    async fn update(
        &self,
        key: &RecordKey,
        now: UnixSeconds,
        change: Changer<'_, T>,
    ) -> Result<Option<T>, StoreError>;
    /// [`update`](Self::update) for a caller that holds the record as it read it (unexpired):
    /// a backend across a network first makes `change` of that copy if the stored record is
    /// still that copy (one round trip instead of two), and otherwise does what `update` does.
    /// A copy that `change` would keep as it is proves nothing, so that is `update` too.
    async fn update_seen(
        &self,
        key: &RecordKey,
        seen: &T,
        now: UnixSeconds,
        change: Changer<'_, T>,
    ) -> Result<Option<T>, StoreError>
    where
        T: Sync + Clone,
    {
        let _ = seen;
        self.update(key, now, change).await
    }
    /// Like [`update`](Self::update), but `change` also sees a missing (or expired) record as
    /// `None`, and may create it: a counter that two daemons increment at once counts both.
    async fn upsert(
        &self,
        key: &RecordKey,
        now: UnixSeconds,
        change: Upserter<'_, T>,
    ) -> Result<Option<T>, StoreError>;
    /// The unexpired records of one user (keys made with [`RecordKey::owned`]).
    async fn of_owner(
        &self,
        owner: UserId,
        now: UnixSeconds,
    ) -> Result<Vec<(RecordKey, T)>, StoreError>;
    /// Removes every record of one user; returns how many.
    async fn remove_of_owner(&self, owner: UserId) -> Result<usize, StoreError>;
    /// Every unexpired record of this kind. For rare, administrative work only.
    async fn all(&self, now: UnixSeconds) -> Result<Vec<(RecordKey, T)>, StoreError>;
    /// Removes expired records; returns how many.
    async fn sweep(&self, now: UnixSeconds) -> Result<usize, StoreError>;
}

/// A log that only grows: entries are appended and read newest first, never changed.
#[async_trait]
pub trait AppendLog<T>: Send + Sync {
    async fn append(&self, entry: &T) -> Result<(), StoreError>;
    /// Up to `limit` entries that `keep` accepts, newest first; reading stops at the first
    /// entry older than `since`, so recent queries stay cheap on a long log.
    async fn newest(
        &self,
        since: UnixSeconds,
        limit: usize,
        keep: &(dyn for<'e> Fn(&'e T) -> bool + Sync),
    ) -> Result<Vec<T>, StoreError>;
    async fn count(&self) -> Result<u64, StoreError>;
}

/// Anything with a time, so a log can stop reading at `since`.
pub trait Timestamped {
    fn at(&self) -> UnixSeconds;
}

impl Timestamped for AuditEvent {
    fn at(&self) -> UnixSeconds {
        self.at
    }
}

impl Timestamped for MailRecord {
    fn at(&self) -> UnixSeconds {
        self.at
    }
}
