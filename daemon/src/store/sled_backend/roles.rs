//! Roles, keyed by name. A role cannot be deleted while anyone holds it.

use super::users::{member_prefix, user_id_from};
use super::{SledStore, StoreError};
use crate::model::{Role, UserId};
use crate::store::codec::{decode, encode};

impl SledStore {
    pub fn insert_role(&self, role: &Role) -> Result<(), StoreError> {
        let _guard = self.writing()?;
        let inserted = self.roles.compare_and_swap(
            role.name.as_bytes(),
            None::<&[u8]>,
            Some(encode(role)?),
        )?;
        inserted.map_err(|_| StoreError::AlreadyExists(format!("role `{}`", role.name)))
    }

    pub fn role(&self, name: &str) -> Result<Option<Role>, StoreError> {
        self.roles
            .get(name.as_bytes())?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    /// All roles, ordered by name.
    pub fn roles(&self) -> Result<Vec<Role>, StoreError> {
        self.roles
            .iter()
            .values()
            .map(|bytes| decode(&bytes?))
            .collect()
    }

    /// The roles a user holds (a role deleted meanwhile is skipped).
    pub fn roles_of(&self, user: &crate::model::User) -> Result<Vec<Role>, StoreError> {
        let mut roles = Vec::new();
        for name in &user.roles {
            roles.extend(self.role(name)?);
        }
        Ok(roles)
    }

    pub fn role_count(&self) -> u64 {
        self.roles.len() as u64
    }

    pub fn update_role<F>(&self, name: &str, change: F) -> Result<Role, StoreError>
    where
        F: FnOnce(&mut Role) -> Result<(), StoreError>,
    {
        let _guard = self.writing()?;
        let mut role = self
            .role(name)?
            .ok_or_else(|| StoreError::NotFound(format!("role `{name}`")))?;
        change(&mut role)?;
        role.name = name.to_owned();
        self.roles.insert(name.as_bytes(), encode(&role)?)?;
        Ok(role)
    }

    /// Deletes a role nobody holds; otherwise says who still does.
    pub fn delete_role(&self, name: &str) -> Result<(), StoreError> {
        let _guard = self.writing()?;
        if !self.roles.contains_key(name.as_bytes())? {
            return Err(StoreError::NotFound(format!("role `{name}`")));
        }
        let holders = self.role_members(name)?;
        if !holders.is_empty() {
            let mut names: Vec<String> = Vec::new();
            for id in holders.iter().take(5) {
                if let Some(user) = self.user(*id)? {
                    names.push(user.username);
                }
            }
            let more = if holders.len() > names.len() {
                ", …"
            } else {
                ""
            };
            return Err(StoreError::Conflict(format!(
                "role `{name}` is held by {} user(s) ({}{more}); remove it from them first with `postern user remove-role USER {name}`",
                holders.len(),
                names.join(", ")
            )));
        }
        self.roles.remove(name.as_bytes())?;
        Ok(())
    }

    /// The ids of the users holding `role`.
    pub fn role_members(&self, role: &str) -> Result<Vec<UserId>, StoreError> {
        let prefix = member_prefix(role);
        self.role_members
            .scan_prefix(&prefix)
            .keys()
            .map(|key| user_id_from(&key?[prefix.len()..]))
            .collect()
    }
}
