//! Messages of the admin socket: one request frame, one response frame.
//!
//! Times are Unix seconds (UTC); the CLI formats them. Views carry only what an administrator
//! may see: never a password hash or other secret.

use crate::{ProtoError, Secret};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum AdminRequest {
    Status,
    UserAdd(NewUser),
    /// Creates a user without a password and mails them an invitation to choose one.
    UserInvite(Invitation),
    /// Mails an open invitation again (the last code stops working), or withdraws it
    /// (`revoke`: the user, who never arrived, is deleted).
    UserReinvite {
        username: String,
        revoke: bool,
    },
    /// One page of users, in username order.
    UserList(PageRequest),
    UserShow {
        username: String,
    },
    UserSetPassword {
        username: String,
        password: Secret,
    },
    UserSetDisabled {
        username: String,
        disabled: bool,
    },
    /// Changes a user's email address. A new address is unverified unless `verified` says the
    /// administrator checked it; the same address with `verified` marks it verified.
    UserSetEmail {
        username: String,
        email: String,
        verified: bool,
    },
    UserDelete {
        username: String,
    },
    /// Lifts a brute-force lock before it runs out.
    UserUnlock {
        username: String,
    },
    UserAddRole {
        username: String,
        role: String,
    },
    UserRemoveRole {
        username: String,
        role: String,
    },
    /// Removes one of a user's passkeys (a lost security key), by its credential id. Allowed
    /// even for the last second factor, like `MfaReset`: the user enrols again if required.
    UserRemovePasskey {
        username: String,
        passkey: String,
    },
    RoleAdd(RoleSpec),
    RoleSet {
        name: String,
        require_mfa: Option<bool>,
        api_access: Option<bool>,
        /// Holders must sign in with a passkey (codes do not do).
        #[serde(default)]
        require_phishing_resistant: Option<bool>,
    },
    RoleList,
    RoleDelete {
        name: String,
    },
    SiteShow,
    SiteSet {
        key: String,
        value: String,
    },
    Audit(AuditQuery),
    ClientAdd(ClientSpec),
    ClientList,
    ClientShow {
        name: String,
    },
    /// Changes a client's settings; `None` leaves one as it is.
    ClientSet {
        name: String,
        require_pkce: Option<bool>,
        consent: Option<bool>,
        #[serde(default)]
        device_flow: Option<bool>,
    },
    ClientRotateSecret {
        name: String,
    },
    ClientDelete {
        name: String,
    },
    KeysList,
    KeysRotate,
    /// The lost-phone path: turns the user's MFA off, forgets their recovery codes; they enrol
    /// again at next sign-in (forced if a role requires it).
    MfaReset {
        username: String,
    },
    /// Changes the user's method; switching to TOTP makes them enrol an app at next sign-in.
    MfaSetMethod {
        username: String,
        method: String,
    },
    /// One page of users with their MFA state (the same page as `UserList`).
    MfaReport(PageRequest),
    /// The sent-mail log, newest first.
    MailLog {
        /// Only mail to this user.
        username: Option<String>,
        /// Only mail whose subject contains this text (without regard to case).
        subject: Option<String>,
        limit: Option<u32>,
    },
    /// Moves the daemon's clock forward; refused unless `testing.adjustable_clock` is on.
    AdvanceClock {
        seconds: u64,
    },
    /// A consistent copy of the store. Answered with [`AdminReply::BackupFollows`], after which
    /// the backup's bytes come raw on the connection (a backup can be larger than a frame).
    Backup,
}

/// Where a page of a long list starts, and how long it may be. A reply frame is at most
/// 64 MiB, and a million users are more than that, so long lists come a page at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PageRequest {
    /// The `next` of the page before; `None` for the first page.
    pub after: Option<String>,
    /// At most this many items ([`PAGE_DEFAULT`] when `None`, at most [`PAGE_MAX`]).
    pub limit: Option<u32>,
}

pub const PAGE_DEFAULT: u32 = 1_000;
pub const PAGE_MAX: u32 = 10_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientSpec {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (a browser or native app) has no secret and relies on PKCE alone.
    pub public: bool,
    /// "RS256", "EdDSA" or "ES256"; `None` means RS256.
    pub signing_alg: Option<String>,
    /// Whether a confidential client must send PKCE (public clients always must).
    #[serde(default)]
    pub require_pkce: bool,
    /// A third-party client: users are asked to allow what it asks for.
    #[serde(default)]
    pub consent: bool,
    /// May sign users in with the device authorization grant (RFC 8628).
    #[serde(default)]
    pub device_flow: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub display_name: Option<String>,
    pub roles: Vec<String>,
    pub password: Secret,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invitation {
    pub username: String,
    pub email: String,
    pub display_name: Option<String>,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleSpec {
    pub name: String,
    pub require_mfa: bool,
    pub api_access: bool,
    #[serde(default)]
    pub require_phishing_resistant: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuditQuery {
    /// Only events about this user (as actor or subject).
    pub username: Option<String>,
    /// Only events at or after this time (Unix seconds).
    pub since: Option<u64>,
    /// At most this many events, newest first.
    pub limit: Option<u32>,
}

// One response per admin request, made and sent at once: boxing the reply would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "body", rename_all = "snake_case")]
pub enum AdminResponse {
    Ok(AdminReply),
    Err(ProtoError),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", content = "data", rename_all = "snake_case")]
pub enum AdminReply {
    Status(StatusView),
    User(UserView),
    /// A page of users; `next` is where the following page starts, `None` after the last.
    Users {
        users: Vec<UserView>,
        next: Option<String>,
    },
    Role(RoleView),
    Roles(Vec<RoleView>),
    Site(Vec<SiteSettingView>),
    Audit(Vec<AuditView>),
    Client(ClientView),
    Clients(Vec<ClientView>),
    /// A client with its new secret, shown this once (confidential clients only).
    ClientSecret {
        client: ClientView,
        client_secret: Option<Secret>,
    },
    Keys(Vec<KeyView>),
    Mail(Vec<MailView>),
    Done {
        message: String,
    },
    /// `bytes` bytes of backup follow this frame on the connection.
    BackupFollows(BackupInfo),
}

/// What a backup holds, sent before its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupInfo {
    pub bytes: u64,
    pub records: u64,
    pub store_format: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub signing_alg: String,
    /// Whether authorization requests must carry a PKCE challenge (always for public clients).
    #[serde(default)]
    pub require_pkce: bool,
    /// Whether users are asked to allow what it asks for.
    #[serde(default)]
    pub consent: bool,
    /// Whether it may use the device authorization grant (RFC 8628).
    #[serde(default)]
    pub device_flow: bool,
    pub created_at: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MailView {
    pub at: u64,
    pub to: String,
    pub username: String,
    pub subject: String,
    /// "sent" or "failed".
    pub status: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyView {
    pub kid: String,
    pub alg: String,
    pub created_at: u64,
    /// When the key stopped signing; it stays published until its tokens have expired.
    pub retired_at: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusView {
    pub version: String,
    pub pid: u32,
    pub started_at: u64,
    pub uptime_seconds: u64,
    /// The daemon's clock now (Unix seconds), to compare with other machines'.
    pub clock: u64,
    pub state_dir: String,
    pub http_listen: String,
    /// Where `/metrics` is served; `None` when metrics are off.
    pub metrics_listen: Option<String>,
    pub users: u64,
    pub roles: u64,
    pub audit_events: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub email: String,
    /// Whether the user proved the address (typed a code mailed to it) or an administrator
    /// said so.
    #[serde(default)]
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub roles: Vec<String>,
    pub disabled: bool,
    pub created_at: u64,
    pub last_login_at: Option<u64>,
    /// Invited and not arrived yet: when the invitation was (last) sent.
    #[serde(default)]
    pub invited_at: Option<u64>,
    /// Set while brute-force limits lock the account.
    pub locked_until: Option<u64>,
    pub mfa: MfaView,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfaView {
    /// Whether the user has a usable second factor.
    pub enabled: bool,
    /// "totp" or "email", when a method is set (even one still to enrol).
    pub method: Option<String>,
    /// Whether a role of theirs requires MFA.
    pub required: bool,
    pub recovery_codes_left: u32,
    /// Passkeys and security keys, oldest first.
    #[serde(default)]
    pub passkeys: Vec<PasskeyView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasskeyView {
    /// The credential id (base64url), which `UserRemovePasskey` takes.
    pub id: String,
    pub name: String,
    pub created_at: u64,
    pub last_used_at: Option<u64>,
    /// The authenticator's model id, when it gave one.
    pub aaguid: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleView {
    pub name: String,
    pub require_mfa: bool,
    pub api_access: bool,
    #[serde(default)]
    pub require_phishing_resistant: bool,
    pub members: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SiteSettingView {
    pub key: String,
    pub value: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditView {
    pub at: u64,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub source: String,
    pub outcome: String,
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_snake_case_json_and_hide_passwords_in_debug() {
        let request = AdminRequest::UserSetPassword {
            username: "alice".into(),
            password: Secret::new("correct horse"),
        };
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(json["request"], "user_set_password");
        assert_eq!(json["password"], "correct horse");
        assert!(!format!("{request:?}").contains("correct horse"));
    }

    #[test]
    fn an_unknown_request_does_not_parse() {
        let parsed = serde_json::from_str::<AdminRequest>(r#"{"request":"drop_database"}"#);
        assert!(parsed.is_err());
    }
}
