//! Messages of the PAM socket. The PAM module opens one connection per authentication, sends
//! `Begin`, then relays each `Prompt` through the PAM conversation and sends back the `Answer`,
//! until the daemon sends `Verdict`. The daemon drives; the module only relays.

use crate::Secret;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum PamRequest {
    /// Starts an authentication (`pam_sm_authenticate`).
    Begin(PamContext),
    /// The user's answer to the last prompt.
    Answer { text: Secret },
    /// Whether the account may log in now (`pam_sm_acct_mgmt`).
    Account(PamContext),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PamContext {
    pub service: String,
    pub user: String,
    pub remote_host: Option<String>,
    pub tty: Option<String>,
    pub mode: PamMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PamMode {
    /// Postern checks the password and the second factor.
    Full,
    /// Stacked after pam_unix: Postern asks only for the second factor.
    SecondFactor,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum PamReply {
    /// Ask the user; `echo` false for secrets.
    Prompt { text: String, echo: bool },
    /// Show a line (e.g. "A code was sent to a•••@example.com") and go on.
    Info { text: String },
    /// The end of the conversation.
    Verdict {
        outcome: PamOutcome,
        message: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PamOutcome {
    Success,
    /// Wrong password or code, locked account: PAM_AUTH_ERR.
    Denied,
    /// No such user: PAM_USER_UNKNOWN.
    UserUnknown,
    /// Disabled or expired account: PAM_ACCT_EXPIRED / PAM_PERM_DENIED.
    AccountDisabled,
    /// The user must enrol a second factor first (on the web): PAM_AUTH_ERR with a message.
    MustEnrol,
    /// Something failed in the daemon: PAM_AUTHINFO_UNAVAIL.
    Unavailable,
}
