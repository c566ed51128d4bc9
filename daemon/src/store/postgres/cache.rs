//! The site settings, the registered clients and the roles, kept in memory while this daemon
//! listens for changes to them.
//!
//! Every request of a sign-in reads the settings and the client (about a quarter of a
//! sign-in's statements), every password step the user's roles, and an administrator changes
//! them a few times a year. A daemon keeps what it read and forgets it
//! when the database announces a change: every change of the settings or of a client sends a
//! notification on [`CHANNEL`] in its own transaction (adding a role need not: only roles that
//! exist are kept), which PostgreSQL delivers to every
//! listening daemon when the change commits. The daemon that made the change forgets at once;
//! the others within the notification's trip (milliseconds).
//!
//! Nothing is served from memory unless the listener is connected and listening: when its
//! connection breaks (the database went away), everything kept is forgotten and every read goes
//! to the database until the listener is back. A value read while a change was announced is
//! not kept (the epoch check below), so a notification that overtakes a read cannot leave the
//! old value behind. Only clients and roles that exist are kept, so a flood of made-up client
//! ids costs no memory.

use crate::model::{Client, Role, SiteSettings};
use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The channel that announces a change of the settings, of a client or of a role.
pub(super) const CHANNEL: &str = "postern_changes";

/// Sends the notification on `$1` (the [`CHANNEL`]) in the caller's transaction: delivered
/// when it commits, never if it rolls back.
pub(super) const NOTIFY: &str = "SELECT pg_notify($1, '')";

#[derive(Debug, Default)]
pub(super) struct Cache {
    listening: AtomicBool,
    /// Moves on with every announced change, and whenever listening starts or stops.
    epoch: AtomicU64,
    kept: RwLock<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    settings: Option<SiteSettings>,
    clients: HashMap<String, Client>,
    roles: HashMap<String, Role>,
}

/// Where a read from the database began, for [`Cache::keep_settings`] and
/// [`Cache::keep_client`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Epoch(u64);

impl Cache {
    pub(super) fn settings(&self) -> Option<SiteSettings> {
        self.kept().settings.clone()
    }

    pub(super) fn client(&self, id: &str) -> Option<Client> {
        self.kept().clients.get(id).cloned()
    }

    pub(super) fn role(&self, name: &str) -> Option<Role> {
        self.kept().roles.get(name).cloned()
    }

    /// Call before reading from the database what is to be kept.
    pub(super) fn epoch(&self) -> Epoch {
        Epoch(self.epoch.load(Ordering::SeqCst))
    }

    pub(super) fn keep_settings(&self, read_at: Epoch, settings: &SiteSettings) {
        self.keep(read_at, |kept| kept.settings = Some(settings.clone()));
    }

    pub(super) fn keep_client(&self, read_at: Epoch, client: &Client) {
        self.keep(read_at, |kept| {
            kept.clients.insert(client.id.clone(), client.clone());
        });
    }

    pub(super) fn keep_role(&self, read_at: Epoch, role: &Role) {
        self.keep(read_at, |kept| {
            kept.roles.insert(role.name.clone(), role.clone());
        });
    }

    /// A change was announced (or made by this daemon): forget everything.
    pub(super) fn forget(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        *self.kept.write().unwrap_or_else(|p| p.into_inner()) = Kept::default();
    }

    /// The listener is listening: from now on, what is read may be kept.
    pub(super) fn listening(&self) {
        self.forget();
        self.listening.store(true, Ordering::SeqCst);
    }

    /// The listener lost its connection: changes may go unannounced, so nothing is kept.
    pub(super) fn deaf(&self) {
        self.listening.store(false, Ordering::SeqCst);
        self.forget();
    }

    fn keep(&self, read_at: Epoch, put: impl FnOnce(&mut Kept)) {
        let mut kept = self.kept.write().unwrap_or_else(|p| p.into_inner());
        // Checked under the lock that `forget` takes after moving the epoch on: a change
        // announced since the read began is seen here, and the read is not kept.
        if self.listening.load(Ordering::SeqCst) && self.epoch.load(Ordering::SeqCst) == read_at.0 {
            put(&mut kept);
        }
    }

    fn kept(&self) -> std::sync::RwLockReadGuard<'_, Kept> {
        self.kept.read().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: &str) -> Client {
        Client {
            id: id.into(),
            name: id.into(),
            secret_hash: None,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            signing_alg: crate::model::SigningAlg::EdDSA,
            require_pkce: true,
            consent: false,
            device_flow: false,
            created_at: 1,
        }
    }

    #[test]
    fn nothing_is_kept_unless_listening() {
        let cache = Cache::default();
        cache.keep_settings(cache.epoch(), &SiteSettings::default());
        cache.keep_client(cache.epoch(), &client("a"));
        cache.keep_role(cache.epoch(), &Role::for_tests("staff"));
        assert!(cache.settings().is_none() && cache.client("a").is_none());
        assert!(cache.role("staff").is_none());
        cache.listening();
        cache.keep_settings(cache.epoch(), &SiteSettings::default());
        cache.keep_client(cache.epoch(), &client("a"));
        cache.keep_role(cache.epoch(), &Role::for_tests("staff"));
        assert!(cache.settings().is_some() && cache.client("a").is_some());
        assert!(cache.role("staff").is_some());
        cache.deaf();
        assert!(cache.settings().is_none() && cache.client("a").is_none());
        assert!(cache.role("staff").is_none());
        cache.keep_client(cache.epoch(), &client("a"));
        assert!(cache.client("a").is_none(), "not while deaf");
    }

    #[test]
    fn a_read_overtaken_by_a_change_is_not_kept_and_a_change_forgets_everything() {
        let cache = Cache::default();
        cache.listening();
        let before_change = cache.epoch();
        cache.forget();
        cache.keep_settings(before_change, &SiteSettings::default());
        cache.keep_client(before_change, &client("a"));
        assert!(cache.settings().is_none() && cache.client("a").is_none());
        cache.keep_client(cache.epoch(), &client("a"));
        cache.keep_client(cache.epoch(), &client("b"));
        assert_eq!(cache.client("b").map(|c| c.id), Some("b".into()));
        cache.forget();
        assert!(cache.client("a").is_none() && cache.client("b").is_none());
    }
}
