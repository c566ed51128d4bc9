//! Store behaviour across users, roles and their indexes.

use super::{SledStore, StoreError};
use crate::model::{Role, User, UserId};
use std::collections::BTreeSet;

fn user(name: &str, roles: &[&str]) -> User {
    User {
        password_hash: "$argon2id$placeholder".into(),
        roles: roles.iter().map(|r| r.to_string()).collect::<BTreeSet<_>>(),
        ..User::for_tests(name)
    }
}

#[tokio::test]
async fn usernames_are_unique_without_regard_to_case() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    store.insert_user(&user("Alice", &[])).unwrap();
    let err = store.insert_user(&user("alice", &[])).unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err}");
    assert_eq!(
        store.user_by_name("ALICE").unwrap().unwrap().username,
        "Alice"
    );
    assert_eq!(store.user_count().unwrap(), 1);
}

#[tokio::test]
async fn roles_must_exist_to_be_held_and_cannot_be_deleted_while_held() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let err = store.insert_user(&user("bob", &["staff"])).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");

    store.insert_role(&Role::for_tests("staff")).unwrap();
    assert!(matches!(
        store.insert_role(&Role::for_tests("staff")),
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

#[tokio::test]
async fn a_refused_update_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
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

#[tokio::test]
async fn renaming_moves_the_username_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
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

#[tokio::test]
async fn an_update_of_fields_alone_is_stored_and_leaves_the_indexes_alone() {
    let dir = tempfile::tempdir().unwrap();
    let gina = user("gina", &["ops"]);
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.insert_role(&Role::for_tests("ops")).unwrap();
        store.insert_user(&gina).unwrap();
        // A case-only rename keeps the index key: it is a field-only update too.
        let updated = store
            .update_user(gina.id, |u| {
                u.last_login_at = Some(42);
                u.username = "Gina".into();
                Ok(())
            })
            .unwrap();
        assert_eq!(updated.last_login_at, Some(42));
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    let stored = store.user_by_name("GINA").unwrap().unwrap();
    assert_eq!((stored.id, stored.last_login_at), (gina.id, Some(42)));
    assert_eq!(stored.username, "Gina");
    assert_eq!(store.role_members("ops").unwrap(), vec![gina.id]);
}

#[tokio::test]
async fn deleting_a_user_frees_the_name_and_the_role() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    store.insert_role(&Role::for_tests("ops")).unwrap();
    let frank = user("frank", &["ops"]);
    store.insert_user(&frank).unwrap();
    store.delete_user(frank.id).unwrap();
    assert!(store.user_by_name("frank").unwrap().is_none());
    assert!(store.role_members("ops").unwrap().is_empty());
    store.insert_user(&user("frank", &[])).unwrap();
}

#[tokio::test]
async fn everything_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.insert_role(&Role::for_tests("staff")).unwrap();
        store.insert_user(&user("gina", &["staff"])).unwrap();
        store
            .update_site_settings(|s| Ok(s.set("totp.skew", "2")?))
            .unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.users_page(None, 10).unwrap().0.len(), 1);
    assert_eq!(store.roles().unwrap(), vec![Role::for_tests("staff")]);
    assert_eq!(store.site_settings().unwrap().totp_skew_steps, 2);
}

#[tokio::test]
async fn users_come_in_pages_in_username_order_without_regard_to_case() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    for name in ["dave", "Carol", "alice", "Bob", "eve"] {
        store.insert_user(&user(name, &[])).unwrap();
    }
    let names = |users: Vec<User>| users.into_iter().map(|u| u.username).collect::<Vec<_>>();
    let (first, next) = store.users_page(None, 2).unwrap();
    assert_eq!(
        (names(first), next.as_deref()),
        (vec!["alice".into(), "Bob".into()], Some("bob"))
    );
    let (second, next) = store.users_page(next.as_deref(), 2).unwrap();
    assert_eq!(names(second), vec!["Carol", "dave"]);
    let (last, next) = store.users_page(next.as_deref(), 2).unwrap();
    assert_eq!((names(last), next), (vec!["eve".into()], None));
    // Exactly a page left: no empty page after it.
    let (all, next) = store.users_page(None, 5).unwrap();
    assert_eq!((all.len(), next), (5, None));
    // A cursor whose user was deleted meanwhile still continues after it.
    let (rest, _) = store.users_page(Some("bz"), 10).unwrap();
    assert_eq!(names(rest), vec!["Carol", "dave", "eve"]);
}

#[tokio::test]
async fn the_user_count_follows_inserts_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let alice = user("alice", &[]);
    store.insert_user(&alice).unwrap();
    store.insert_user(&user("bob", &[])).unwrap();
    assert!(store.insert_user(&user("BOB", &[])).is_err());
    assert_eq!(store.user_count().unwrap(), 2);
    store.delete_user(alice.id).unwrap();
    assert_eq!(store.user_count().unwrap(), 1);
}

/// A store as format 1 wrote it: users without the `counters` tree.
fn write_format_1_store(dir: &std::path::Path, users: &[User]) {
    let db = sled::open(dir.join("db")).unwrap();
    db.insert(super::FORMAT_KEY, &1u32.to_be_bytes()).unwrap();
    let (tree, names) = (
        db.open_tree("users").unwrap(),
        db.open_tree("usernames").unwrap(),
    );
    for user in users {
        tree.insert(
            user.id.0.as_bytes(),
            crate::store::codec::encode(user).unwrap(),
        )
        .unwrap();
        names
            .insert(user.username.as_bytes(), user.id.0.as_bytes())
            .unwrap();
    }
    db.flush().unwrap();
}

#[tokio::test]
async fn a_format_1_store_is_migrated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    write_format_1_store(dir.path(), &[user("alice", &[]), user("bob", &[])]);
    {
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(store.user_count().unwrap(), 2);
        assert!(store.user_by_name("alice").unwrap().is_some());
        store.insert_user(&user("carol", &[])).unwrap();
        assert_eq!(store.user_count().unwrap(), 3);
        store.flush().unwrap();
    }
    // open_db waits out the lock the dropped store's I/O threads still hold for a moment.
    let db = super::open_db(dir.path(), super::DURABLE_DIR, super::DEFAULT_CACHE).unwrap();
    assert_eq!(
        db.get(super::FORMAT_KEY).unwrap().unwrap().as_ref(),
        super::FORMAT_VERSION.to_be_bytes()
    );
}

/// Format 3 kept the short-lived records in the durable database; format 4 moves them, bytes
/// unchanged, into their own, so an upgrade signs nobody out.
#[tokio::test]
async fn a_format_3_store_moves_its_short_lived_records_on_open() {
    let dir = tempfile::tempdir().unwrap();
    write_format_1_store(dir.path(), &[user("alice", &[])]);
    {
        let db = super::open_db(dir.path(), super::DURABLE_DIR, super::DEFAULT_CACHE).unwrap();
        db.insert(super::FORMAT_KEY, &3u32.to_be_bytes()).unwrap();
        db.open_tree("sessions")
            .unwrap()
            .insert(b"session key", b"session record")
            .unwrap();
        db.open_tree("refresh_tokens")
            .unwrap()
            .insert(b"token key", b"token record")
            .unwrap();
        db.flush().unwrap();
    }
    drop(SledStore::open(dir.path()).unwrap());
    let db = super::open_db(dir.path(), super::DURABLE_DIR, super::DEFAULT_CACHE).unwrap();
    assert_eq!(
        db.get(super::FORMAT_KEY).unwrap().unwrap().as_ref(),
        super::FORMAT_VERSION.to_be_bytes()
    );
    let names: Vec<_> = db.tree_names();
    assert!(!names.iter().any(|n| n.as_ref() == b"sessions"));
    assert!(db.open_tree("users").unwrap().len() == 1);
    let short_lived =
        super::open_db(dir.path(), super::SHORT_LIVED_DIR, super::DEFAULT_CACHE).unwrap();
    let moved = |tree: &str, key: &[u8]| short_lived.open_tree(tree).unwrap().get(key).unwrap();
    assert_eq!(
        moved("sessions", b"session key").unwrap().as_ref(),
        b"session record"
    );
    assert_eq!(
        moved("refresh_tokens", b"token key").unwrap().as_ref(),
        b"token record"
    );
}

/// A user as format 2 wrote it: version byte 1, byte fields as arrays of numbers.
#[tokio::test]
async fn a_user_record_of_format_2_is_read_and_rewritten_as_base64() {
    let dir = tempfile::tempdir().unwrap();
    let id = UserId::random();
    write_format_1_store(dir.path(), &[]);
    let code: Vec<String> = (0..32).map(|b| b.to_string()).collect();
    let old = format!(
        r#"{{"id":"{id}","username":"dora","email":"dora@example.com","display_name":null,"password_hash":"$argon2id$x","roles":[],"disabled":false,"created_at":1,"password_changed_at":1,"last_login_at":null,"mfa":{{"method":"totp","totp":{{"sealed":[1,2,3],"last_step":7}},"recovery_codes":[[{}]],"enrolled_at":5}}}}"#,
        code.join(",")
    );
    {
        let db = super::open_db(dir.path(), super::DURABLE_DIR, super::DEFAULT_CACHE).unwrap();
        let mut record = vec![1u8];
        record.extend_from_slice(old.as_bytes());
        db.open_tree("users")
            .unwrap()
            .insert(id.0.as_bytes(), record)
            .unwrap();
        db.open_tree("usernames")
            .unwrap()
            .insert("dora", id.0.as_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    let dora = store.user(id).unwrap().unwrap();
    let mfa = dora.mfa.as_ref().unwrap();
    assert_eq!(mfa.totp.as_ref().unwrap().sealed, vec![1, 2, 3]);
    let expected: Vec<u8> = (0..32).collect();
    assert_eq!(
        mfa.recovery_codes,
        vec![<[u8; 32]>::try_from(expected).unwrap()]
    );

    store
        .update_user(id, |user| {
            user.last_login_at = Some(9);
            Ok(())
        })
        .unwrap();
    let rewritten = store.users.get(id.0.as_bytes()).unwrap().unwrap();
    assert_eq!(rewritten[0], 2);
    let text = std::str::from_utf8(&rewritten[1..]).unwrap();
    assert!(text.contains(r#""sealed":"AQID""#), "{text}");
    assert_eq!(store.user(id).unwrap().unwrap().mfa, dora.mfa);
}

mod backups {
    use super::*;
    use crate::store::BackupError;
    use crate::store::sled_backend::backup;

    fn backed_up_store(dir: &std::path::Path) -> (std::path::PathBuf, User) {
        let store = SledStore::open(&dir.join("state")).unwrap();
        store.insert_role(&Role::for_tests("staff")).unwrap();
        let alice = user("alice", &["staff"]);
        store.insert_user(&alice).unwrap();
        let file = dir.join("backup");
        let summary = store
            .write_backup(std::fs::File::create(&file).unwrap(), 42)
            .unwrap();
        assert_eq!(summary.header.created_at, 42);
        (file, alice)
    }

    #[tokio::test]
    async fn a_backup_restores_users_roles_and_counts_into_an_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (file, alice) = backed_up_store(dir.path());
        let restored = dir.path().join("restored");
        let (summary, store) = backup::restore(&restored, &file).unwrap();
        assert!(summary.records >= 4, "{summary:?}");
        assert_eq!(store.user_by_name("alice").unwrap().unwrap(), alice);
        assert_eq!(store.role_members("staff").unwrap().len(), 1);
        assert_eq!(store.user_count().unwrap(), 1);
    }

    #[tokio::test]
    async fn a_restore_refuses_a_directory_that_is_not_empty() {
        let dir = tempfile::tempdir().unwrap();
        let (file, _) = backed_up_store(dir.path());
        let err = backup::restore(&dir.path().join("state"), &file).unwrap_err();
        assert!(matches!(err, BackupError::NotEmpty(_)), "{err}");
    }

    #[tokio::test]
    async fn damaged_truncated_and_foreign_files_are_refused_and_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (file, _) = backed_up_store(dir.path());
        let good = std::fs::read(&file).unwrap();
        let mut flipped = good.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x40;
        let mut longer = good.clone();
        longer.push(0);
        let cases: [(&str, &[u8]); 5] = [
            ("flipped", &flipped),
            ("truncated", &good[..good.len() - 10]),
            ("longer", &longer),
            ("foreign", b"#!/bin/sh\necho not a backup\n"),
            ("empty", b""),
        ];
        for (name, bytes) in cases {
            let bad = dir.path().join(name);
            std::fs::write(&bad, bytes).unwrap();
            let target = dir.path().join(format!("{name}-state"));
            let err = backup::restore(&target, &bad).unwrap_err();
            assert!(matches!(err, BackupError::Damaged(_)), "{name}: {err}");
            assert!(!target.exists(), "{name}: restore wrote something");
        }
    }

    #[tokio::test]
    async fn a_backup_of_a_newer_store_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (file, _) = backed_up_store(dir.path());
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let from = format!("\"store_format\":{}", super::super::FORMAT_VERSION);
        assert!(text.contains(&from));
        // Same length, so the header length stays right; the checksum is checked later.
        let newer = text.replacen(&from, "\"store_format\":9", 1);
        let bad = dir.path().join("newer");
        std::fs::write(&bad, newer.as_bytes()).unwrap();
        let err = backup::restore(&dir.path().join("target"), &bad).unwrap_err();
        assert!(
            matches!(err, BackupError::StoreTooNew { found: 9, .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn audit_ids_go_on_after_restored_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&dir.path().join("state")).unwrap();
        use crate::model::audit::{AuditAction, AuditDoor, AuditEvent, Outcome};
        let event = |detail: &str| {
            AuditEvent::new(
                1,
                "test",
                AuditAction::DaemonStarted,
                AuditDoor::Daemon,
                "test",
                Outcome::Success,
            )
            .detail(detail)
        };
        store.audit.append_now(&event("before")).unwrap();
        let file = dir.path().join("backup");
        store
            .write_backup(std::fs::File::create(&file).unwrap(), 1)
            .unwrap();
        let restored = dir.path().join("restored");
        let (_, store) = backup::restore(&restored, &file).unwrap();
        store.audit.append_now(&event("after")).unwrap();
        let details: Vec<_> = store
            .audit
            .newest_now(0, 10, |_| true)
            .unwrap()
            .into_iter()
            .filter_map(|e| e.detail)
            .collect();
        assert_eq!(details, ["after", "before"]);
    }
}
