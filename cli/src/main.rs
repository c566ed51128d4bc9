//! `postern`: the administrator's command line. Every command is one request to `posternd`
//! over its admin socket; the daemon checks who is asking and does the work.
//!
//! Exit codes: 0 success, 1 refused or failed (the reason on stderr), 2 usage error.

mod backup;
mod output;
mod password;

use anyhow::Context;
use clap::{Parser, Subcommand};
use postern_proto::admin::{
    AdminReply, AdminRequest, AuditQuery, ClientSpec, ClientView, NewUser, RoleSpec,
};
use postern_proto::client::Connection;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "postern",
    version,
    about = "Administer a Postern identity provider"
)]
struct Cli {
    /// The daemon's admin socket.
    #[arg(
        long,
        global = true,
        env = "POSTERN_ADMIN_SOCKET",
        default_value = "/run/postern/admin.sock"
    )]
    socket: PathBuf,
    /// Print the answer as JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
enum UserCommand {
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
}

#[derive(Debug, Subcommand)]
enum RoleCommand {
    /// Create a role.
    Add {
        name: String,
        /// Holders must use a second factor (enrolling at next sign-in if they have none).
        #[arg(long)]
        require_mfa: bool,
        /// Holders use Postern from programs; such a role is never required to use MFA.
        #[arg(long)]
        api_access: bool,
    },
    /// Change a role.
    Set {
        name: String,
        #[arg(long, value_name = "BOOL")]
        require_mfa: Option<bool>,
        #[arg(long, value_name = "BOOL")]
        api_access: Option<bool>,
    },
    /// List roles with their holders' count.
    List,
    /// Delete a role nobody holds.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
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
    },
    /// List clients.
    List,
    /// Show one client.
    Show { name: String },
    /// Replace a confidential client's secret; the old one stops working at once.
    RotateSecret { name: String },
    /// Delete a client; its tokens stop working.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
enum MfaCommand {
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
enum MailCommand {
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
enum KeysCommand {
    /// List signing keys, active and retired.
    List,
    /// Make new signing keys active; old ones stay published until their tokens expire.
    Rotate,
}

#[derive(Debug, Subcommand)]
enum SiteCommand {
    /// Show every setting with its value.
    Show,
    /// Change a setting, e.g. `postern site set mfa.methods totp,email`.
    Set { key: String, value: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("postern: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let report_as_csv = matches!(cli.command, Command::Mfa(MfaCommand::Report { csv: true }));
    let is_report = matches!(cli.command, Command::Mfa(MfaCommand::Report { .. }));
    let connect = || {
        Connection::connect(&cli.socket, Duration::from_secs(60))
            .context("is posternd running? (set --socket or POSTERN_ADMIN_SOCKET)")
    };
    if let Command::Backup { file, force } = &cli.command {
        let message = backup::run(&mut connect()?, file, *force)?;
        if cli.json {
            return output::json(&serde_json::json!({ "message": message }));
        }
        println!("{message}");
        return Ok(());
    }
    let request = request_for(cli.command)?;
    let mut connection = connect()?;
    let reply = connection.admin(&request)?;
    if cli.json {
        return print_json(reply);
    }
    match reply {
        AdminReply::Users(users) if is_report => output::mfa_report(&users, report_as_csv),
        reply => print_human(reply),
    }
    Ok(())
}

fn request_for(command: Command) -> anyhow::Result<AdminRequest> {
    Ok(match command {
        Command::Status => AdminRequest::Status,
        Command::User(command) => match command {
            UserCommand::Add {
                username,
                email,
                display_name,
                roles,
                password_stdin,
            } => AdminRequest::UserAdd(NewUser {
                username,
                email,
                display_name,
                roles,
                password: password::read_new(password_stdin)?,
            }),
            UserCommand::List => AdminRequest::UserList,
            UserCommand::Show { username } => AdminRequest::UserShow { username },
            UserCommand::SetPassword {
                username,
                password_stdin,
            } => AdminRequest::UserSetPassword {
                username,
                password: password::read_new(password_stdin)?,
            },
            UserCommand::Disable { username } => AdminRequest::UserSetDisabled {
                username,
                disabled: true,
            },
            UserCommand::Enable { username } => AdminRequest::UserSetDisabled {
                username,
                disabled: false,
            },
            UserCommand::Delete { username } => AdminRequest::UserDelete { username },
            UserCommand::Unlock { username } => AdminRequest::UserUnlock { username },
            UserCommand::AddRole { username, role } => AdminRequest::UserAddRole { username, role },
            UserCommand::RemoveRole { username, role } => {
                AdminRequest::UserRemoveRole { username, role }
            }
        },
        Command::Role(command) => match command {
            RoleCommand::Add {
                name,
                require_mfa,
                api_access,
            } => AdminRequest::RoleAdd(RoleSpec {
                name,
                require_mfa,
                api_access,
            }),
            RoleCommand::Set {
                name,
                require_mfa,
                api_access,
            } => AdminRequest::RoleSet {
                name,
                require_mfa,
                api_access,
            },
            RoleCommand::List => AdminRequest::RoleList,
            RoleCommand::Delete { name } => AdminRequest::RoleDelete { name },
        },
        Command::Client(command) => match command {
            ClientCommand::Add {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                public,
                signing_alg,
            } => AdminRequest::ClientAdd(ClientSpec {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                public,
                signing_alg: Some(signing_alg),
            }),
            ClientCommand::List => AdminRequest::ClientList,
            ClientCommand::Show { name } => AdminRequest::ClientShow { name },
            ClientCommand::RotateSecret { name } => AdminRequest::ClientRotateSecret { name },
            ClientCommand::Delete { name } => AdminRequest::ClientDelete { name },
        },
        Command::Mfa(MfaCommand::Reset { username }) => AdminRequest::MfaReset { username },
        Command::Mfa(MfaCommand::SetMethod { username, method }) => {
            AdminRequest::MfaSetMethod { username, method }
        }
        Command::Mfa(MfaCommand::Report { .. }) => AdminRequest::MfaReport,
        Command::Mail(MailCommand::Log {
            username,
            subject,
            limit,
        }) => AdminRequest::MailLog {
            username,
            subject,
            limit: Some(limit),
        },
        Command::Keys(KeysCommand::List) => AdminRequest::KeysList,
        Command::Keys(KeysCommand::Rotate) => AdminRequest::KeysRotate,
        Command::Site(SiteCommand::Show) => AdminRequest::SiteShow,
        Command::Site(SiteCommand::Set { key, value }) => AdminRequest::SiteSet { key, value },
        Command::Audit {
            username,
            since,
            limit,
        } => AdminRequest::Audit(AuditQuery {
            username,
            since: since.map(|ago| now_unix().saturating_sub(ago.as_secs())),
            limit: Some(limit),
        }),
        Command::Backup { .. } => AdminRequest::Backup,
    })
}

#[allow(clippy::disallowed_methods)] // the CLI has no injected clock; it only turns --since into a time
fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn print_json(reply: AdminReply) -> anyhow::Result<()> {
    match reply {
        AdminReply::Status(status) => output::json(&status),
        AdminReply::User(user) => output::json(&user),
        AdminReply::Users(users) => output::json(&users),
        AdminReply::Role(role) => output::json(&role),
        AdminReply::Roles(roles) => output::json(&roles),
        AdminReply::Site(settings) => output::json(&settings),
        AdminReply::Audit(events) => output::json(&events),
        AdminReply::Client(client) => output::json(&client),
        AdminReply::Clients(clients) => output::json(&clients),
        AdminReply::ClientSecret {
            client,
            client_secret,
        } => output::json(&serde_json::json!({
            "client": client,
            "client_secret": client_secret.as_ref().map(|s| s.expose()),
        })),
        AdminReply::Keys(keys) => output::json(&keys),
        AdminReply::Mail(mail) => output::json(&mail),
        AdminReply::Done { message } => output::json(&serde_json::json!({ "message": message })),
        AdminReply::BackupFollows { .. } => anyhow::bail!("a backup is not an answer to print"),
    }
}

fn print_human(reply: AdminReply) {
    match reply {
        AdminReply::Status(s) => output::fields(&[
            ("version", s.version),
            ("pid", s.pid.to_string()),
            ("started", output::time(s.started_at)),
            ("clock", output::time(s.clock)),
            (
                "uptime",
                humantime::format_duration(Duration::from_secs(s.uptime_seconds)).to_string(),
            ),
            ("state dir", s.state_dir),
            ("http", format!("http://{}", s.http_listen)),
            (
                "metrics",
                s.metrics_listen
                    .map(|addr| format!("http://{addr}/metrics"))
                    .unwrap_or_else(|| "off".into()),
            ),
            ("users", s.users.to_string()),
            ("roles", s.roles.to_string()),
            ("audit events", s.audit_events.to_string()),
        ]),
        AdminReply::User(u) => output::fields(&[
            ("username", u.username),
            ("id", u.id),
            ("email", u.email),
            ("name", u.display_name.unwrap_or_default()),
            ("roles", u.roles.join(", ")),
            ("disabled", output::yes_no(u.disabled)),
            ("created", output::time(u.created_at)),
            ("last sign-in", output::optional_time(u.last_login_at)),
            ("mfa", output::mfa_state(&u.mfa)),
            (
                "recovery codes",
                format!("{} left", u.mfa.recovery_codes_left),
            ),
            (
                "locked",
                u.locked_until
                    .map(|t| format!("until {} (too many failed sign-ins)", output::time(t)))
                    .unwrap_or_else(|| "no".into()),
            ),
        ]),
        AdminReply::Users(users) => {
            let rows: Vec<Vec<String>> = users
                .into_iter()
                .map(|u| {
                    vec![
                        u.username,
                        u.email,
                        u.roles.join(","),
                        output::yes_no(u.disabled),
                        output::optional_time(u.last_login_at),
                    ]
                })
                .collect();
            output::table(
                &["USERNAME", "EMAIL", "ROLES", "DISABLED", "LAST SIGN-IN"],
                &rows,
            );
        }
        AdminReply::Role(role) => print_human(AdminReply::Roles(vec![role])),
        AdminReply::Roles(roles) => {
            let rows: Vec<Vec<String>> = roles
                .into_iter()
                .map(|r| {
                    vec![
                        r.name,
                        output::yes_no(r.require_mfa),
                        output::yes_no(r.api_access),
                        r.members.to_string(),
                    ]
                })
                .collect();
            output::table(&["ROLE", "REQUIRE MFA", "API ACCESS", "MEMBERS"], &rows);
        }
        AdminReply::Site(settings) => {
            let rows: Vec<Vec<String>> = settings
                .into_iter()
                .map(|s| vec![s.key, s.value, s.description])
                .collect();
            output::table(&["KEY", "VALUE", "MEANING"], &rows);
        }
        AdminReply::Audit(events) => {
            let rows: Vec<Vec<String>> = events
                .into_iter()
                .map(|e| {
                    vec![
                        output::time(e.at),
                        e.action,
                        e.outcome,
                        e.actor,
                        e.subject.unwrap_or_default(),
                        e.source,
                        e.detail.unwrap_or_default(),
                    ]
                })
                .collect();
            output::table(
                &[
                    "TIME", "ACTION", "OUTCOME", "ACTOR", "SUBJECT", "SOURCE", "DETAIL",
                ],
                &rows,
            );
        }
        AdminReply::Client(client) => print_client(client),
        AdminReply::Clients(clients) => {
            let rows: Vec<Vec<String>> = clients
                .into_iter()
                .map(|c| {
                    vec![
                        c.name,
                        c.client_id,
                        if c.public { "public" } else { "confidential" }.into(),
                        c.signing_alg,
                        c.redirect_uris.join(" "),
                    ]
                })
                .collect();
            output::table(
                &["NAME", "CLIENT ID", "TYPE", "ALG", "REDIRECT URIS"],
                &rows,
            );
        }
        AdminReply::ClientSecret {
            client,
            client_secret,
        } => {
            print_client(client);
            if let Some(secret) = client_secret {
                println!("\nclient secret: {}", secret.expose());
                println!("(shown this once; Postern keeps only a hash)");
            }
        }
        AdminReply::Keys(keys) => {
            let rows: Vec<Vec<String>> = keys
                .into_iter()
                .map(|k| {
                    let state = match k.retired_at {
                        None => "active".to_owned(),
                        Some(at) => format!("retired {}", output::time(at)),
                    };
                    vec![k.kid, k.alg, output::time(k.created_at), state]
                })
                .collect();
            output::table(&["KID", "ALG", "CREATED", "STATE"], &rows);
        }
        AdminReply::Mail(mail) => {
            let rows: Vec<Vec<String>> = mail
                .into_iter()
                .map(|m| {
                    vec![
                        output::time(m.at),
                        m.to,
                        m.subject,
                        m.status,
                        m.error.unwrap_or_default(),
                    ]
                })
                .collect();
            output::table(&["TIME", "TO", "SUBJECT", "STATUS", "ERROR"], &rows);
        }
        AdminReply::Done { message } => println!("{message}"),
        AdminReply::BackupFollows { .. } => {}
    }
}

fn print_client(c: ClientView) {
    output::fields(&[
        ("name", c.name),
        ("client id", c.client_id),
        (
            "type",
            if c.public {
                "public (PKCE, no secret)"
            } else {
                "confidential"
            }
            .into(),
        ),
        ("signing alg", c.signing_alg),
        ("redirect URIs", c.redirect_uris.join(" ")),
        ("logout redirects", c.post_logout_redirect_uris.join(" ")),
        ("created", output::time(c.created_at)),
    ]);
}
