//! Access tokens against a real (sled) store: minted tokens leave no record, are live while
//! their family is, and are revoked one by one or with their family; tokens stored by an
//! earlier version are still honoured.

use super::*;
use crate::model::grants::AccessToken;
use crate::secrets::{MasterKey, random_token};
use crate::tokens::testing::*;
use minted::AccessTokenKey;

async fn live(g: &Grantee, token: &str) -> Option<LiveAccess> {
    live_access_token(&g.tokens, token)
        .await
        .unwrap()
        .map(|(access, _)| access)
}

#[tokio::test]
async fn a_minted_token_is_live_for_its_lifetime_and_leaves_no_record() {
    let g = grantee().await;
    let (_, response) = first_grant(&g).await;
    let access = live(&g, &response.access_token).await.expect("live");
    assert_eq!(access.client_id, g.client.id);
    assert_eq!(access.scopes, scopes());
    assert_eq!(access.expires_at - access.issued_at, response.expires_in);
    let now = g.tokens.clock.unix_now();
    let stored = g.tokens.store.access_tokens().all(now).await.unwrap();
    assert!(stored.is_empty(), "no record per access token");
    g.clock.advance(response.expires_in);
    assert_eq!(live(&g, &response.access_token).await, None, "expired");
}

#[tokio::test]
async fn ending_the_users_sessions_ends_their_access_tokens() {
    let g = grantee().await;
    let (_, response) = first_grant(&g).await;
    change_user(&g, |user| user.session_generation += 1).await;
    assert_eq!(live(&g, &response.access_token).await, None);
    let (_, after) = first_grant(&g).await;
    assert!(
        live(&g, &after.access_token).await.is_some(),
        "a new grant is"
    );
}

/// A sign-in that read the user just before their sessions ended makes a grant that is over
/// from its start.
#[tokio::test]
async fn a_grant_for_a_user_read_before_their_sessions_ended_is_born_ended() {
    let g = grantee().await;
    let read_before = g.tokens.store.user(g.user.id).await.unwrap().unwrap();
    change_user(&g, |user| user.session_generation += 1).await;
    let (_, response) = grant_for(&g, &read_before).await;
    assert_eq!(live(&g, &response.access_token).await, None);
}

#[tokio::test]
async fn a_revoked_family_or_client_or_disabled_user_ends_its_access_tokens() {
    let g = grantee().await;
    let (family, response) = first_grant(&g).await;
    grants::revoke_family(&g.tokens, &family).await.unwrap();
    assert_eq!(
        live(&g, &response.access_token).await,
        None,
        "family revoked"
    );

    let (_, response) = first_grant(&g).await;
    g.tokens.store.delete_client(&g.client.id).await.unwrap();
    assert_eq!(live(&g, &response.access_token).await, None, "client gone");

    let g = grantee().await;
    let (_, response) = first_grant(&g).await;
    change_user(&g, |user| user.disabled = true).await;
    assert_eq!(
        live(&g, &response.access_token).await,
        None,
        "user disabled"
    );
}

#[tokio::test]
async fn an_access_token_revoked_alone_is_refused_and_its_family_goes_on() {
    let g = grantee().await;
    let (family_name, first) = first_grant(&g).await;
    let (_, second) = first_grant(&g).await;
    let other = Client {
        id: "other-id".into(),
        ..g.client.clone()
    };
    assert!(
        !revoke(&g.tokens, &other, &first.access_token)
            .await
            .unwrap()
    );
    assert!(
        live(&g, &first.access_token).await.is_some(),
        "not the other client's"
    );

    assert!(
        revoke(&g.tokens, &g.client, &first.access_token)
            .await
            .unwrap()
    );
    assert_eq!(live(&g, &first.access_token).await, None);
    assert!(
        live(&g, &second.access_token).await.is_some(),
        "another family"
    );
    let after_one = family(&g, &family_name).await;
    assert!(!after_one.revoked, "its refresh token still works");
    assert_eq!(after_one.revoked_access.len(), 1);
    // Revoking it again changes nothing.
    assert!(
        revoke(&g.tokens, &g.client, &first.access_token)
            .await
            .unwrap()
    );
    assert_eq!(family(&g, &family_name).await, after_one);
}

#[tokio::test]
async fn a_family_revoking_too_many_tokens_one_by_one_is_revoked_whole() {
    let g = grantee().await;
    let (family_name, response) = first_grant(&g).await;
    let key = &g.tokens.access_key;
    let claims = key.open(&response.access_token).unwrap();
    for _ in 0..MAX_REVOKED_ONE_BY_ONE {
        assert!(
            revoke(&g.tokens, &g.client, &key.mint(&claims))
                .await
                .unwrap()
        );
    }
    assert!(!family(&g, &family_name).await.revoked);
    assert!(
        revoke(&g.tokens, &g.client, &key.mint(&claims))
            .await
            .unwrap()
    );
    let family = family(&g, &family_name).await;
    assert!(family.revoked && family.revoked_access.is_empty());
    assert_eq!(live(&g, &response.access_token).await, None);
}

#[tokio::test]
async fn a_forged_or_foreign_token_is_refused_and_revokes_nothing() {
    let g = grantee().await;
    let (family_name, response) = first_grant(&g).await;
    let claims = g.tokens.access_key.open(&response.access_token).unwrap();
    let another_site = tempfile::tempdir().unwrap();
    let another_key = MasterKey::load_or_create(&another_site.path().join("master.key")).unwrap();
    let forger = AccessTokenKey::derive(&another_key);
    let forged = forger.mint(&claims);
    assert_eq!(live(&g, &forged).await, None);
    assert!(!revoke(&g.tokens, &g.client, &forged).await.unwrap());
    for garbage in [
        "",
        ".",
        "a.b",
        &format!("{family_name}.x"),
        &"x".repeat(5000),
    ] {
        assert_eq!(live(&g, garbage).await, None, "{garbage:.20}");
    }
    assert!(family(&g, &family_name).await.revoked_access.is_empty());
}

#[tokio::test]
async fn a_token_stored_by_an_earlier_version_is_live_until_it_expires_and_revocable() {
    let g = grantee().await;
    let (family_name, _) = first_grant(&g).await;
    let now = g.tokens.clock.unix_now();
    let store_one = || async {
        let token = random_token();
        let record = AccessToken {
            family: family_name.clone(),
            client_id: g.client.id.clone(),
            user_id: g.user.id,
            scopes: scopes(),
            issued_at: now,
            expires_at: now + 600,
        };
        let key = RecordKey::bearer(token_hash(&token));
        g.tokens
            .store
            .access_tokens()
            .put(&key, &record)
            .await
            .unwrap();
        token
    };
    let kept = store_one().await;
    let revoked = store_one().await;

    assert_eq!(live(&g, &kept).await.unwrap().scopes, scopes());
    assert!(revoke(&g.tokens, &g.client, &revoked).await.unwrap());
    assert_eq!(live(&g, &revoked).await, None);
    assert!(live(&g, &kept).await.is_some());
    g.clock.advance(600);
    assert_eq!(live(&g, &kept).await, None, "expired");
}
