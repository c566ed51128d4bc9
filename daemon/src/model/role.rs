//! A role: what a group of users must do (MFA) and may do (API access).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    /// Holders must use a second factor; those without one enrol at their next sign-in.
    pub require_mfa: bool,
    /// Holders use Postern from programs; such a role is never required to use MFA.
    pub api_access: bool,
    /// Holders must sign in with a passkey or security key: phishing-resistant, so app and
    /// emailed codes do not satisfy it.
    #[serde(default)]
    pub require_phishing_resistant: bool,
}

impl Role {
    /// Whether this role, on its own, obliges its holders to use MFA. API access wins over
    /// `require_mfa`, as the case-management source document prescribes.
    pub fn demands_mfa(&self) -> bool {
        (self.require_mfa || self.require_phishing_resistant) && !self.api_access
    }
}

#[cfg(test)]
impl Role {
    /// A role for unit tests that requires MFA; tests change what they need with struct
    /// update syntax.
    pub fn for_tests(name: &str) -> Self {
        Self {
            name: name.into(),
            require_mfa: true,
            api_access: false,
            require_phishing_resistant: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_access_exempts_from_required_mfa() {
        let role = |require_mfa, api_access| Role {
            name: "r".into(),
            require_mfa,
            api_access,
            require_phishing_resistant: false,
        };
        assert!(role(true, false).demands_mfa());
        assert!(!role(true, true).demands_mfa());
        assert!(!role(false, false).demands_mfa());
    }
}
