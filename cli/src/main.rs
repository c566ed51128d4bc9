//! `postern`: the administrator's command line. Every command is one request to `posternd`
//! over its admin socket; the daemon checks who is asking and does the work.
//!
//! Exit codes: 0 success, 1 refused or failed (the reason on stderr), 2 usage error.

mod backup;
mod output;
mod password;

use anyhow::Context;
use clap::Parser;
use postern_cli::args::*;
use postern_proto::admin::{
    AdminReply, AdminRequest, AuditQuery, ClientSpec, ClientView, Invitation, NewUser, PageRequest,
    RoleSpec,
};
use postern_proto::client::Connection;
use std::process::ExitCode;
use std::time::Duration;

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
    let reply = match request {
        AdminRequest::UserList(_) | AdminRequest::MfaReport(_) => {
            every_user(&mut connection, &request)?
        }
        request => connection.admin(&request)?,
    };
    if cli.json {
        return print_json(reply);
    }
    match reply {
        AdminReply::Users { users, .. } if is_report => output::mfa_report(&users, report_as_csv),
        reply => print_human(reply),
    }
    Ok(())
}

/// Asks for a user list page by page (a reply frame cannot hold a million users) and joins
/// the pages.
fn every_user(connection: &mut Connection, request: &AdminRequest) -> anyhow::Result<AdminReply> {
    let mut all = Vec::new();
    let mut page = PageRequest::default();
    loop {
        let asked = match request {
            AdminRequest::MfaReport(_) => AdminRequest::MfaReport(page.clone()),
            _ => AdminRequest::UserList(page.clone()),
        };
        let AdminReply::Users { users, next } = connection.admin(&asked)? else {
            anyhow::bail!("posternd answered a user list with something else");
        };
        all.extend(users);
        match next {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    Ok(AdminReply::Users {
        users: all,
        next: None,
    })
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
            UserCommand::Invite {
                username,
                resend,
                revoke,
                ..
            } if resend || revoke => AdminRequest::UserReinvite { username, revoke },
            UserCommand::Invite {
                username,
                email,
                display_name,
                roles,
                ..
            } => AdminRequest::UserInvite(Invitation {
                username,
                email: email.unwrap_or_default(),
                display_name,
                roles,
            }),
            UserCommand::List => AdminRequest::UserList(PageRequest::default()),
            UserCommand::Show { username } => AdminRequest::UserShow { username },
            UserCommand::SetPassword {
                username,
                password_stdin,
            } => AdminRequest::UserSetPassword {
                username,
                password: password::read_new(password_stdin)?,
            },
            UserCommand::SetEmail {
                username,
                email,
                verified,
            } => AdminRequest::UserSetEmail {
                username,
                email,
                verified,
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
            UserCommand::RemovePasskey { username, passkey } => {
                AdminRequest::UserRemovePasskey { username, passkey }
            }
        },
        Command::Role(command) => match command {
            RoleCommand::Add {
                name,
                require_mfa,
                api_access,
                require_phishing_resistant,
            } => AdminRequest::RoleAdd(RoleSpec {
                name,
                require_mfa: require_mfa || require_phishing_resistant,
                api_access,
                require_phishing_resistant,
            }),
            RoleCommand::Set {
                name,
                require_mfa,
                api_access,
                require_phishing_resistant,
            } => AdminRequest::RoleSet {
                name,
                require_mfa,
                api_access,
                require_phishing_resistant,
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
                require_pkce,
                consent,
                device_flow,
            } => AdminRequest::ClientAdd(ClientSpec {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                public,
                signing_alg: Some(signing_alg),
                require_pkce,
                consent,
                device_flow,
            }),
            ClientCommand::List => AdminRequest::ClientList,
            ClientCommand::Show { name } => AdminRequest::ClientShow { name },
            ClientCommand::Set {
                name,
                require_pkce,
                consent,
                device_flow,
            } => AdminRequest::ClientSet {
                name,
                require_pkce,
                consent,
                device_flow,
            },
            ClientCommand::RotateSecret { name } => AdminRequest::ClientRotateSecret { name },
            ClientCommand::Delete { name } => AdminRequest::ClientDelete { name },
        },
        Command::Mfa(MfaCommand::Reset { username }) => AdminRequest::MfaReset { username },
        Command::Mfa(MfaCommand::SetMethod { username, method }) => {
            AdminRequest::MfaSetMethod { username, method }
        }
        Command::Mfa(MfaCommand::Report { .. }) => AdminRequest::MfaReport(PageRequest::default()),
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
        AdminReply::Users { users, .. } => output::json(&users),
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
        AdminReply::BackupFollows(_) => anyhow::bail!("a backup is not an answer to print"),
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
            (
                "email",
                format!(
                    "{} ({})",
                    u.email,
                    if u.email_verified {
                        "verified"
                    } else {
                        "not verified"
                    }
                ),
            ),
            ("name", u.display_name.unwrap_or_default()),
            ("roles", u.roles.join(", ")),
            ("disabled", output::yes_no(u.disabled)),
            (
                "invited",
                u.invited_at
                    .map(|t| format!("{}, not accepted yet", output::time(t)))
                    .unwrap_or_else(|| "no".into()),
            ),
            ("created", output::time(u.created_at)),
            ("last sign-in", output::optional_time(u.last_login_at)),
            ("mfa", output::mfa_state(&u.mfa)),
            (
                "recovery codes",
                format!("{} left", u.mfa.recovery_codes_left),
            ),
            ("passkeys", output::passkeys(&u.mfa.passkeys)),
            (
                "locked",
                u.locked_until
                    .map(|t| format!("until {} (too many failed sign-ins)", output::time(t)))
                    .unwrap_or_else(|| "no".into()),
            ),
        ]),
        AdminReply::Users { users, .. } => {
            let rows: Vec<Vec<String>> = users
                .into_iter()
                .map(|u| {
                    vec![
                        u.username,
                        u.email,
                        u.roles.join(","),
                        output::yes_no(u.disabled),
                        match u.invited_at {
                            Some(_) => "invited".into(),
                            None => output::optional_time(u.last_login_at),
                        },
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
                        output::yes_no(r.require_phishing_resistant),
                        output::yes_no(r.api_access),
                        r.members.to_string(),
                    ]
                })
                .collect();
            output::table(
                &[
                    "ROLE",
                    "REQUIRE MFA",
                    "REQUIRE PASSKEY",
                    "API ACCESS",
                    "MEMBERS",
                ],
                &rows,
            );
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
        AdminReply::BackupFollows(_) => {}
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
        (
            "PKCE",
            if c.require_pkce {
                "required"
            } else {
                "checked when sent"
            }
            .into(),
        ),
        (
            "consent",
            if c.consent {
                "asked of each user (third-party)"
            } else {
                "not asked (first-party)"
            }
            .into(),
        ),
        (
            "device grant",
            if c.device_flow { "allowed" } else { "off" }.into(),
        ),
        ("redirect URIs", c.redirect_uris.join(" ")),
        ("logout redirects", c.post_logout_redirect_uris.join(" ")),
        ("created", output::time(c.created_at)),
    ]);
}
