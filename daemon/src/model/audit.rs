//! Audit trail records: who did what to whom, when, from where, and how it ended. Details
//! never hold a password, code or secret. Recording them is `crate::audit`'s job.

use crate::clock::UnixSeconds;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    DaemonStarted,
    DaemonStopped,
    AdminAccessDenied,
    UserCreated,
    UserDeleted,
    UserDisabled,
    EmailChanged,
    UserEnabled,
    PasswordChanged,
    RoleGranted,
    RoleRevoked,
    RoleCreated,
    RoleChanged,
    RoleDeleted,
    SiteSettingChanged,
    ClientCreated,
    ClientSecretRotated,
    ClientChanged,
    ClientDeleted,
    KeysRotated,
    ClockAdvanced,
    PasswordAccepted,
    SignedIn,
    SignInFailed,
    AccountLocked,
    AddressLocked,
    SignedOut,
    TokensIssued,
    /// No longer recorded (refreshes are counted in the metrics); kept so that older trails
    /// still read.
    TokensRefreshed,
    TokenRevoked,
    ConsentGranted,
    ConsentRevoked,
    CodeReused,
    RefreshTokenReused,
    UserUnlocked,
    SecondFactorAccepted,
    SecondFactorFailed,
    MfaEnrolled,
    MfaReset,
    MfaMethodChanged,
    RememberedDeviceUsed,
    RememberedDeviceForgotten,
    MfaDisabled,
    RecoveryCodesRenewed,
    BackupTaken,
    PasskeyAdded,
    PasskeyRemoved,
    ApprovalGranted,
    ApprovalDenied,
    UserInvited,
    InvitationAccepted,
    InvitationRefused,
    PasswordResetRequested,
    PasswordReset,
    PasswordResetRefused,
    /// The user ended their other sessions and refresh tokens from the account page.
    SignedOutElsewhere,
    /// A sign-in completed from a browser the user had not signed in with before.
    NewBrowserSignIn,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DaemonStarted => "daemon_started",
            Self::DaemonStopped => "daemon_stopped",
            Self::AdminAccessDenied => "admin_access_denied",
            Self::UserCreated => "user_created",
            Self::EmailChanged => "email_changed",
            Self::UserDeleted => "user_deleted",
            Self::UserDisabled => "user_disabled",
            Self::UserEnabled => "user_enabled",
            Self::PasswordChanged => "password_changed",
            Self::RoleGranted => "role_granted",
            Self::RoleRevoked => "role_revoked",
            Self::RoleCreated => "role_created",
            Self::RoleChanged => "role_changed",
            Self::RoleDeleted => "role_deleted",
            Self::SiteSettingChanged => "site_setting_changed",
            Self::ClientCreated => "client_created",
            Self::ClientSecretRotated => "client_secret_rotated",
            Self::ClientChanged => "client_changed",
            Self::ClientDeleted => "client_deleted",
            Self::KeysRotated => "keys_rotated",
            Self::ClockAdvanced => "clock_advanced",
            Self::PasswordAccepted => "password_accepted",
            Self::SignedIn => "signed_in",
            Self::SignInFailed => "sign_in_failed",
            Self::AccountLocked => "account_locked",
            Self::AddressLocked => "address_locked",
            Self::SignedOut => "signed_out",
            Self::TokensIssued => "tokens_issued",
            Self::TokensRefreshed => "tokens_refreshed",
            Self::TokenRevoked => "token_revoked",
            Self::ConsentGranted => "consent_granted",
            Self::ConsentRevoked => "consent_revoked",
            Self::CodeReused => "code_reused",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::UserUnlocked => "user_unlocked",
            Self::SecondFactorAccepted => "second_factor_accepted",
            Self::SecondFactorFailed => "second_factor_failed",
            Self::MfaEnrolled => "mfa_enrolled",
            Self::MfaReset => "mfa_reset",
            Self::MfaMethodChanged => "mfa_method_changed",
            Self::RememberedDeviceUsed => "remembered_device_used",
            Self::RememberedDeviceForgotten => "remembered_device_forgotten",
            Self::MfaDisabled => "mfa_disabled",
            Self::RecoveryCodesRenewed => "recovery_codes_renewed",
            Self::BackupTaken => "backup_taken",
            Self::PasskeyAdded => "passkey_added",
            Self::PasskeyRemoved => "passkey_removed",
            Self::ApprovalGranted => "approval_granted",
            Self::ApprovalDenied => "approval_denied",
            Self::UserInvited => "user_invited",
            Self::InvitationAccepted => "invitation_accepted",
            Self::InvitationRefused => "invitation_refused",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordReset => "password_reset",
            Self::PasswordResetRefused => "password_reset_refused",
            Self::SignedOutElsewhere => "signed_out_elsewhere",
            Self::NewBrowserSignIn => "new_browser_sign_in",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: UnixSeconds,
    /// Who acted: "admin root (uid 0)", a username, or "posternd".
    pub actor: String,
    pub action: AuditAction,
    /// The username or role acted upon, if any.
    pub subject: Option<String>,
    /// Where the request came from: "admin socket", an IP address, a PAM service and host.
    pub source: String,
    pub outcome: Outcome,
    /// What changed, or why it failed, for people: metrics never read it.
    pub detail: Option<String>,
    /// The door it came through. Events stored before this field read as `daemon`.
    #[serde(default)]
    pub door: AuditDoor,
    /// The factor it is about: the one checked, enrolled or used in place of a code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<Factor>,
    /// For `signed_in`: how the user proved who they are (RFC 8176 `amr` values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// A refusal because the account or the address was locked by the brute-force limits.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub throttled: bool,
}

impl AuditEvent {
    /// An event with the typed facts left empty, to be filled in with the setters below.
    pub fn new(
        at: UnixSeconds,
        actor: impl Into<String>,
        action: AuditAction,
        door: AuditDoor,
        source: impl Into<String>,
        outcome: Outcome,
    ) -> Self {
        Self {
            at,
            actor: actor.into(),
            action,
            subject: None,
            source: source.into(),
            outcome,
            detail: None,
            door,
            factor: None,
            amr: Vec::new(),
            throttled: false,
        }
    }

    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn maybe_detail(mut self, detail: Option<String>) -> Self {
        self.detail = detail;
        self
    }

    pub fn factor(mut self, factor: Factor) -> Self {
        self.factor = Some(factor);
        self
    }

    pub fn amr(mut self, amr: &[String]) -> Self {
        self.amr = amr.to_vec();
        self
    }

    pub fn throttled(mut self, throttled: bool) -> Self {
        self.throttled = throttled;
        self
    }
}

/// Which door an event came through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditDoor {
    /// The sign-in and account pages.
    Web,
    /// The OIDC endpoints a relying party calls (token, revocation, logout).
    Oidc,
    Pam,
    Admin,
    /// The daemon itself: start, stop, background work.
    #[default]
    Daemon,
}

impl AuditDoor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Oidc => "oidc",
            Self::Pam => "pam",
            Self::Admin => "admin",
            Self::Daemon => "daemon",
        }
    }
}

/// A way of proving who one is, as the audit trail and the metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    Password,
    Totp,
    EmailCode,
    RecoveryCode,
    RememberedDevice,
    RememberedHost,
    Passkey,
}

impl Factor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Totp => "totp",
            Self::EmailCode => "email",
            Self::RecoveryCode => "recovery",
            Self::RememberedDevice => "remembered_device",
            Self::RememberedHost => "remembered_host",
            Self::Passkey => "passkey",
        }
    }
}
