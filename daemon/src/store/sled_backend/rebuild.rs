//! Rebuilding what follows from the records (`posternd check-store --repair`): the username
//! and client-name indexes, role memberships and the user count, each compared with what the
//! records say and changed only where they differ, so the report names every change.

use super::counters::USERS;
use super::users::member_key;
use super::{SledStore, StoreError};
use crate::model::{Client, User, normalize_username};
use crate::store::codec::decode;
use std::collections::BTreeMap;

impl SledStore {
    pub fn rebuild_derived(&self) -> Result<Vec<String>, StoreError> {
        let _guard = self.lock();
        let mut names = BTreeMap::new();
        let mut members = BTreeMap::new();
        let mut users = 0u64;
        for entry in self.users.iter() {
            let (_, value) = entry?;
            let user: User = decode(&value)?;
            users += 1;
            let id = user.id.0.as_bytes().to_vec();
            names.insert(normalize_username(&user.username).into_bytes(), id);
            for role in &user.roles {
                members.insert(member_key(role, user.id), Vec::new());
            }
        }
        let mut client_names = BTreeMap::new();
        for entry in self.clients.iter() {
            let (key, value) = entry?;
            let client: Client = decode(&value)?;
            client_names.insert(client.name.into_bytes(), key.to_vec());
        }
        let mut changes = Vec::new();
        changes.extend(sync(&self.usernames, &names, "username index")?);
        changes.extend(sync(&self.role_members, &members, "role membership")?);
        changes.extend(sync(
            &self.client_names,
            &client_names,
            "client name index",
        )?);
        let counted = self.user_count()?;
        if counted != users {
            self.counters.insert(USERS, &users.to_be_bytes())?;
            changes.push(format!("set the user count from {counted} to {users}"));
        }
        self.db.flush()?;
        Ok(changes)
    }
}

/// Makes `tree` hold exactly `wanted`; says how many entries it removed and wrote.
fn sync(
    tree: &sled::Tree,
    wanted: &BTreeMap<Vec<u8>, Vec<u8>>,
    what: &str,
) -> Result<Option<String>, StoreError> {
    let mut removed = 0;
    for entry in tree.iter() {
        let (key, _) = entry?;
        if !wanted.contains_key(key.as_ref()) {
            tree.remove(&key)?;
            removed += 1;
        }
    }
    let mut written = 0;
    for (key, value) in wanted {
        if tree.get(key)?.as_deref() != Some(value.as_slice()) {
            tree.insert(key.as_slice(), value.as_slice())?;
            written += 1;
        }
    }
    Ok((removed + written > 0).then(|| {
        format!("{what}: removed {removed} stale entries, wrote {written} missing or wrong ones")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Role, UserId};

    #[test]
    fn broken_indexes_and_counts_are_rebuilt_from_the_records() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        store
            .insert_role(&Role {
                name: "staff".into(),
                require_mfa: false,
                api_access: false,
                require_phishing_resistant: false,
            })
            .unwrap();
        let mut kai = User::for_tests("kai");
        kai.roles.insert("staff".into());
        store.insert_user(&kai).unwrap();
        assert!(store.rebuild_derived().unwrap().is_empty(), "nothing to do");

        store.usernames.remove(b"kai").unwrap();
        store
            .usernames
            .insert(b"ghost", UserId::random().0.as_bytes())
            .unwrap();
        store
            .role_members
            .remove(member_key("staff", kai.id))
            .unwrap();
        store.counters.insert(USERS, &7u64.to_be_bytes()).unwrap();
        assert!(store.user_by_name("kai").unwrap().is_none());

        let changes = store.rebuild_derived().unwrap();
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert!(changes[0].contains("removed 1 stale") && changes[0].contains("wrote 1"));
        assert!(changes[2].contains("from 7 to 1"), "{changes:?}");
        assert_eq!(store.user_by_name("KAI").unwrap().unwrap().id, kai.id);
        assert_eq!(store.role_members("staff").unwrap(), vec![kai.id]);
        assert_eq!(store.user_count().unwrap(), 1);
        assert!(store.rebuild_derived().unwrap().is_empty());
    }
}
