//! Signing key records, keyed by `kid`. Their private parts arrive already sealed.

use super::{SledStore, StoreError};
use crate::model::signing_key::SigningKeyRecord;
use crate::store::codec::{decode, encode};

impl SledStore {
    pub fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        self.signing_keys
            .iter()
            .values()
            .map(|bytes| decode(&bytes?))
            .collect()
    }

    pub fn put_signing_key(&self, record: &SigningKeyRecord) -> Result<(), StoreError> {
        self.signing_keys
            .insert(record.kid.as_bytes(), encode(record)?)?;
        self.flush()
    }

    pub fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError> {
        self.signing_keys.remove(kid.as_bytes())?;
        Ok(())
    }
}
