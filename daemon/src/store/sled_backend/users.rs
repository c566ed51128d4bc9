//! Users, with two indexes kept in the same transaction: case-folded username → id, and
//! (role, id) for "who holds this role".

use super::{SledStore, StoreError, TxResult, from_tx};
use crate::model::{User, UserId, normalize_username};
use crate::store::codec::{decode, encode};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use std::ops::Bound;

impl SledStore {
    /// Adds a new user. Fails if the username is taken (in any case) or a role does not exist.
    pub fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        let _guard = self.writing()?;
        self.check_roles_exist(user)?;
        let name_key = normalize_username(&user.username);
        let value = encode(user)?;
        (
            &*self.users,
            &*self.usernames,
            &*self.role_members,
            &*self.counters,
        )
            .transaction(|(users, usernames, members, counters)| -> TxResult<()> {
                if usernames.get(name_key.as_bytes())?.is_some() {
                    return abort(StoreError::AlreadyExists(format!(
                        "user `{}`",
                        user.username
                    )));
                }
                usernames.insert(name_key.as_bytes(), user.id.0.as_bytes())?;
                users.insert(user.id.0.as_bytes(), value.clone())?;
                for role in &user.roles {
                    members.insert(member_key(role, user.id), &[])?;
                }
                super::counters::add(counters, super::counters::USERS, 1)
            })
            .map_err(from_tx)
    }

    pub fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.users
            .get(id.0.as_bytes())?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    /// Looks a user up by username, without regard to case.
    pub fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        match self
            .usernames
            .get(normalize_username(username).as_bytes())?
        {
            Some(id) => self.user(user_id_from(&id)?),
            None => Ok(None),
        }
    }

    /// Up to `limit` users in username order (without regard to case), after the one whose
    /// username key is `after`; and the key to continue after, when there are more.
    pub fn users_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<User>, Option<String>), StoreError> {
        let start = match after {
            Some(key) => Bound::Excluded(key.as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        let mut entries = self.usernames.range((start, Bound::Unbounded));
        let mut users = Vec::with_capacity(limit.min(1024));
        let mut last_key = None;
        for entry in entries.by_ref().take(limit) {
            let (key, id) = entry?;
            if let Some(user) = self.user(user_id_from(&id)?)? {
                users.push(user);
            }
            last_key = Some(key);
        }
        let next = match (entries.next().transpose()?, last_key) {
            (Some(_), Some(key)) => Some(String::from_utf8_lossy(&key).into_owned()),
            _ => None,
        };
        Ok((users, next))
    }

    /// Applies `change` to the stored user and writes the result, keeping the indexes in step.
    /// `change` may refuse by returning an error; then nothing is written.
    pub fn update_user<F>(&self, id: UserId, change: F) -> Result<User, StoreError>
    where
        F: FnOnce(&mut User) -> Result<(), StoreError>,
    {
        let _guard = self.writing()?;
        let before = self
            .user(id)?
            .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
        let mut after = before.clone();
        change(&mut after)?;
        after.id = before.id;
        self.check_roles_exist(&after)?;
        let (old_name, new_name) = (
            normalize_username(&before.username),
            normalize_username(&after.username),
        );
        let value = encode(&after)?;
        if old_name == new_name && before.roles == after.roles {
            // Only the record changes (a sign-in's last login, a spent TOTP step): one insert,
            // atomic on its own, with the write lock keeping other writers out. sled seals and
            // writes its log buffer twice for every multi-tree transaction: that was four disk
            // writes a sign-in.
            self.users.insert(id.0.as_bytes(), value)?;
            return Ok(after);
        }
        (&*self.users, &*self.usernames, &*self.role_members)
            .transaction(|(users, usernames, members)| -> TxResult<()> {
                if old_name != new_name {
                    if usernames.get(new_name.as_bytes())?.is_some() {
                        return abort(StoreError::AlreadyExists(format!(
                            "user `{}`",
                            after.username
                        )));
                    }
                    usernames.remove(old_name.as_bytes())?;
                    usernames.insert(new_name.as_bytes(), id.0.as_bytes())?;
                }
                for role in before.roles.difference(&after.roles) {
                    members.remove(member_key(role, id))?;
                }
                for role in after.roles.difference(&before.roles) {
                    members.insert(member_key(role, id), &[])?;
                }
                users.insert(id.0.as_bytes(), value.clone())?;
                Ok(())
            })
            .map_err(from_tx)?;
        Ok(after)
    }

    /// Removes a user and their index entries. Returns the removed user.
    pub fn delete_user(&self, id: UserId) -> Result<User, StoreError> {
        let _guard = self.writing()?;
        let user = self
            .user(id)?
            .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
        let name_key = normalize_username(&user.username);
        (
            &*self.users,
            &*self.usernames,
            &*self.role_members,
            &*self.counters,
        )
            .transaction(|(users, usernames, members, counters)| -> TxResult<()> {
                users.remove(user.id.0.as_bytes())?;
                usernames.remove(name_key.as_bytes())?;
                for role in &user.roles {
                    members.remove(member_key(role, user.id))?;
                }
                super::counters::add(counters, super::counters::USERS, -1)
            })
            .map_err(from_tx)?;
        self.remove_consents_of(user.id)?;
        Ok(user)
    }

    fn check_roles_exist(&self, user: &User) -> Result<(), StoreError> {
        for role in &user.roles {
            if !self.roles.contains_key(role.as_bytes())? {
                return Err(StoreError::NotFound(format!("role `{role}`")));
            }
        }
        Ok(())
    }
}

fn abort<T>(error: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(error))
}

/// `role NUL user-id`: role names never contain NUL, so a prefix scan on `role NUL` finds
/// exactly that role's members.
pub(super) fn member_key(role: &str, id: UserId) -> Vec<u8> {
    let mut key = member_prefix(role);
    key.extend_from_slice(id.0.as_bytes());
    key
}

pub(super) fn member_prefix(role: &str) -> Vec<u8> {
    let mut key = role.as_bytes().to_vec();
    key.push(0);
    key
}

pub(super) fn user_id_from(bytes: &[u8]) -> Result<UserId, StoreError> {
    uuid::Uuid::from_slice(bytes)
        .map(UserId)
        .map_err(|e| StoreError::Corrupt {
            kind: "user index",
            message: e.to_string(),
        })
}
