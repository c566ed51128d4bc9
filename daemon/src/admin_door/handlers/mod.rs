//! One function per admin request: validate, change the store, answer. Every request that
//! changes something is audited (with its outcome) and flushed before the answer goes out.

use super::peer::Caller;
use super::views;
use crate::audit::{AuditAction, AuditDoor, AuditEvent, Outcome};
use crate::context::Context;
use crate::model::ValidationError;
use crate::store::StoreError;
use postern_proto::admin::{AdminReply, AdminRequest};
use postern_proto::{ErrorCode, ProtoError};

mod accounts;
mod clients;
mod mfa;
mod site;

/// Answers one request from an authorised administrator.
pub async fn handle(
    ctx: &Context,
    caller: &Caller,
    request: AdminRequest,
) -> Result<AdminReply, ProtoError> {
    let audited = audit_entry(&request);
    let result = dispatch(ctx, request).await;
    if let Some((action, subject, detail)) = audited {
        let (outcome, detail) = match &result {
            Ok(_) => (Outcome::Success, detail),
            Err(error) => (Outcome::Failure, Some(error.message.clone())),
        };
        let event = AuditEvent::new(
            ctx.clock.unix_now(),
            format!("admin {caller}"),
            action,
            AuditDoor::Admin,
            "admin socket",
            outcome,
        )
        .subject(subject)
        .maybe_detail(detail);
        // Not answering "done" for a change that is not durable, or not audited. A refusal
        // keeps its own reason even when its record cannot be written (a full disk).
        let recorded = match ctx.record(event).await {
            Ok(()) => ctx.store.flush().await,
            Err(e) => Err(e),
        };
        if let Err(e) = recorded {
            let error = store_error(e);
            return Err(result.err().unwrap_or(error));
        }
    }
    result
}

async fn dispatch(ctx: &Context, request: AdminRequest) -> Result<AdminReply, ProtoError> {
    match request {
        AdminRequest::Status => Ok(AdminReply::Status(site::status(ctx).await)),
        AdminRequest::UserAdd(new_user) => accounts::add_user(ctx, new_user).await,
        AdminRequest::UserInvite(invitation) => accounts::invite_user(ctx, invitation).await,
        AdminRequest::UserReinvite { username, revoke } => {
            accounts::reinvite(ctx, &username, revoke).await
        }
        AdminRequest::UserList(page) => accounts::list_users(ctx, &page).await,
        AdminRequest::UserShow { username } => Ok(AdminReply::User(
            accounts::user_view(ctx, accounts::find_user(ctx, &username).await?).await?,
        )),
        AdminRequest::UserSetPassword { username, password } => {
            accounts::set_password(ctx, &username, &password).await
        }
        AdminRequest::UserSetDisabled { username, disabled } => {
            accounts::set_disabled(ctx, &username, disabled).await
        }
        AdminRequest::UserSetEmail {
            username,
            email,
            verified,
        } => accounts::set_email(ctx, &username, &email, verified).await,
        AdminRequest::UserDelete { username } => accounts::delete_user(ctx, &username).await,
        AdminRequest::UserUnlock { username } => accounts::unlock(ctx, &username).await,
        AdminRequest::UserRemovePasskey { username, passkey } => {
            mfa::remove_passkey(ctx, &username, &passkey).await
        }
        AdminRequest::UserAddRole { username, role } => {
            accounts::grant_role(ctx, &username, &role).await
        }
        AdminRequest::UserRemoveRole { username, role } => {
            accounts::revoke_role(ctx, &username, &role).await
        }
        AdminRequest::RoleAdd(spec) => accounts::add_role(ctx, spec).await,
        AdminRequest::RoleSet {
            name,
            require_mfa,
            api_access,
            require_phishing_resistant,
        } => {
            accounts::set_role(
                ctx,
                &name,
                require_mfa,
                api_access,
                require_phishing_resistant,
            )
            .await
        }
        AdminRequest::RoleList => accounts::list_roles(ctx).await,
        AdminRequest::RoleDelete { name } => {
            ctx.store.delete_role(&name).await.map_err(store_error)?;
            done(format!("role {name} deleted"))
        }
        AdminRequest::SiteShow => site::show(ctx).await,
        AdminRequest::SiteSet { key, value } => site::set(ctx, &key, &value).await,
        AdminRequest::Audit(query) => site::audit_events(ctx, query).await,
        AdminRequest::AdvanceClock { seconds } => site::advance_clock(ctx, seconds).await,
        AdminRequest::ClientAdd(spec) => clients::add(ctx, spec).await,
        AdminRequest::ClientList => clients::list(ctx).await,
        AdminRequest::ClientShow { name } => Ok(AdminReply::Client(views::client(
            clients::find(ctx, &name).await?,
        ))),
        AdminRequest::ClientSet {
            name,
            require_pkce,
            consent,
            device_flow,
        } => clients::set(ctx, &name, require_pkce, consent, device_flow).await,
        AdminRequest::ClientRotateSecret { name } => clients::rotate_secret(ctx, &name).await,
        AdminRequest::ClientDelete { name } => clients::delete(ctx, &name).await,
        AdminRequest::KeysList => clients::list_keys(ctx).await,
        AdminRequest::MfaReset { username } => mfa::reset(ctx, &username).await,
        AdminRequest::MfaSetMethod { username, method } => {
            mfa::set_method(ctx, &username, &method).await
        }
        AdminRequest::MfaReport(page) => mfa::report(ctx, &page).await,
        AdminRequest::MailLog {
            username,
            subject,
            limit,
        } => site::mail_log(ctx, username, subject, limit).await,
        AdminRequest::KeysRotate => clients::rotate_keys(ctx).await,
        // Streamed by the connection (see `admin_door::backup`), never answered in one frame.
        AdminRequest::Backup => Err(ProtoError::new(
            ErrorCode::Internal,
            "a backup is answered by the connection, not a handler",
        )),
    }
}

/// Which audit action a request is, about whom, with what (non-secret) detail. `None` for
/// requests that only read.
fn audit_entry(request: &AdminRequest) -> Option<(AuditAction, String, Option<String>)> {
    let entry = match request {
        AdminRequest::Status
        | AdminRequest::UserList(_)
        | AdminRequest::UserShow { .. }
        | AdminRequest::RoleList
        | AdminRequest::SiteShow
        | AdminRequest::Audit(_)
        | AdminRequest::ClientList
        | AdminRequest::ClientShow { .. }
        | AdminRequest::KeysList
        | AdminRequest::MfaReport(_)
        | AdminRequest::MailLog { .. }
        | AdminRequest::Backup
        // The engine audits invitations (sent, sent again, withdrawn) with what happened.
        | AdminRequest::UserInvite(_)
        | AdminRequest::UserReinvite { .. } => return None,
        AdminRequest::MfaReset { username } => (AuditAction::MfaReset, username.clone(), None),
        AdminRequest::UserRemovePasskey { username, passkey } => (
            AuditAction::PasskeyRemoved,
            username.clone(),
            Some(format!("passkey {passkey}")),
        ),
        AdminRequest::MfaSetMethod { username, method } => (
            AuditAction::MfaMethodChanged,
            username.clone(),
            Some(format!("method {method}")),
        ),
        AdminRequest::ClientAdd(spec) => (
            AuditAction::ClientCreated,
            spec.name.clone(),
            Some(format!(
                "{}; redirect URIs [{}]",
                match (spec.public, spec.require_pkce, spec.consent) {
                    (true, _, false) => "public",
                    (true, _, true) => "public, third-party (consent)",
                    (false, true, false) => "confidential, PKCE required",
                    (false, true, true) => "confidential, PKCE required, third-party (consent)",
                    (false, false, false) => "confidential",
                    (false, false, true) => "confidential, third-party (consent)",
                },
                spec.redirect_uris.join(", ")
            )),
        ),
        AdminRequest::ClientRotateSecret { name } => {
            (AuditAction::ClientSecretRotated, name.clone(), None)
        }
        AdminRequest::ClientSet {
            name,
            require_pkce,
            consent,
            device_flow,
        } => (
            AuditAction::ClientChanged,
            name.clone(),
            Some(
                [
                    require_pkce.map(|v| format!("require_pkce {v}")),
                    consent.map(|v| format!("consent {v}")),
                    device_flow.map(|v| format!("device_flow {v}")),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; "),
            )
            .filter(|d| !d.is_empty()),
        ),
        AdminRequest::ClientDelete { name } => (AuditAction::ClientDeleted, name.clone(), None),
        AdminRequest::KeysRotate => (AuditAction::KeysRotated, "signing keys".into(), None),
        AdminRequest::AdvanceClock { seconds } => (
            AuditAction::ClockAdvanced,
            "clock".into(),
            Some(format!("{seconds} s")),
        ),
        AdminRequest::UserAdd(new_user) => (
            AuditAction::UserCreated,
            new_user.username.clone(),
            Some(format!(
                "email {}; roles [{}]",
                new_user.email,
                new_user.roles.join(", ")
            )),
        ),
        AdminRequest::UserSetPassword { username, .. } => {
            (AuditAction::PasswordChanged, username.clone(), None)
        }
        AdminRequest::UserSetDisabled {
            username,
            disabled: true,
        } => (AuditAction::UserDisabled, username.clone(), None),
        AdminRequest::UserSetDisabled {
            username,
            disabled: false,
        } => (AuditAction::UserEnabled, username.clone(), None),
        AdminRequest::UserUnlock { username } => {
            (AuditAction::UserUnlocked, username.clone(), None)
        }
        AdminRequest::UserSetEmail {
            username,
            email,
            verified,
        } => (
            AuditAction::EmailChanged,
            username.clone(),
            Some(format!(
                "email {email}{}",
                if *verified { " (verified)" } else { "" }
            )),
        ),
        AdminRequest::UserDelete { username } => (AuditAction::UserDeleted, username.clone(), None),
        AdminRequest::UserAddRole { username, role } => (
            AuditAction::RoleGranted,
            username.clone(),
            Some(format!("role {role}")),
        ),
        AdminRequest::UserRemoveRole { username, role } => (
            AuditAction::RoleRevoked,
            username.clone(),
            Some(format!("role {role}")),
        ),
        AdminRequest::RoleAdd(spec) => (
            AuditAction::RoleCreated,
            spec.name.clone(),
            Some(format!(
                "require_mfa={} api_access={} require_phishing_resistant={}",
                spec.require_mfa, spec.api_access, spec.require_phishing_resistant
            )),
        ),
        AdminRequest::RoleSet {
            name,
            require_mfa,
            api_access,
            require_phishing_resistant,
        } => {
            let mut changes = Vec::new();
            if let Some(value) = require_phishing_resistant {
                changes.push(format!("require_phishing_resistant={value}"));
            }
            if let Some(value) = require_mfa {
                changes.push(format!("require_mfa={value}"));
            }
            if let Some(value) = api_access {
                changes.push(format!("api_access={value}"));
            }
            (
                AuditAction::RoleChanged,
                name.clone(),
                Some(changes.join(" ")),
            )
        }
        AdminRequest::RoleDelete { name } => (AuditAction::RoleDeleted, name.clone(), None),
        AdminRequest::SiteSet { key, value } => (
            AuditAction::SiteSettingChanged,
            key.clone(),
            Some(format!("{key}={value}")),
        ),
    };
    Some(entry)
}

fn done(message: String) -> Result<AdminReply, ProtoError> {
    Ok(AdminReply::Done { message })
}

fn invalid(message: &str) -> ProtoError {
    ProtoError::new(ErrorCode::InvalidInput, message)
}

fn validation(error: ValidationError) -> ProtoError {
    ProtoError::new(ErrorCode::InvalidInput, error.to_string())
}

fn internal(error: StoreError) -> ProtoError {
    tracing::error!(error = %error, "store failure while answering an admin request");
    ProtoError::new(ErrorCode::Internal, "internal error; see the daemon's log")
}

/// Maps store errors to wire errors. Failures inside the store are logged, not sent.
fn store_error(error: StoreError) -> ProtoError {
    let code = match &error {
        StoreError::AlreadyExists(_) => ErrorCode::AlreadyExists,
        StoreError::NotFound(_) => ErrorCode::NotFound,
        StoreError::Conflict(_) => ErrorCode::Conflict,
        StoreError::Invalid(_) => ErrorCode::InvalidInput,
        // The reason (a full disk, a database that went away) is the administrator's to act on.
        StoreError::CannotWrite(_) | StoreError::Unavailable(_) => {
            tracing::error!(error = %error, "store failure while answering an admin request");
            ErrorCode::Internal
        }
        _ => return internal(error),
    };
    ProtoError::new(code, error.to_string())
}
