//! `posternd check-store`: verifies, offline, the invariants the store keeps between its
//! records, and says plainly what is wrong. Every index entry points at its record and back
//! (a user is found by its name, a role's members hold it, a client is found by its name), the
//! user count equals the users, every role a user holds exists, every sealed secret opens with
//! the key file, and no short-lived record or consent belongs to a user or client that is gone.
//!
//! `--repair` rebuilds what follows from the records (the indexes and the count, by the
//! backend's `rebuild_derived`) and removes what belongs to nobody, says what it changed, and
//! checks again. What cannot be rebuilt (a damaged record, a secret sealed with another key, a
//! role that no longer exists) is reported for a person to decide.

use crate::config::Config;
use crate::model::UserId;
use crate::model::mfa::totp_seal_context;
use crate::secrets::MasterKey;
use crate::store::{RecordKey, SharedStore, StoreError};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// What the check found, and what a repair changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// What was looked at: ("users", 12), ...
    pub checked: Vec<(&'static str, u64)>,
    pub problems: Vec<Problem>,
    /// What `--repair` changed.
    pub repairs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub text: String,
    /// Whether `--repair` can fix it.
    pub repairable: bool,
}

impl Report {
    fn problem(&mut self, repairable: bool, text: String) {
        self.problems.push(Problem { text, repairable });
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("secrets.key_file {}: {reason}", path.display())]
    Key { path: PathBuf, reason: String },
}

/// Checks the store `config` names (a sled store must not be open in a daemon), and with
/// `repair` fixes what can be fixed and checks again.
pub async fn run(config: &Config, repair: bool, now: u64) -> Result<Report, CheckError> {
    let path = &config.secrets.key_file;
    let key_error = |reason: String| CheckError::Key {
        path: path.clone(),
        reason,
    };
    if !path.exists() {
        return Err(key_error(
            "not found; the check needs the daemon's key file".into(),
        ));
    }
    let master = MasterKey::load_or_create(path).map_err(|e| key_error(e.to_string()))?;
    let store = crate::store::open(config).await?;
    let first = check(&store, &master, now).await?;
    if !repair || first.problems.iter().all(|p| !p.repairable) {
        return Ok(first);
    }
    let mut repairs = store.rebuild_derived().await?;
    repairs.extend(remove_orphans(&store, now).await?);
    store.flush().await?;
    let mut after = check(&store, &master, now).await?;
    after.repairs = repairs;
    Ok(after)
}

/// The check itself, through the store's interface, so both backends answer the same.
pub async fn check(
    store: &SharedStore,
    master: &MasterKey,
    now: u64,
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let roles: BTreeSet<String> = store.roles().await?.into_iter().map(|r| r.name).collect();
    let mut users = 0u64;
    let mut ids = BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let (page, next) = store.users_page(after.as_deref(), 500).await?;
        for user in page {
            users += 1;
            ids.insert(user.id);
            let name = &user.username;
            match store.user_by_name(name).await? {
                Some(found) if found.id == user.id => {}
                _ => report.problem(
                    true,
                    format!("user `{name}` ({}) is not found by its name", user.id),
                ),
            }
            for role in &user.roles {
                if !roles.contains(role) {
                    report.problem(
                        false,
                        format!("user `{name}` holds role `{role}`, which does not exist"),
                    );
                } else if !store.role_members(role).await?.contains(&user.id) {
                    report.problem(
                        true,
                        format!("user `{name}` holds role `{role}` but is not among its members"),
                    );
                }
            }
            if let Some(seed) = user.mfa.as_ref().and_then(|m| m.totp.as_ref()) {
                if master
                    .open(&totp_seal_context(&user.id), &seed.sealed)
                    .is_err()
                {
                    report.problem(
                        false,
                        format!("user `{name}`'s authenticator-app seed does not open with this key file"),
                    );
                }
            }
            for consent in store.consents_of(user.id).await? {
                if !store.client_exists(&consent.client_id).await? {
                    report.problem(
                        true,
                        format!(
                            "user `{name}` has a consent for client `{}`, which no longer exists",
                            consent.client_id
                        ),
                    );
                }
            }
        }
        match next {
            Some(key) => after = Some(key),
            None => break,
        }
    }
    let counted = store.user_count().await?;
    if counted != users {
        report.problem(
            true,
            format!("the user count says {counted}, but there are {users} users"),
        );
    }
    for role in &roles {
        for id in store.role_members(role).await? {
            let holds = store
                .user(id)
                .await?
                .is_some_and(|u| u.roles.contains(role));
            if !holds {
                report.problem(
                    true,
                    format!("role `{role}` lists member {id}, who does not hold it"),
                );
            }
        }
    }
    let clients = store.clients().await?;
    for client in &clients {
        match store.client_by_name(&client.name).await? {
            Some(found) if found.id == client.id => {}
            _ => report.problem(
                true,
                format!(
                    "client `{}` ({}) is not found by its name",
                    client.name, client.id
                ),
            ),
        }
    }
    let keys = store.signing_keys().await?;
    for key in &keys {
        if let Err(e) = crate::tokens::keys::opens(key, master) {
            report.problem(false, format!("signing key {}: {e}", key.kid));
        }
    }
    for (kind, orphans) in orphans(store, &ids, now).await? {
        if !orphans.is_empty() {
            report.problem(
                true,
                format!(
                    "{} {kind} belong to users that no longer exist",
                    orphans.len()
                ),
            );
        }
    }
    report.checked = vec![
        ("users", users),
        ("roles", roles.len() as u64),
        ("clients", clients.len() as u64),
        ("signing keys", keys.len() as u64),
    ];
    Ok(report)
}

/// Short-lived records kept under a user who is gone, by kind.
async fn orphans(
    store: &SharedStore,
    users: &BTreeSet<UserId>,
    now: u64,
) -> Result<Vec<(&'static str, Vec<RecordKey>)>, StoreError> {
    fn gone<T>(records: Vec<(RecordKey, T)>, users: &BTreeSet<UserId>) -> Vec<RecordKey> {
        records
            .into_iter()
            .map(|(key, _)| key)
            .filter(|key| key.owner.is_some_and(|owner| !users.contains(&owner)))
            .collect()
    }
    Ok(vec![
        ("sessions", gone(store.sessions().all(now).await?, users)),
        (
            "remembered browsers",
            gone(store.remembered_devices().all(now).await?, users),
        ),
        (
            "remembered hosts",
            gone(store.remembered_hosts().all(now).await?, users),
        ),
        (
            "emailed codes",
            gone(store.email_codes().all(now).await?, users),
        ),
    ])
}

/// Removes the short-lived records and consents that belong to nobody.
async fn remove_orphans(store: &SharedStore, now: u64) -> Result<Vec<String>, StoreError> {
    let mut ids = BTreeSet::new();
    let mut changed = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (page, next) = store.users_page(after.as_deref(), 500).await?;
        for user in page {
            ids.insert(user.id);
            for consent in store.consents_of(user.id).await? {
                if !store.client_exists(&consent.client_id).await? {
                    store.remove_consent(user.id, &consent.client_id).await?;
                    changed.push(format!(
                        "removed user `{}`'s consent for the deleted client `{}`",
                        user.username, consent.client_id
                    ));
                }
            }
        }
        match next {
            Some(key) => after = Some(key),
            None => break,
        }
    }
    for (kind, keys) in orphans(store, &ids, now).await? {
        if keys.is_empty() {
            continue;
        }
        for key in &keys {
            match kind {
                "sessions" => store.sessions().remove(key).await?,
                "remembered browsers" => store.remembered_devices().remove(key).await?,
                "remembered hosts" => store.remembered_hosts().remove(key).await?,
                _ => store.email_codes().remove(key).await?,
            };
        }
        changed.push(format!("removed {} {kind} of deleted users", keys.len()));
    }
    Ok(changed)
}
