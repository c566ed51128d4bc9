//! The OpenID Connect endpoints: discovery, keys, authorization, tokens, userinfo, revocation,
//! introspection and logout. Authorization code flow with PKCE only (OAuth 2.0 Security BCP).
//! They sit beside the other web handlers and call the token core (`crate::tokens`) for every
//! rule about codes and tokens.

pub mod authorize;
pub mod client_auth;
mod device;
mod discovery;
pub mod error;
mod logout;
mod params;
mod revocation;
mod token;
mod userinfo;

use crate::web::Web;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;

/// The endpoints, at the paths discovery advertises.
pub fn routes() -> Router<Arc<Web>> {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::configuration),
        )
        .route("/jwks", get(discovery::jwks))
        .route("/authorize", get(authorize::get).post(authorize::post))
        .route("/token", post(token::token))
        .route("/device_authorization", post(device::authorize))
        .route(
            "/userinfo",
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route("/revoke", post(revocation::revoke))
        .route("/introspect", post(revocation::introspect))
        .route("/logout", get(logout::get).post(logout::post))
}
