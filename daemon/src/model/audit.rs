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
    /// What changed, or why it failed.
    pub detail: Option<String>,
}
