//! The PostgreSQL store's atomic changes under real concurrency, against a server of the
//! test's own. They run on the PostgreSQL run of the suite (`E2E_STORE=postgres`, which
//! `tests/run` sets after installing the server) and pass trivially on the other.

use super::PgStore;
use crate::config::{PostgresConfig, SecretString};
use crate::model::User;
use crate::model::grants::TokenFamily;
use crate::store::StoreError;
use crate::store::batch::{Put, Remove, Write, Writes};
use std::sync::Arc;

/// The store on a fresh server, or `None` outside the PostgreSQL run.
pub(crate) async fn store() -> Option<(postern_testkit::Postgres, Arc<PgStore>)> {
    if !std::env::var("E2E_STORE").is_ok_and(|v| v == "postgres") {
        return None;
    }
    let server = tokio::task::spawn_blocking(postern_testkit::Postgres::start)
        .await
        .unwrap();
    let config = PostgresConfig {
        url: SecretString(server.url()),
        pool_size: 8,
        ..PostgresConfig::default()
    };
    let store = PgStore::open(&config).await.unwrap();
    Some((server, Arc::new(store)))
}

fn user() -> User {
    User {
        password_hash: "$argon2id$placeholder".into(),
        ..User::for_tests("noor")
    }
}

/// A live token family (until 100) of `user` with `client_id`, as a sign-in starts one.
fn family_of(user: &User, client_id: &str) -> TokenFamily {
    TokenFamily {
        client_id: client_id.into(),
        user_id: user.id,
        revoked: false,
        expires_at: 100,
        generation: 0,
        refresh: None,
        revoked_access: Vec::new(),
    }
}

/// Makes `change` to `user` from `times` requests at once; what each got back, in order.
async fn at_once(
    store: &Arc<PgStore>,
    user: &User,
    times: usize,
    change: fn(&mut User) -> Result<(), StoreError>,
) -> Vec<Result<User, StoreError>> {
    let tasks: Vec<_> = (0..times)
        .map(|_| {
            let (store, id) = (store.clone(), user.id);
            tokio::spawn(async move { store.update_user(id, Box::new(change)).await })
        })
        .collect();
    let mut results = Vec::with_capacity(times);
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

/// Changes of one user made at once, from many requests over shared connections, each see the
/// others' result: none is lost, as a blind write would lose them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_of_one_user_are_all_kept() {
    let Some((_server, store)) = store().await else {
        return;
    };
    let noor = user();
    store.insert_user(&noor).await.unwrap();
    let counted = at_once(&store, &noor, 40, |u| {
        u.last_login_at = Some(u.last_login_at.unwrap_or(0) + 1);
        Ok(())
    })
    .await;
    for result in counted {
        result.unwrap();
    }
    let stored = store.user(noor.id).await.unwrap().unwrap();
    assert_eq!(stored.last_login_at, Some(40));
}

/// Many requests spending one thing at once (a TOTP step): exactly one succeeds, whichever
/// connection each took.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_spend_wins_among_many_at_once() {
    let Some((_server, store)) = store().await else {
        return;
    };
    let noor = user();
    store.insert_user(&noor).await.unwrap();
    let spends = at_once(&store, &noor, 20, |u| match u.last_login_at {
        Some(_) => Err(StoreError::Conflict("spent".into())),
        None => {
            u.last_login_at = Some(1);
            Ok(())
        }
    })
    .await;
    let mut won = 0;
    for spend in spends {
        match spend {
            Ok(_) => won += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(won, 1);
}

/// A change made to the caller's copy of a user is kept only if nobody changed the user since
/// the copy was read; otherwise it is made, and judged, on the stored user, as
/// `update_user` would.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_to_a_stale_copy_is_made_on_the_stored_user() {
    let Some((_server, store)) = store().await else {
        return;
    };
    let noor = user();
    store.insert_user(&noor).await.unwrap();
    let stale = noor.clone();
    let fresh = store
        .update_user(
            noor.id,
            Box::new(|u| {
                u.last_login_at = Some(5);
                Ok(())
            }),
        )
        .await
        .unwrap();

    // Refused on the stale copy (no sign-in yet), accepted on the stored user.
    let after = store
        .update_seen_user(
            &stale,
            Box::new(|u| match u.last_login_at {
                None => Err(StoreError::Conflict("no sign-in yet".into())),
                Some(at) => {
                    u.last_login_at = Some(at + 1);
                    Ok(())
                }
            }),
        )
        .await
        .unwrap();
    assert_eq!(after.last_login_at, Some(6));

    // A copy that is now stale again, and a fresh one: each change counts once.
    let bump = || -> crate::store::Edit<'static, User> {
        Box::new(|u| {
            u.last_login_at = Some(u.last_login_at.unwrap_or(0) + 1);
            Ok(())
        })
    };
    store.update_seen_user(&fresh, bump()).await.unwrap();
    let last = store.update_seen_user(&after, bump()).await.unwrap();
    assert_eq!(last.last_login_at, Some(8));
    assert_eq!(store.user(noor.id).await.unwrap().unwrap(), last);
}

/// Many requests that read the user before any of them wrote spend one TOTP step through their
/// copies at once: exactly one succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_spend_through_copies_wins_among_many_at_once() {
    let Some((_server, store)) = store().await else {
        return;
    };
    let noor = user();
    store.insert_user(&noor).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, seen) = (store.clone(), noor.clone());
            tokio::spawn(async move {
                let spend = Box::new(|u: &mut User| match u.last_login_at {
                    Some(_) => Err(StoreError::Conflict("spent".into())),
                    None => {
                        u.last_login_at = Some(1);
                        Ok(())
                    }
                });
                store.update_seen_user(&seen, spend).await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(won, 1);
}

/// Two records read in one statement come back in the order asked, each only while unexpired.
#[tokio::test]
async fn a_pair_of_records_reads_each_in_its_place() {
    use crate::model::grants::FailureWindow;
    use crate::store::{RecordKey, Store};
    let Some((_server, store)) = store().await else {
        return;
    };
    let windows = store.failure_windows();
    let key = |n: u8| RecordKey::bearer([n; 32]);
    let window = |expires_at| FailureWindow {
        failures: vec![1],
        locked_until: Some(expires_at),
        expires_at,
    };
    windows.put(&key(1), &window(100)).await.unwrap();
    windows.put(&key(2), &window(200)).await.unwrap();
    let (one, two, three) = (key(1), key(2), key(3));
    let pair = windows.get_pair(&two, &one, 50).await.unwrap();
    assert_eq!(pair, (Some(window(200)), Some(window(100))));
    let pair = windows.get_pair(&two, &one, 150).await.unwrap();
    assert_eq!(pair, (Some(window(200)), None), "the first one expired");
    let pair = windows.get_pair(&three, &two, 50).await.unwrap();
    assert_eq!(pair, (None, Some(window(200))));
}

/// A change made through the caller's copy of a short-lived record is kept only if the stored
/// record is still that copy; otherwise it is made on the stored record.
#[tokio::test]
async fn a_change_through_a_stale_copy_of_a_record_is_made_on_the_stored_one() {
    use crate::model::grants::FailureWindow;
    use crate::store::{Change, RecordKey, Store};
    let Some((_server, store)) = store().await else {
        return;
    };
    let windows = store.failure_windows();
    let key = RecordKey::bearer([7; 32]);
    let seen = FailureWindow {
        failures: vec![1],
        locked_until: None,
        expires_at: 100,
    };
    windows.put(&key, &seen).await.unwrap();
    let mut one_more = |window: &FailureWindow| {
        let mut window = window.clone();
        window.failures.push(window.failures.len() as u64 + 1);
        Change::Replace(window)
    };
    // Fresh: made on the copy.
    let before = windows.update_seen(&key, &seen, 50, &mut one_more).await;
    assert_eq!(before.unwrap(), Some(seen.clone()));
    // Stale now (the stored record has two failures): made on the stored one.
    windows
        .update_seen(&key, &seen, 50, &mut one_more)
        .await
        .unwrap();
    let stored = windows.get(&key, 50).await.unwrap().unwrap();
    assert_eq!(stored.failures, vec![1, 2, 3]);
    // An expired copy, and a record gone, change nothing.
    let expired = windows.update_seen(&key, &stored, 100, &mut one_more).await;
    assert_eq!(expired.unwrap(), None);
    windows.remove(&key).await.unwrap();
    let gone = windows.update_seen(&key, &stored, 50, &mut one_more).await;
    assert_eq!(gone.unwrap(), None);
    assert_eq!(windows.get(&key, 50).await.unwrap(), None);
}

/// A token family stored before families had links (no client or user beside the record) is
/// answered as one stored with them: the same family, whether its client is still registered,
/// its user.
#[tokio::test]
async fn a_family_stored_before_links_is_answered_like_one_stored_with_them() {
    use crate::model::{Client, SigningAlg};
    use crate::store::{RecordKey, Store};
    let Some((server, store)) = store().await else {
        return;
    };
    let noor = user();
    store.insert_user(&noor).await.unwrap();
    let client = Client {
        id: "app".into(),
        name: "app".into(),
        secret_hash: None,
        redirect_uris: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        signing_alg: SigningAlg::EdDSA,
        require_pkce: true,
        consent: false,
        device_flow: false,
        created_at: 1,
    };
    store.insert_client(&client).await.unwrap();
    let family = family_of(&noor, &client.id);
    let (linked, unlinked) = (RecordKey::bearer([1; 32]), RecordKey::bearer([2; 32]));
    // As an earlier version stored it, then one stored now.
    store
        .token_families()
        .put(&unlinked, &family)
        .await
        .unwrap();
    server.sql("UPDATE short_lived SET link_client = NULL, link_user = NULL");
    store.token_families().put(&linked, &family).await.unwrap();
    let answers = || async {
        let mut answers = Vec::new();
        for key in [&linked, &unlinked] {
            let grant = store.family_grant(key, 50).await.unwrap().unwrap();
            answers.push((
                grant.family,
                grant.client_registered,
                grant.user.map(|u| u.id),
            ));
        }
        answers
    };
    let both = answers().await;
    assert_eq!(both[0], (family.clone(), true, Some(noor.id)));
    assert_eq!(both[1], both[0]);

    store.delete_client("app").await.unwrap();
    let both = answers().await;
    assert_eq!(
        both[0],
        (family.clone(), false, Some(noor.id)),
        "the client is gone"
    );
    assert_eq!(both[1], both[0]);
    let expired = store.family_grant(&unlinked, 100).await.unwrap();
    assert!(expired.is_none());
}

/// An authorization code is answered with its family and user in one question, and a code
/// stored before codes had links (by the previous version, during a rolling upgrade) is
/// answered the same.
#[tokio::test]
async fn a_code_stored_before_links_is_answered_like_one_stored_with_them() {
    use crate::secrets::token_hash;
    use crate::store::{RecordKey, Store};
    let Some((server, store)) = store().await else {
        return;
    };
    let noor = user();
    store.insert_user(&noor).await.unwrap();
    let family = family_of(&noor, "app");
    let code = crate::store::swaps::checks::code(noor.id);
    let (linked, unlinked) = (RecordKey::bearer([1; 32]), RecordKey::bearer([2; 32]));
    // A grant's family and code are written in one statement.
    let family_key = RecordKey::bearer(token_hash("the family"));
    let mut grant = Writes::default();
    grant.push(Write::Put(Put::TokenFamily(family_key, family.clone())));
    grant.push(Write::Put(Put::AuthorizationCode(linked, code.clone())));
    store.write_all(grant).await.unwrap();
    let codes = store.authorization_codes();
    assert_eq!(codes.get(&linked, 50).await.unwrap().as_ref(), Some(&code));
    codes.put(&unlinked, &code).await.unwrap();
    server.sql(
        "UPDATE short_lived SET link_family = NULL, link_client = NULL, link_user = NULL \
         WHERE key = '\\x0202020202020202020202020202020202020202020202020202020202020202'",
    );
    let links = "SELECT count(*) FROM short_lived \
                 WHERE kind = 'authorization_codes' AND link_family IS NOT NULL";
    assert_eq!(
        server.sql(links),
        "1",
        "a code is stored with its links now"
    );
    for key in [&linked, &unlinked] {
        let grant = store.code_grant(key, 50).await.unwrap().unwrap();
        assert_eq!(grant.code, code);
        assert_eq!(grant.family.as_ref(), Some(&family));
        assert_eq!(grant.user.map(|u| u.id), Some(noor.id));
        assert!(
            store.code_grant(key, 60).await.unwrap().is_none(),
            "expired"
        );
    }
    // A family gone (expired, here) leaves the code to be answered without it.
    let grant = store.code_grant(&linked, 59).await.unwrap().unwrap();
    assert!(grant.family.is_some());
    server.sql("UPDATE short_lived SET expires_at = 10 WHERE kind = 'token_families'");
    for key in [&linked, &unlinked] {
        let grant = store.code_grant(key, 50).await.unwrap().unwrap();
        assert_eq!(
            (grant.family, grant.user.map(|u| u.id)),
            (None, Some(noor.id))
        );
    }
}

#[tokio::test]
async fn gathered_writes_land_in_one_statement_all_or_none() {
    use crate::model::audit::{AuditAction, AuditDoor, AuditEvent, Outcome};
    use crate::model::grants::FailureWindow;
    use crate::store::{RecordKey, Store};
    let Some((server, store)) = store().await else {
        return;
    };
    let noor = user();
    let window = FailureWindow {
        failures: vec![40],
        locked_until: None,
        expires_at: 100,
    };
    let (cleared, started) = (RecordKey::bearer([3; 32]), RecordKey::bearer([4; 32]));
    let event =
        |action| AuditEvent::new(50, "noor", action, AuditDoor::Web, "web", Outcome::Success);
    let closing = || {
        let mut writes = Writes::default();
        writes.push(Write::Audit(event(AuditAction::SecondFactorAccepted)));
        writes.push(Write::Remove(Remove::FailureWindow(cleared)));
        writes.push(Write::Audit(event(AuditAction::SignedIn)));
        writes.push(Write::Put(Put::TokenFamily(
            started,
            family_of(&noor, "app"),
        )));
        writes
    };
    let audited = "SELECT count(*) FROM audit_log";
    let before = server.sql(audited).parse::<u64>().unwrap();

    // Whether the failure window is still there, and whether the family has landed.
    let stored = || async {
        let window = store.failure_windows().get(&cleared, 50).await.unwrap();
        let family = store.token_families().get(&started, 50).await.unwrap();
        (window.is_some(), family.is_some())
    };

    // One part refused: nothing of the others lands.
    store
        .failure_windows()
        .put(&cleared, &window)
        .await
        .unwrap();
    server.sql("ALTER TABLE audit_log ADD CONSTRAINT refused CHECK (at < 0)");
    assert!(store.write_all(closing()).await.is_err());
    assert_eq!(stored().await, (true, false));

    server.sql("ALTER TABLE audit_log DROP CONSTRAINT refused");
    store.write_all(closing()).await.unwrap();
    assert_eq!(stored().await, (false, true));
    assert_eq!(server.sql(audited).parse::<u64>().unwrap(), before + 2);
    let newest = store.audit_log().newest(0, 2, &|_| true).await.unwrap();
    let actions: Vec<_> = newest.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [AuditAction::SignedIn, AuditAction::SecondFactorAccepted],
        "the events are stored in the order they were gathered"
    );
}

#[tokio::test]
async fn a_flow_is_read_with_the_user_its_step_names() {
    use crate::model::grants::{Authentication, LoginFlow, LoginStep};
    use crate::store::{RecordKey, Store};
    let Some((server, store)) = store().await else {
        return;
    };
    let noor = user();
    store.insert_user(&noor).await.unwrap();
    let flow = |step| LoginFlow {
        request: None,
        then_approve: None,
        step,
        browser: [7; 32],
        created_at: 1,
        expires_at: 100,
    };
    let at_code = flow(LoginStep::SecondFactor {
        authentication: Authentication {
            user_id: noor.id,
            auth_time: 1,
            amr: vec!["pwd".into()],
        },
        passkey_only: false,
    });
    let (named, nobody, unlinked) = (
        RecordKey::bearer([5; 32]),
        RecordKey::bearer([6; 32]),
        RecordKey::bearer([7; 32]),
    );
    let flows = store.login_flows();
    flows.put(&named, &at_code).await.unwrap();
    flows
        .put(&nobody, &flow(LoginStep::Password))
        .await
        .unwrap();
    flows.put(&unlinked, &at_code).await.unwrap();
    // As a daemon of the previous version stored it.
    server.sql(&format!(
        "UPDATE short_lived SET link_user = NULL WHERE key = '\\x{}'",
        "07".repeat(32)
    ));

    let (read, user) = store.flow_and_user(&named, 50).await.unwrap().unwrap();
    assert_eq!(read, at_code);
    assert_eq!(user.map(|u| u.id), Some(noor.id));
    let (_, user) = store.flow_and_user(&nobody, 50).await.unwrap().unwrap();
    assert!(user.is_none(), "the password step names nobody");
    let (read, user) = store.flow_and_user(&unlinked, 50).await.unwrap().unwrap();
    assert_eq!(read, at_code);
    assert!(user.is_none(), "the engine reads the user itself");
    assert!(
        store.flow_and_user(&named, 100).await.unwrap().is_none(),
        "expired"
    );
}

#[tokio::test]
async fn swaps_hold_in_order_and_events_only_after_all() {
    let Some((_server, store)) = store().await else {
        return;
    };
    crate::store::swaps::checks::swaps_hold_in_order_and_events_only_after_all(&*store).await;
}
