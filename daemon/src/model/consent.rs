//! A user's consent to a third-party application: which scopes they allowed it, remembered so
//! they are not asked again for the same (or fewer).

use crate::clock::UnixSeconds;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentGrant {
    pub client_id: String,
    pub scopes: BTreeSet<String>,
    pub granted_at: UnixSeconds,
}

impl ConsentGrant {
    /// Whether this grant allows every scope of `requested`.
    pub fn covers(&self, requested: &[String]) -> bool {
        requested.iter().all(|scope| self.scopes.contains(scope))
    }
}

/// What a scope lets an application see, in words for the consent page.
pub fn describe_scope(scope: &str) -> &'static str {
    match scope {
        "openid" => "Know who you are (a stable identifier for your account)",
        "profile" => "Your name and username",
        "email" => "Your email address",
        "groups" => "Your roles",
        "offline_access" => "Stay signed in to it while you are away",
        _ => "Other access it asked for",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_covers_the_scopes_it_names_and_no_others() {
        let grant = ConsentGrant {
            client_id: "c".into(),
            scopes: ["openid", "email"].map(String::from).into(),
            granted_at: 0,
        };
        assert!(grant.covers(&["openid".into()]));
        assert!(grant.covers(&["email".into(), "openid".into()]));
        assert!(!grant.covers(&["openid".into(), "offline_access".into()]));
    }
}
