//! Users' consents to third-party clients, keyed by the user's id and then the client id, so
//! one user's grants are one prefix scan.

use super::{SledStore, StoreError};
use crate::model::UserId;
use crate::model::consent::ConsentGrant;
use crate::store::codec::{decode, encode};

fn key(user: UserId, client_id: &str) -> Vec<u8> {
    [user.0.as_bytes().as_slice(), client_id.as_bytes()].concat()
}

impl SledStore {
    /// Records (or replaces) a user's grant to a client; flushed, since the user was told.
    pub fn put_consent(&self, user: UserId, grant: &ConsentGrant) -> Result<(), StoreError> {
        self.consents
            .insert(key(user, &grant.client_id), encode(grant)?)?;
        self.flush()
    }

    pub fn consent(
        &self,
        user: UserId,
        client_id: &str,
    ) -> Result<Option<ConsentGrant>, StoreError> {
        self.consents
            .get(key(user, client_id))?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    /// Every grant of one user, ordered by client id.
    pub fn consents_of(&self, user: UserId) -> Result<Vec<ConsentGrant>, StoreError> {
        self.consents
            .scan_prefix(user.0.as_bytes())
            .values()
            .map(|bytes| decode(&bytes?))
            .collect()
    }

    /// Forgets a user's grant to a client; whether there was one.
    pub fn remove_consent(&self, user: UserId, client_id: &str) -> Result<bool, StoreError> {
        let removed = self.consents.remove(key(user, client_id))?.is_some();
        self.flush()?;
        Ok(removed)
    }

    /// Forgets every grant of a user (the user is being deleted).
    pub(super) fn remove_consents_of(&self, user: UserId) -> Result<(), StoreError> {
        for key in self.consents.scan_prefix(user.0.as_bytes()).keys() {
            self.consents.remove(key?)?;
        }
        Ok(())
    }

    /// Forgets every grant to a client (the client is being deleted).
    pub(super) fn remove_consents_to(&self, client_id: &str) -> Result<(), StoreError> {
        for entry in self.consents.iter() {
            let (key, bytes) = entry?;
            if decode::<ConsentGrant>(&bytes)?.client_id == client_id {
                self.consents.remove(key)?;
            }
        }
        Ok(())
    }
}
