//! One function per admin request: validate, change the store, answer. Every request that
//! changes something is audited (with its outcome) and flushed before the answer goes out.

use super::peer::Caller;
use super::views;
use crate::audit::{AuditAction, AuditEvent, Outcome};
use crate::context::Context;
use crate::factors::password;
use crate::model::{self, Role, User, UserId, ValidationError};
use crate::store::StoreError;
use postern_proto::admin::{
    AdminReply, AdminRequest, AuditQuery, NewUser, RoleSpec, SiteSettingView, StatusView,
};
use postern_proto::{ErrorCode, ProtoError, Secret};
use std::collections::BTreeSet;

const AUDIT_DEFAULT_LIMIT: u32 = 100;
const AUDIT_MAX_LIMIT: u32 = 10_000;

/// Answers one request from an authorised administrator.
pub fn handle(
    ctx: &Context,
    caller: &Caller,
    request: AdminRequest,
) -> Result<AdminReply, ProtoError> {
    let audited = audit_entry(&request);
    let result = dispatch(ctx, request);
    if let Some((action, subject, detail)) = audited {
        let (outcome, detail) = match &result {
            Ok(_) => (Outcome::Success, detail),
            Err(error) => (Outcome::Failure, Some(error.message.clone())),
        };
        let event = AuditEvent {
            at: ctx.clock.unix_now(),
            actor: format!("admin {caller}"),
            action,
            subject: Some(subject),
            source: "admin socket".into(),
            outcome,
            detail,
        };
        // Not answering "done" for a change that is not durable, or not audited.
        ctx.record(event)
            .and_then(|()| ctx.store.flush())
            .map_err(internal)?;
    }
    result
}

fn dispatch(ctx: &Context, request: AdminRequest) -> Result<AdminReply, ProtoError> {
    let store = &ctx.store;
    match request {
        AdminRequest::Status => Ok(AdminReply::Status(status(ctx))),
        AdminRequest::UserAdd(new_user) => add_user(ctx, new_user),
        AdminRequest::UserList => {
            let users = store.users().map_err(store_error)?;
            Ok(AdminReply::Users(
                users.into_iter().map(views::user).collect(),
            ))
        }
        AdminRequest::UserShow { username } => {
            Ok(AdminReply::User(views::user(find_user(ctx, &username)?)))
        }
        AdminRequest::UserSetPassword { username, password } => {
            let id = find_user(ctx, &username)?.id;
            let hash = checked_hash(ctx, &password)?;
            let now = ctx.clock.unix_now();
            update_user(ctx, id, |user| {
                user.password_hash = hash;
                user.password_changed_at = now;
                Ok(())
            })?;
            done(format!("password of {username} changed"))
        }
        AdminRequest::UserSetDisabled { username, disabled } => {
            let id = find_user(ctx, &username)?.id;
            update_user(ctx, id, |user| {
                user.disabled = disabled;
                Ok(())
            })?;
            done(format!(
                "{username} {}",
                if disabled { "disabled" } else { "enabled" }
            ))
        }
        AdminRequest::UserDelete { username } => {
            let id = find_user(ctx, &username)?.id;
            store.delete_user(id).map_err(store_error)?;
            done(format!("user {username} deleted"))
        }
        AdminRequest::UserAddRole { username, role } => {
            let id = find_user(ctx, &username)?.id;
            update_user(ctx, id, |user| {
                if !user.roles.insert(role.clone()) {
                    return Err(StoreError::Conflict(format!(
                        "{username} already has role `{role}`"
                    )));
                }
                Ok(())
            })?;
            done(format!("{username} now has role {role}"))
        }
        AdminRequest::UserRemoveRole { username, role } => {
            let id = find_user(ctx, &username)?.id;
            update_user(ctx, id, |user| {
                if !user.roles.remove(&role) {
                    return Err(StoreError::NotFound(format!("role `{role}` on {username}")));
                }
                Ok(())
            })?;
            done(format!("{username} no longer has role {role}"))
        }
        AdminRequest::RoleAdd(spec) => add_role(ctx, spec),
        AdminRequest::RoleSet {
            name,
            require_mfa,
            api_access,
        } => {
            if require_mfa.is_none() && api_access.is_none() {
                return Err(invalid(
                    "nothing to change: give --require-mfa and/or --api-access",
                ));
            }
            let role = store
                .update_role(&name, |role| {
                    role.require_mfa = require_mfa.unwrap_or(role.require_mfa);
                    role.api_access = api_access.unwrap_or(role.api_access);
                })
                .map_err(store_error)?;
            let members = store.role_members(&name).map_err(store_error)?.len() as u64;
            Ok(AdminReply::Role(views::role(role, members)))
        }
        AdminRequest::RoleList => {
            let mut roles = Vec::new();
            for role in store.roles().map_err(store_error)? {
                let members = store.role_members(&role.name).map_err(store_error)?.len() as u64;
                roles.push(views::role(role, members));
            }
            Ok(AdminReply::Roles(roles))
        }
        AdminRequest::RoleDelete { name } => {
            store.delete_role(&name).map_err(store_error)?;
            done(format!("role {name} deleted"))
        }
        AdminRequest::SiteShow => Ok(AdminReply::Site(site_view(
            &store.site_settings().map_err(store_error)?,
        ))),
        AdminRequest::SiteSet { key, value } => {
            let settings = store
                .update_site_settings(|settings| Ok(settings.set(&key, &value)?))
                .map_err(store_error)?;
            Ok(AdminReply::Site(site_view(&settings)))
        }
        AdminRequest::Audit(query) => audit_events(ctx, query),
    }
}

/// Which audit action a request is, about whom, with what (non-secret) detail. `None` for
/// requests that only read.
fn audit_entry(request: &AdminRequest) -> Option<(AuditAction, String, Option<String>)> {
    let entry = match request {
        AdminRequest::Status
        | AdminRequest::UserList
        | AdminRequest::UserShow { .. }
        | AdminRequest::RoleList
        | AdminRequest::SiteShow
        | AdminRequest::Audit(_) => return None,
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
                "require_mfa={} api_access={}",
                spec.require_mfa, spec.api_access
            )),
        ),
        AdminRequest::RoleSet {
            name,
            require_mfa,
            api_access,
        } => {
            let mut changes = Vec::new();
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

fn status(ctx: &Context) -> StatusView {
    let now = ctx.clock.unix_now();
    StatusView {
        version: env!("CARGO_PKG_VERSION").into(),
        pid: std::process::id(),
        started_at: ctx.started_at,
        uptime_seconds: now.saturating_sub(ctx.started_at),
        state_dir: ctx.config.state_dir.display().to_string(),
        http_listen: ctx.http_addr.to_string(),
        users: ctx.store.user_count(),
        roles: ctx.store.role_count(),
        audit_events: ctx.store.audit_count(),
    }
}

fn add_user(ctx: &Context, new_user: NewUser) -> Result<AdminReply, ProtoError> {
    model::validate_username(&new_user.username).map_err(validation)?;
    model::validate_email(&new_user.email).map_err(validation)?;
    if let Some(name) = &new_user.display_name {
        model::validate_display_name(name).map_err(validation)?;
    }
    let roles: BTreeSet<String> = new_user.roles.into_iter().collect();
    for role in &roles {
        model::validate_role_name(role).map_err(validation)?;
    }
    // Cheap checks first, so a taken name does not cost an Argon2 hash.
    if let Some(existing) = ctx
        .store
        .user_by_name(&new_user.username)
        .map_err(store_error)?
    {
        return Err(ProtoError::new(
            ErrorCode::AlreadyExists,
            format!(
                "username `{}` is taken by `{}` (usernames ignore case)",
                new_user.username, existing.username
            ),
        ));
    }
    let password_hash = checked_hash(ctx, &new_user.password)?;
    let now = ctx.clock.unix_now();
    let user = User {
        id: UserId::random(),
        username: new_user.username,
        email: new_user.email,
        display_name: new_user.display_name,
        password_hash,
        roles,
        disabled: false,
        created_at: now,
        password_changed_at: now,
        last_login_at: None,
    };
    ctx.store.insert_user(&user).map_err(store_error)?;
    Ok(AdminReply::User(views::user(user)))
}

fn add_role(ctx: &Context, spec: RoleSpec) -> Result<AdminReply, ProtoError> {
    model::validate_role_name(&spec.name).map_err(validation)?;
    let role = Role {
        name: spec.name,
        require_mfa: spec.require_mfa,
        api_access: spec.api_access,
    };
    ctx.store.insert_role(&role).map_err(store_error)?;
    Ok(AdminReply::Role(views::role(role, 0)))
}

fn audit_events(ctx: &Context, query: AuditQuery) -> Result<AdminReply, ProtoError> {
    let limit = query
        .limit
        .unwrap_or(AUDIT_DEFAULT_LIMIT)
        .clamp(1, AUDIT_MAX_LIMIT) as usize;
    let wanted = query.username.map(|name| model::normalize_username(&name));
    let events = ctx
        .store
        .audit_events(query.since.unwrap_or(0), limit, |event| match &wanted {
            None => true,
            Some(name) => {
                event
                    .subject
                    .as_deref()
                    .map(model::normalize_username)
                    .as_ref()
                    == Some(name)
                    || model::normalize_username(&event.actor) == *name
            }
        })
        .map_err(store_error)?;
    Ok(AdminReply::Audit(
        events.into_iter().map(views::audit).collect(),
    ))
}

fn site_view(settings: &model::SiteSettings) -> Vec<SiteSettingView> {
    settings
        .describe()
        .into_iter()
        .map(|(key, value, description)| SiteSettingView {
            key: key.into(),
            value,
            description: description.into(),
        })
        .collect()
}

fn find_user(ctx: &Context, username: &str) -> Result<User, ProtoError> {
    ctx.store
        .user_by_name(username)
        .map_err(store_error)?
        .ok_or_else(|| {
            ProtoError::new(
                ErrorCode::NotFound,
                format!("user `{username}` does not exist"),
            )
        })
}

fn update_user(
    ctx: &Context,
    id: UserId,
    change: impl FnOnce(&mut User) -> Result<(), StoreError>,
) -> Result<User, ProtoError> {
    ctx.store.update_user(id, change).map_err(store_error)
}

/// Checks a new password against the site policy and hashes it.
fn checked_hash(ctx: &Context, secret: &Secret) -> Result<String, ProtoError> {
    let settings = ctx.store.site_settings().map_err(store_error)?;
    password::check_policy(secret.expose(), settings.password_min_length).map_err(validation)?;
    password::hash(secret.expose()).map_err(|e| {
        tracing::error!(error = %e, "password hashing failed");
        ProtoError::new(ErrorCode::Internal, "internal error; see the daemon's log")
    })
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
        _ => return internal(error),
    };
    ProtoError::new(code, error.to_string())
}
