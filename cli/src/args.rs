//! The `postern` command line, as clap sees it. Kept apart from `main.rs` so that the
//! packaging tools generate the man page and shell completions from the same definitions.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "postern",
    version,
    about = "Administer a Postern identity provider"
)]
pub struct Cli {
    /// The daemon's admin socket.
    #[arg(
        long,
        global = true,
        env = "POSTERN_ADMIN_SOCKET",
        default_value = "/run/postern/admin.sock"
    )]
    pub socket: PathBuf,
    /// Print the answer as JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the daemon's version, uptime and counts.
    Status,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage roles and whether they require MFA.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Show or change site-wide settings.
    #[command(subcommand)]
    Site(SiteCommand),
    /// Manage OpenID Connect clients (the applications that sign users in).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Second factors: the lost-phone reset, a user's method, the report.
    #[command(subcommand)]
    Mfa(MfaCommand),
    /// The sent-mail log: was a code sent, and did it go out?
    #[command(subcommand)]
    Mail(MailCommand),
    /// List or rotate the ID token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Show the audit trail, newest first.
    Audit {
        /// Only events about this user.
        #[arg(long = "user", value_name = "NAME")]
        username: Option<String>,
        /// Only events this recent, e.g. 1h, 7d.
        #[arg(long, value_parser = humantime::parse_duration)]
        since: Option<Duration>,
        /// At most this many events.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Write a consistent backup of the whole store to FILE while the daemon runs. Secrets stay
    /// hashed or sealed; keep the daemon's key file with it (stored apart) to restore it.
    Backup {
        file: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is asked for twice, or read from stdin with --password-stdin.
    Add {
        username: String,
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long = "name")]
        display_name: Option<String>,
        /// A role to grant; repeat for several.
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Invite a user: created without a password, they are mailed a link to ISSUER/welcome and
    /// a code with which to choose one. With --resend, mail an open invitation again (the last
    /// code stops working); with --revoke, withdraw it (the user is deleted).
    Invite {
        username: String,
        #[arg(long, required_unless_present_any = ["resend", "revoke"])]
        email: Option<String>,
        /// Display name.
        #[arg(long = "name")]
        display_name: Option<String>,
        /// A role to grant; repeat for several.
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        #[arg(long, conflicts_with_all = ["email", "display_name", "roles", "revoke"])]
        resend: bool,
        #[arg(long, conflicts_with_all = ["email", "display_name", "roles"])]
        revoke: bool,
    },
    /// List all users.
    List,
    /// Show one user.
    Show { username: String },
    /// Set a user's password.
    SetPassword {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's email address (unverified unless --verified).
    SetEmail {
        username: String,
        email: String,
        /// You checked that the address is the user's: mark it verified.
        #[arg(long)]
        verified: bool,
    },
    /// Stop a user from signing in.
    Disable { username: String },
    /// Let a disabled user sign in again.
    Enable { username: String },
    /// Delete a user for good.
    Delete { username: String },
    /// Lift a lock set by too many failed sign-ins.
    Unlock { username: String },
    /// Grant a role.
    AddRole { username: String, role: String },
    /// Take a role away.
    RemoveRole { username: String, role: String },
    /// Remove one of a user's passkeys (a lost security key), by the id `user show` lists.
    RemovePasskey {
        username: String,
        /// The passkey's id (`postern user show` lists them). Ids are base64url, so one may
        /// begin with `-`: it is still taken as the id.
        #[arg(allow_hyphen_values = true)]
        passkey: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Create a role.
    Add {
        name: String,
        /// Holders must use a second factor (enrolling at next sign-in if they have none).
        #[arg(long)]
        require_mfa: bool,
        /// Holders use Postern from programs; such a role is never required to use MFA.
        #[arg(long)]
        api_access: bool,
        /// Holders must sign in with a passkey or security key; app and emailed codes do not
        /// do (those without one add one at next sign-in). Implies --require-mfa.
        #[arg(long)]
        require_phishing_resistant: bool,
    },
    /// Change a role.
    Set {
        name: String,
        #[arg(long, value_name = "BOOL")]
        require_mfa: Option<bool>,
        #[arg(long, value_name = "BOOL")]
        api_access: Option<bool>,
        #[arg(long, value_name = "BOOL")]
        require_phishing_resistant: Option<bool>,
    },
    /// List roles with their holders' count.
    List,
    /// Delete a role nobody holds.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register an application. Prints its client id, and its secret once (confidential clients).
    Add {
        name: String,
        /// Where users return after signing in; compared exactly. Repeat for several.
        #[arg(long = "redirect-uri", value_name = "URI", required = true)]
        redirect_uris: Vec<String>,
        /// Where users may be sent after signing out. Repeat for several.
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// A browser or native app that cannot keep a secret; it relies on PKCE alone.
        #[arg(long)]
        public: bool,
        /// ID token signing algorithm.
        #[arg(long, value_name = "ALG", value_parser = ["RS256", "EdDSA", "ES256"], default_value = "RS256")]
        signing_alg: String,
        /// Refuse authorization requests without PKCE (public clients always need it). Off by
        /// default: OpenID Connect Core does not require PKCE and many relying parties send
        /// none; turn it on for every client that does.
        #[arg(long)]
        require_pkce: bool,
        /// A third-party application: each user is shown what it asks for and must allow it
        /// (once per set of scopes; revocable on their account page).
        #[arg(long)]
        consent: bool,
        /// Let it sign users in with the device authorization grant (RFC 8628): a command-line
        /// tool shows a code, the user allows it on ISSUER/approve.
        #[arg(long)]
        device_flow: bool,
    },
    /// List clients.
    List,
    /// Show one client.
    Show { name: String },
    /// Change a client's settings.
    Set {
        name: String,
        /// Whether authorization requests must carry PKCE (public clients always must).
        #[arg(long, value_name = "BOOL")]
        require_pkce: Option<bool>,
        /// Whether users must allow what the application asks for (a third-party client).
        #[arg(long, value_name = "BOOL")]
        consent: Option<bool>,
        /// Whether it may use the device authorization grant (RFC 8628).
        #[arg(long, value_name = "BOOL")]
        device_flow: Option<bool>,
    },
    /// Replace a confidential client's secret; the old one stops working at once.
    RotateSecret { name: String },
    /// Delete a client; its tokens stop working.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum MfaCommand {
    /// Lost phone: turn the user's MFA off; they enrol again at next sign-in.
    Reset { username: String },
    /// Change a user's method; switching to totp makes them enrol an app at next sign-in.
    SetMethod {
        username: String,
        #[arg(value_parser = ["totp", "email"])]
        method: String,
    },
    /// Every user with roles, MFA state and method, whether a role requires it, last sign-in.
    Report {
        /// Comma-separated values instead of a table.
        #[arg(long, conflicts_with = "json")]
        csv: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Messages sent or failed, newest first.
    Log {
        /// Only mail to this user.
        #[arg(long = "to", value_name = "USER")]
        username: Option<String>,
        /// Only mail whose subject contains this text, e.g. "code".
        #[arg(long)]
        subject: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys, active and retired.
    List,
    /// Make new signing keys active; old ones stay published until their tokens expire.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Show every setting with its value.
    Show,
    /// Change a setting, e.g. `postern site set mfa.methods totp,email`.
    Set { key: String, value: String },
}
