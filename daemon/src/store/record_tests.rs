//! Store behaviour across users, roles and their indexes.

use super::{Store, StoreError};
use crate::model::{Role, User, UserId};
use std::collections::BTreeSet;

fn user(name: &str, roles: &[&str]) -> User {
    User {
        id: UserId::random(),
        username: name.into(),
        email: format!("{}@example.com", name.to_lowercase()),
        display_name: None,
        password_hash: "$argon2id$placeholder".into(),
        roles: roles.iter().map(|r| r.to_string()).collect::<BTreeSet<_>>(),
        disabled: false,
        created_at: 1,
        password_changed_at: 1,
        last_login_at: None,
        mfa: None,
    }
}

fn role(name: &str) -> Role {
    Role {
        name: name.into(),
        require_mfa: true,
        api_access: false,
    }
}

#[test]
fn usernames_are_unique_without_regard_to_case() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.insert_user(&user("Alice", &[])).unwrap();
    let err = store.insert_user(&user("alice", &[])).unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err}");
    assert_eq!(
        store.user_by_name("ALICE").unwrap().unwrap().username,
        "Alice"
    );
    assert_eq!(store.user_count(), 1);
}

#[test]
fn roles_must_exist_to_be_held_and_cannot_be_deleted_while_held() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let err = store.insert_user(&user("bob", &["staff"])).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");

    store.insert_role(&role("staff")).unwrap();
    assert!(matches!(
        store.insert_role(&role("staff")),
        Err(StoreError::AlreadyExists(_))
    ));
    let bob = user("bob", &["staff"]);
    store.insert_user(&bob).unwrap();
    assert_eq!(store.role_members("staff").unwrap(), vec![bob.id]);

    let err = store.delete_role("staff").unwrap_err().to_string();
    assert!(
        err.contains("held by 1 user") && err.contains("bob"),
        "{err}"
    );

    store
        .update_user(bob.id, |u| {
            u.roles.clear();
            Ok(())
        })
        .unwrap();
    assert!(store.role_members("staff").unwrap().is_empty());
    store.delete_role("staff").unwrap();
    assert!(store.role("staff").unwrap().is_none());
}

#[test]
fn a_refused_update_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let carol = user("carol", &[]);
    store.insert_user(&carol).unwrap();
    let err = store
        .update_user(carol.id, |u| {
            u.disabled = true;
            u.roles.insert("ghost".into());
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    assert!(!store.user(carol.id).unwrap().unwrap().disabled);
}

#[test]
fn renaming_moves_the_username_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let dave = user("dave", &[]);
    store.insert_user(&dave).unwrap();
    store.insert_user(&user("erin", &[])).unwrap();
    let clash = store.update_user(dave.id, |u| {
        u.username = "Erin".into();
        Ok(())
    });
    assert!(matches!(clash, Err(StoreError::AlreadyExists(_))));
    store
        .update_user(dave.id, |u| {
            u.username = "david".into();
            Ok(())
        })
        .unwrap();
    assert!(store.user_by_name("dave").unwrap().is_none());
    assert_eq!(store.user_by_name("david").unwrap().unwrap().id, dave.id);
}

#[test]
fn deleting_a_user_frees_the_name_and_the_role() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.insert_role(&role("ops")).unwrap();
    let frank = user("frank", &["ops"]);
    store.insert_user(&frank).unwrap();
    store.delete_user(frank.id).unwrap();
    assert!(store.user_by_name("frank").unwrap().is_none());
    assert!(store.role_members("ops").unwrap().is_empty());
    store.insert_user(&user("frank", &[])).unwrap();
}

#[test]
fn everything_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.insert_role(&role("staff")).unwrap();
        store.insert_user(&user("gina", &["staff"])).unwrap();
        store
            .update_site_settings(|s| Ok(s.set("totp.skew", "2")?))
            .unwrap();
        store.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.users().unwrap().len(), 1);
    assert_eq!(store.roles().unwrap(), vec![role("staff")]);
    assert_eq!(store.site_settings().unwrap().totp_skew_steps, 2);
}
