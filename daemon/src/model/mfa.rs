//! A user's second factor, and the rule that decides whether they must have one.

use super::{MfaMethod, Role, SiteSettings};
use crate::clock::UnixSeconds;
use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaEnrolment {
    pub method: MfaMethod,
    /// The authenticator app's seed; `None` with method TOTP means an administrator switched
    /// the user to TOTP and they must enrol an app at their next sign-in.
    pub totp: Option<TotpSeed>,
    /// Keyed hashes of the unused recovery codes.
    #[serde(with = "super::stored_bytes::vec_of_fixed")]
    pub recovery_codes: Vec<[u8; 32]>,
    pub enrolled_at: UnixSeconds,
    /// Passkeys and security keys, beside the method (or as it, with method `webauthn`).
    #[serde(default)]
    pub passkeys: Vec<super::passkey::PasskeyCredential>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpSeed {
    /// Sealed with the master key, bound to the user's id.
    #[serde(with = "super::stored_bytes::vec")]
    pub sealed: Vec<u8>,
    /// The last step a code was accepted for: no code for it or an earlier step is accepted.
    pub last_step: Option<u64>,
}

impl std::fmt::Debug for MfaEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaEnrolment")
            .field("method", &self.method)
            .field("totp_enrolled", &self.totp.is_some())
            .field("recovery_codes_left", &self.recovery_codes.len())
            .field("passkeys", &self.passkeys.len())
            .finish_non_exhaustive()
    }
}

impl MfaEnrolment {
    /// Whether this enrolment can be used to sign in now: its method is complete and the
    /// site still offers it.
    pub fn is_usable(&self, settings: &SiteSettings) -> bool {
        let complete = match self.method {
            MfaMethod::Totp => self.totp.is_some(),
            MfaMethod::Email => true,
            MfaMethod::Webauthn => !self.passkeys.is_empty(),
        };
        (complete && settings.mfa_methods.contains(&self.method))
            || !self.usable_passkeys(settings).is_empty()
    }

    /// Whether the enrolment's own method (an app, emailed codes) can be used now, passkeys
    /// aside.
    pub fn code_method_usable(&self, settings: &SiteSettings) -> bool {
        let complete = match self.method {
            MfaMethod::Totp => self.totp.is_some(),
            MfaMethod::Email => true,
            MfaMethod::Webauthn => false,
        };
        complete && settings.mfa_methods.contains(&self.method)
    }

    /// The passkeys that may sign in now: none while the site does not offer them.
    pub fn usable_passkeys(&self, settings: &SiteSettings) -> &[super::passkey::PasskeyCredential] {
        if settings.mfa_methods.contains(&MfaMethod::Webauthn) {
            &self.passkeys
        } else {
            &[]
        }
    }
}

/// Whether a user holding `roles` must use a second factor: some role requires it and none
/// grants API access (the case-management source: "Users whose role has the API Access
/// permission will not be required to implement MFA").
pub fn mfa_required(roles: &[Role]) -> bool {
    roles
        .iter()
        .any(|r| r.require_mfa || r.require_phishing_resistant)
        && !roles.iter().any(|r| r.api_access)
}

/// Whether a user holding `roles` must sign in with a passkey (the same API-access exemption).
pub fn phishing_resistant_required(roles: &[Role]) -> bool {
    roles.iter().any(|r| r.require_phishing_resistant) && !roles.iter().any(|r| r.api_access)
}

/// The seal context of a user's TOTP seed.
pub fn totp_seal_context(user_id: &super::UserId) -> String {
    format!("totp-seed:{user_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(require_mfa: bool, api_access: bool) -> Role {
        Role {
            name: "r".into(),
            require_mfa,
            api_access,
            require_phishing_resistant: false,
        }
    }

    #[test]
    fn a_required_role_requires_mfa_unless_another_grants_api_access() {
        assert!(mfa_required(&[role(true, false)]));
        assert!(mfa_required(&[role(true, false), role(false, false)]));
        assert!(!mfa_required(&[role(true, false), role(false, true)]));
        assert!(!mfa_required(&[role(true, true)]));
        assert!(!mfa_required(&[]));
    }

    #[test]
    fn an_enrolment_is_usable_only_when_complete_and_offered() {
        let mut settings = SiteSettings::default();
        let mut enrolment = MfaEnrolment {
            method: MfaMethod::Totp,
            totp: None,
            recovery_codes: Vec::new(),
            enrolled_at: 0,
            passkeys: Vec::new(),
        };
        assert!(!enrolment.is_usable(&settings));
        enrolment.totp = Some(TotpSeed {
            sealed: vec![1],
            last_step: None,
        });
        assert!(enrolment.is_usable(&settings));
        settings.set("mfa.methods", "email").unwrap();
        assert!(!enrolment.is_usable(&settings));
    }
}
