//! The PostgreSQL store's atomic changes under real concurrency, against a server of the
//! test's own. They run on the PostgreSQL run of the suite (`E2E_STORE=postgres`, which
//! `tests/run` sets after installing the server) and pass trivially on the other.

use super::PgStore;
use crate::config::{PostgresConfig, SecretString};
use crate::model::User;
use crate::store::StoreError;
use std::sync::Arc;

/// The store on a fresh server, or `None` outside the PostgreSQL run.
async fn store() -> Option<(postern_testkit::Postgres, Arc<PgStore>)> {
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
