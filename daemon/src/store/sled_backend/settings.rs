//! The site settings: one record, defaults until an administrator changes something.

use super::{SledStore, StoreError};
use crate::model::SiteSettings;
use crate::store::codec::{decode, encode};

const SITE_KEY: &[u8] = b"site";

impl SledStore {
    pub fn site_settings(&self) -> Result<SiteSettings, StoreError> {
        match self.settings.get(SITE_KEY)? {
            Some(bytes) => decode(&bytes),
            None => Ok(SiteSettings::default()),
        }
    }

    /// Reads, changes and writes the settings under the write lock, so two concurrent changes
    /// of different keys both survive.
    pub fn update_site_settings<F>(&self, change: F) -> Result<SiteSettings, StoreError>
    where
        F: FnOnce(&mut SiteSettings) -> Result<(), StoreError>,
    {
        let _guard = self.writing()?;
        let mut settings = self.site_settings()?;
        change(&mut settings)?;
        self.settings.insert(SITE_KEY, encode(&settings)?)?;
        Ok(settings)
    }
}
