//! The OpenID Connect provider: discovery, keys, authorization, tokens, userinfo, revocation,
//! introspection and logout. Authorization code flow with PKCE only (OAuth 2.0 Security BCP).

pub mod keys;
