//! A token core over a real (sled) store in a temporary directory, with one client and one
//! user, for the tests of the grants and of access tokens.

use super::Tokens;
use super::access::minted::AccessTokenKey;
use super::grants::{self, Grant, RefreshIssue, TokenResponse};
use super::keys::KeyRing;
use crate::audit::AuditTrail;
use crate::clock::{AdjustableClock, Clock};
use crate::metrics::Metrics;
use crate::model::grants::{Authentication, TokenFamily};
use crate::model::{Client, SigningAlg, User};
use crate::secrets::{MasterKey, token_hash};
use crate::store::{RecordKey, SharedStore};
use std::sync::Arc;

pub const SCOPES: [&str; 3] = ["openid", "profile", "offline_access"];

pub struct Grantee {
    _dir: tempfile::TempDir,
    pub tokens: Tokens,
    pub client: Client,
    pub user: User,
    /// The clock `tokens` reads, to move on.
    pub clock: Arc<AdjustableClock>,
}

pub async fn grantee() -> Grantee {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AdjustableClock::default());
    let store: SharedStore =
        Arc::new(crate::store::sled_backend::SledStore::open(dir.path()).unwrap());
    let metrics = Arc::new(Metrics::new());
    let keys = KeyRing::load(&*store, &MasterKey::for_tests(), clock.unix_now(), 600)
        .await
        .unwrap();
    let tokens = Tokens {
        store: store.clone(),
        clock: clock.clone(),
        audit: AuditTrail::new(store.clone(), metrics.clone()),
        metrics,
        keys,
        access_key: AccessTokenKey::derive(&MasterKey::for_tests()),
        issuer: openidconnect::IssuerUrl::new("http://localhost:8080".into()).unwrap(),
        lifetimes: crate::config::Config::default().tokens,
    };
    let user = User::for_tests("noor");
    store.insert_user(&user).await.unwrap();
    let client = Client {
        id: "wiki-id".into(),
        name: "wiki".into(),
        secret_hash: Some(token_hash("wiki secret")),
        redirect_uris: vec!["https://wiki.example/cb".into()],
        post_logout_redirect_uris: Vec::new(),
        signing_alg: SigningAlg::RS256,
        require_pkce: false,
        consent: false,
        device_flow: false,
        created_at: 1,
    };
    store.insert_client(&client).await.unwrap();
    Grantee {
        _dir: dir,
        tokens,
        client,
        user,
        clock,
    }
}

pub fn scopes() -> Vec<String> {
    SCOPES.iter().map(|s| s.to_string()).collect()
}

pub fn authentication(g: &Grantee) -> Authentication {
    Authentication {
        user_id: g.user.id,
        auth_time: g.tokens.clock.unix_now(),
        amr: vec!["pwd".into()],
    }
}

/// What a code exchange with `offline_access` gives: a new family and its first tokens.
pub async fn first_grant(g: &Grantee) -> (String, TokenResponse) {
    // As a sign-in reads them: a grant made after the user changed carries the change.
    let user = g.tokens.store.user(g.user.id).await.unwrap().unwrap();
    grant_for(g, &user).await
}

/// The same, for the user as the caller read them.
pub async fn grant_for(g: &Grantee, user: &User) -> (String, TokenResponse) {
    let family = grants::new_family(&g.tokens, &g.client, user)
        .await
        .unwrap();
    let scopes = scopes();
    let response = grants::issue_tokens(
        &g.tokens,
        &Grant {
            client: &g.client,
            user,
            family: &family,
            scopes: &scopes,
            refresh: RefreshIssue::First(&scopes),
            authentication: &authentication(g),
            nonce: None,
            code: None,
            family_read: None,
        },
    )
    .await
    .unwrap();
    (family, response)
}

/// A new family and its first refresh token.
pub async fn first_refresh_token(g: &Grantee) -> (String, String) {
    let (family, response) = first_grant(g).await;
    (family, response.refresh_token.expect("offline_access"))
}

pub async fn family(g: &Grantee, name: &str) -> TokenFamily {
    let now = g.tokens.clock.unix_now();
    let key = RecordKey::bearer(token_hash(name));
    g.tokens
        .store
        .token_families()
        .get(&key, now)
        .await
        .unwrap()
        .expect("the family is stored")
}

/// Changes the grantee's user in the store (ends their sessions, disables them, ...).
pub async fn change_user(g: &Grantee, change: fn(&mut User)) {
    g.tokens
        .store
        .update_user(
            g.user.id,
            Box::new(move |user| {
                change(user);
                Ok(())
            }),
        )
        .await
        .unwrap();
}
