//! Short-lived records of a sign-in and what it granted: login flows, browser sessions,
//! authorization codes, access and refresh tokens, and the token families that tie a code to
//! everything issued from it. Each expires; the sweeper removes expired ones.
//!
//! Every record is stored under the SHA-256 of its bearer value (the cookie, the code, the
//! token), never the value itself.

use super::{SigningAlg, UserId};
use crate::clock::UnixSeconds;
use serde::{Deserialize, Serialize};

/// Anything with an expiry time, so the sweeper can remove it.
pub trait Expiring {
    fn expires_at(&self) -> UnixSeconds;
}

/// A validated OIDC authorization request, kept while the user signs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// PKCE S256 challenge; `None` when a confidential client that does not require PKCE sent
    /// none (then the code exchange must carry no verifier either).
    pub code_challenge: Option<String>,
    pub max_age: Option<u64>,
    /// `prompt=login`: authenticate afresh even with a session.
    pub force_login: bool,
    /// `prompt=consent`: a third-party client's user is asked again even with a grant.
    #[serde(default)]
    pub prompt_consent: bool,
    /// `prompt=none`: nothing may be shown; what would need a page is an error instead.
    #[serde(default)]
    pub prompt_none: bool,
    pub acr_values: Vec<String>,
    pub login_hint: Option<String>,
}

/// Where a sign-in stands. The web pages and (later) the PAM door render these same steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoginStep {
    /// Waiting for username and password.
    Password,
    /// "Email me a code": waiting for the code mailed to the account `username` names, if it
    /// names one that may sign in (`user_id`); the step looks the same either way.
    EmailedCode {
        username: String,
        user_id: Option<super::UserId>,
    },
    /// An emailed code was the first factor, and it cannot be the second too: the user's
    /// second factor is email, or they have none and must have one. Waiting for the password.
    PasswordAfterCode { authentication: Authentication },
    /// Password accepted; waiting for the second factor (or a recovery code).
    SecondFactor {
        authentication: Authentication,
        /// Only a passkey will do (a role or the relying party asked for one).
        #[serde(default)]
        passkey_only: bool,
    },
    /// Password accepted; the user must enrol an authenticator app before going on. The seed
    /// offered is sealed with the master key.
    EnrolTotp {
        authentication: Authentication,
        #[serde(with = "super::stored_bytes::vec")]
        sealed_seed: Vec<u8>,
    },
    /// Password accepted; the user is enrolling email codes and was sent one to type.
    EnrolEmail { authentication: Authentication },
    /// Password accepted; the user must add a passkey before going on (then signs in with it).
    EnrolPasskey { authentication: Authentication },
    /// Password accepted; waiting for the user to approve this login with a passkey on the
    /// approval page (a PAM login; never stored). `user_code` is shown to the user.
    AwaitingApproval {
        authentication: Authentication,
        user_code: String,
        device_code: String,
    },
    /// Enrolled just now and shown the recovery codes; continuing finishes the sign-in.
    Enrolled { authentication: Authentication },
    /// Signed in; a third-party client asks for scopes the user has not allowed it yet.
    Consent { authentication: Authentication },
}

impl LoginStep {
    /// The user this step is about, once a first factor (or an emailed code) named them.
    pub fn user_id(&self) -> Option<super::UserId> {
        match self {
            LoginStep::Password => None,
            LoginStep::EmailedCode { user_id, .. } => *user_id,
            LoginStep::PasswordAfterCode { authentication }
            | LoginStep::SecondFactor { authentication, .. }
            | LoginStep::EnrolTotp { authentication, .. }
            | LoginStep::EnrolEmail { authentication }
            | LoginStep::EnrolPasskey { authentication }
            | LoginStep::AwaitingApproval { authentication, .. }
            | LoginStep::Enrolled { authentication }
            | LoginStep::Consent { authentication } => Some(authentication.user_id),
        }
    }
}

/// A sign-in in progress, bound to one browser by the `postern_flow` cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginFlow {
    /// The OIDC request to answer when sign-in completes; `None` for Postern's own pages.
    pub request: Option<AuthorizationRequest>,
    /// Without a request: the user code of an approval to show when sign-in completes (a
    /// client waiting on the approval page), instead of the account page.
    #[serde(default)]
    pub then_approve: Option<String>,
    pub step: LoginStep,
    /// The browser the flow belongs to (hash of its CSRF cookie).
    #[serde(with = "super::stored_bytes::fixed")]
    pub browser: [u8; 32],
    pub created_at: UnixSeconds,
    pub expires_at: UnixSeconds,
}

/// How a user proved who they are, for `amr`, `acr` and `auth_time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authentication {
    pub user_id: UserId,
    pub auth_time: UnixSeconds,
    /// RFC 8176 values: "pwd", "otp", "mfa".
    pub amr: Vec<String>,
}

impl Authentication {
    /// With a second factor done now: RFC 8176 `otp` and `mfa` join `pwd`.
    pub fn with_second_factor(mut self, at: UnixSeconds) -> Self {
        for method in ["otp", "mfa"] {
            if !self.amr.iter().any(|m| m == method) {
                self.amr.push(method.into());
            }
        }
        self.auth_time = at;
        self
    }

    /// Whether a second factor (or a passkey, which is two) was part of this authentication.
    pub fn has_mfa(&self) -> bool {
        self.amr.iter().any(|m| m == "mfa")
    }

    /// Whether it was made with a passkey or security key (RFC 8176 `hwk` or `swk`), which a
    /// look-alike site cannot relay.
    pub fn is_phishing_resistant(&self) -> bool {
        self.has_mfa() && self.amr.iter().any(|m| m == "hwk" || m == "swk")
    }

    /// `acr`: the strongest level this authentication reached.
    pub fn acr(&self) -> &'static str {
        if self.is_phishing_resistant() {
            ACR_PHISHING_RESISTANT
        } else if self.has_mfa() {
            ACR_MFA
        } else {
            ACR_PASSWORD
        }
    }

    /// Whether this authentication is as strong as `request` asked (`acr_values`).
    pub fn satisfies(&self, request: &AuthorizationRequest) -> bool {
        (!request.wants_mfa() || self.has_mfa())
            && (!request.wants_phishing_resistant() || self.is_phishing_resistant())
    }
}

impl AuthorizationRequest {
    /// A plain request for unit tests: `openid` for `client_id`, nothing demanded; tests set
    /// what they need with struct update syntax.
    pub fn for_tests(client_id: &str) -> Self {
        Self {
            client_id: client_id.into(),
            redirect_uri: "http://localhost/cb".into(),
            scopes: vec!["openid".into()],
            state: None,
            nonce: None,
            code_challenge: None,
            max_age: None,
            force_login: false,
            prompt_consent: false,
            prompt_none: false,
            acr_values: Vec::new(),
            login_hint: None,
        }
    }

    /// Whether the relying party asked for multi-factor authentication (`acr_values`); a
    /// passkey is asked for with it.
    pub fn wants_mfa(&self) -> bool {
        self.acr_values
            .iter()
            .any(|v| v == ACR_MFA || v == ACR_PHISHING_RESISTANT)
    }

    /// Whether the relying party asked for a passkey (`acr_values=postern:phr`).
    pub fn wants_phishing_resistant(&self) -> bool {
        self.acr_values.iter().any(|v| v == ACR_PHISHING_RESISTANT)
    }
}

/// ACR values Postern issues and understands in `acr_values`.
pub const ACR_PASSWORD: &str = "postern:pwd";
pub const ACR_MFA: &str = "postern:mfa";
/// A passkey or security key: multi-factor and phishing-resistant.
pub const ACR_PHISHING_RESISTANT: &str = "postern:phr";

/// A browser that passed the second factor for a user: for the site's remember window after
/// its last successful sign-in, the second factor is not asked again there. Keyed by the user's
/// id followed by the SHA-256 of the browser's random cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberedDevice {
    /// A short description of the browser, from its User-Agent, to recognise it in a list.
    pub label: String,
    /// The address it signed in from when it was first remembered, so a user can tell two
    /// browsers of the same kind apart.
    #[serde(default)]
    pub remembered_from: Option<String>,
    pub created_at: UnixSeconds,
    pub last_used_at: UnixSeconds,
    pub expires_at: UnixSeconds,
}

/// A (user, PAM service, remote host) that passed the second factor, keyed by the user's id
/// and a hash of the service and host; only with `[pam] remember` set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberedHost {
    pub expires_at: UnixSeconds,
}

/// What an emailed code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CodePurpose {
    SignIn,
    Enrolment,
    /// The code of an invitation, typed on the welcome page with the new password.
    Invitation,
    /// A forgotten password's code, typed on the reset page.
    PasswordReset,
    /// A code that replaces the password as the first factor ("Email me a code").
    FirstFactor,
}

/// An emailed one-time code, stored as a keyed hash under the user's id (one live code a user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailCode {
    pub purpose: CodePurpose,
    #[serde(with = "super::stored_bytes::fixed")]
    pub mac: [u8; 32],
    pub wrong_tries: u32,
    pub sent_at: UnixSeconds,
    pub expires_at: UnixSeconds,
}

/// A browser's single sign-on session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub authentication: Authentication,
    pub created_at: UnixSeconds,
    /// A fingerprint of the user's password hash when the session began (or when the user
    /// changed the password from this session): a change made elsewhere ends the session.
    /// A hash, not a time, so two changes within a second are still told apart. `None` in
    /// sessions stored before this was kept: then a change after `created_at` ends them.
    #[serde(default)]
    pub password_fingerprint: Option<String>,
    /// The user's `session_generation` when the session began.
    #[serde(default)]
    pub generation: u64,
    /// An authenticator-app seed offered on the account page and not confirmed yet, sealed
    /// with the master key. Kept here, not in the page, so a form never carries a seed.
    #[serde(default, with = "super::stored_bytes::option_vec")]
    pub pending_totp_seed: Option<Vec<u8>>,
    pub expires_at: UnixSeconds,
    /// The browser, for the user's list of their sessions ("Firefox on Linux").
    #[serde(default)]
    pub browser: String,
    /// The client address the session began from.
    #[serde(default)]
    pub source: String,
}

/// Recent failures of one account or one client address, for the brute-force limits: kept in
/// the store, so that every daemon sharing it counts the same failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureWindow {
    /// When each failure within the window happened.
    pub failures: Vec<UnixSeconds>,
    pub locked_until: Option<UnixSeconds>,
    pub expires_at: UnixSeconds,
}

/// Everything issued from one authorization code shares a family, so that reuse of the code
/// or of a rotated refresh token revokes all of it at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenFamily {
    pub client_id: String,
    pub user_id: UserId,
    pub revoked: bool,
    pub expires_at: UnixSeconds,
    /// The user's `session_generation` when the family began: ending a user's sessions (a
    /// password reset, disabling) ends their refresh tokens too.
    #[serde(default)]
    pub generation: u64,
    /// The family's one live refresh token, if it was granted one. Rotation replaces it in
    /// place, so a client that refreshes every few minutes for a month leaves one record.
    #[serde(default)]
    pub refresh: Option<CurrentRefresh>,
    /// Access tokens of the family revoked one by one (RFC 7009), until they expire. Access
    /// tokens have no records of their own (`tokens::access::minted`), so this is where a
    /// revoked one is remembered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked_access: Vec<RevokedAccess>,
}

/// An access token revoked on its own, by its hash, remembered until it would have expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedAccess {
    #[serde(with = "super::stored_bytes::fixed")]
    pub hash: [u8; 32],
    pub expires_at: UnixSeconds,
}

/// The live refresh token of a family, by its hash, and what it grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentRefresh {
    #[serde(with = "super::stored_bytes::fixed")]
    pub hash: [u8; 32],
    pub scopes: Vec<String>,
    pub authentication: Authentication,
    pub expires_at: UnixSeconds,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationCode {
    pub request: AuthorizationRequest,
    pub authentication: Authentication,
    /// The key of this code's `TokenFamily`.
    pub family: String,
    pub signing_alg: SigningAlg,
    pub used: bool,
    pub expires_at: UnixSeconds,
}

/// An access token as versions before minted tokens (`tokens::access::minted`) stored it: one
/// record per token. Still honoured until the last of them expires, so an upgrade signs no
/// one out; none is written any more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessToken {
    pub family: String,
    pub client_id: String,
    pub user_id: UserId,
    pub scopes: Vec<String>,
    pub issued_at: UnixSeconds,
    pub expires_at: UnixSeconds,
}

/// A refresh token as daemons before family-held tokens stored it: one record per token, kept
/// (spent) until it expires. Still honoured, once, so an upgrade signs no one out; its
/// successor is a family-held token, and the last of these records expire on their own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshToken {
    pub family: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub authentication: Authentication,
    /// Set when the token has been exchanged; a second exchange is reuse.
    pub used: bool,
    pub expires_at: UnixSeconds,
}

macro_rules! expiring {
    ($($kind:ty),*) => {$(
        impl Expiring for $kind {
            fn expires_at(&self) -> UnixSeconds {
                self.expires_at
            }
        }
    )*};
}
expiring!(
    EmailCode,
    FailureWindow,
    RememberedHost,
    LoginFlow,
    RememberedDevice,
    Session,
    TokenFamily,
    AuthorizationCode,
    AccessToken,
    RefreshToken
);
