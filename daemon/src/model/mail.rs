//! The sent-mail log's records, so an administrator can check whether a code went out.

use crate::clock::UnixSeconds;
use serde::{Deserialize, Serialize};

/// One line of the sent-mail log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailRecord {
    pub at: UnixSeconds,
    pub to: String,
    pub username: String,
    pub subject: String,
    pub delivered: bool,
    /// Why delivery failed; never the message body (it holds a code).
    pub error: Option<String>,
}
