//! The refresh grant against a real (sled) store: rotation in place, reuse, and tokens stored
//! one by one by an earlier version.

use super::*;
use crate::tokens::testing::*;

async fn exchange(g: &Grantee, token: &str) -> Result<TokenResponse, ExchangeError> {
    refresh(
        &g.tokens,
        &RefreshExchange {
            client: &g.client,
            refresh_token: token,
            scopes: None,
            source: "test",
        },
    )
    .await
}

#[tokio::test]
async fn rotation_replaces_the_live_token_and_keeps_one_record_per_family() {
    let g = grantee().await;
    let (name, mut token) = first_refresh_token(&g).await;
    for _ in 0..5 {
        let response = exchange(&g, &token)
            .await
            .expect("the live token refreshes");
        let next = response.refresh_token.expect("rotated");
        assert_eq!(family_of(&next), Some(name.as_str()));
        assert_ne!(next, token);
        token = next;
    }
    let now = g.tokens.clock.unix_now();
    assert_eq!(
        g.tokens
            .store
            .token_families()
            .all(now)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        g.tokens
            .store
            .refresh_tokens()
            .all(now)
            .await
            .unwrap()
            .is_empty(),
        "no token is stored on its own"
    );
    let stored = family(&g, &name).await;
    assert_eq!(stored.refresh.unwrap().hash, token_hash(&token));
}

#[tokio::test]
async fn a_spent_token_revokes_the_family_and_its_live_token() {
    let g = grantee().await;
    let (name, spent) = first_refresh_token(&g).await;
    let live = exchange(&g, &spent).await.unwrap().refresh_token.unwrap();
    let replay = exchange(&g, &spent).await.unwrap_err();
    assert!(replay.to_string().contains("already used"), "{replay}");
    assert!(family(&g, &name).await.revoked);
    let after = exchange(&g, &live).await.unwrap_err();
    assert!(after.to_string().contains("invalid"), "{after}");
    // A forged secret in a family's name is refused too (and the family stays revoked).
    let forged = exchange(&g, &format!("{name}.forged")).await.unwrap_err();
    assert!(matches!(forged, ExchangeError::InvalidGrant(_)), "{forged}");
}

#[tokio::test]
async fn another_clients_request_or_a_wider_scope_spends_nothing() {
    let g = grantee().await;
    let (name, token) = first_refresh_token(&g).await;
    let other = Client {
        id: "other-id".into(),
        ..g.client.clone()
    };
    let wrong_client = refresh(
        &g.tokens,
        &RefreshExchange {
            client: &other,
            refresh_token: &format!("{name}.guess"),
            scopes: None,
            source: "test",
        },
    )
    .await
    .unwrap_err();
    assert!(wrong_client.to_string().contains("another client"));
    let wider = refresh(
        &g.tokens,
        &RefreshExchange {
            client: &g.client,
            refresh_token: &token,
            scopes: Some(vec!["openid".into(), "email".into()]),
            source: "test",
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(wider, ExchangeError::InvalidScope(_)), "{wider}");
    assert!(!family(&g, &name).await.revoked);
    exchange(&g, &token).await.expect("still the live token");
}

#[tokio::test]
async fn an_unknown_family_or_a_malformed_token_is_refused_without_side_effects() {
    let g = grantee().await;
    for token in ["", ".", "nofamily.secret", "a.b.c", &"x".repeat(4096)] {
        let error = exchange(&g, token).await.unwrap_err();
        assert!(
            error.to_string().contains("invalid or has expired"),
            "{token:?}: {error}"
        );
    }
}

#[tokio::test]
async fn a_token_stored_by_an_earlier_version_is_honoured_once_then_held_by_its_family() {
    let g = grantee().await;
    let name = grants::new_family(&g.tokens, &g.client, &g.user)
        .await
        .unwrap();
    let legacy = random_token();
    let now = g.tokens.clock.unix_now();
    g.tokens
        .store
        .refresh_tokens()
        .put(
            &RecordKey::bearer(token_hash(&legacy)),
            &RefreshToken {
                family: name.clone(),
                client_id: g.client.id.clone(),
                scopes: scopes(),
                authentication: authentication(&g),
                used: false,
                expires_at: now + 3600,
            },
        )
        .await
        .unwrap();
    let next = exchange(&g, &legacy).await.unwrap().refresh_token.unwrap();
    assert_eq!(family_of(&next), Some(name.as_str()), "now family-held");
    let next = exchange(&g, &next).await.unwrap().refresh_token.unwrap();
    let replay = exchange(&g, &legacy).await.unwrap_err();
    assert!(replay.to_string().contains("already used"), "{replay}");
    assert!(exchange(&g, &next).await.is_err(), "the family is revoked");
}

#[tokio::test]
async fn ending_the_users_sessions_ends_the_family() {
    let g = grantee().await;
    let (_, token) = first_refresh_token(&g).await;
    change_user(&g, |user| user.session_generation += 1).await;
    let error = exchange(&g, &token).await.unwrap_err();
    assert!(error.to_string().contains("sessions were ended"), "{error}");
}

#[test]
fn a_family_held_token_names_its_family_and_an_older_one_does_not() {
    let token = new_token("family-name");
    assert_eq!(family_of(&token), Some("family-name"));
    assert_ne!(new_token("family-name"), token, "the secret is random");
    assert_eq!(family_of(&random_token()), None, "stored one by one");
    assert_eq!(family_of(".secret"), None);
}
