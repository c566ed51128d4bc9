//! Users and roles.

use super::{done, invalid, store_error, validation};
use crate::admin_door::views;
use crate::context::Context;
use crate::engine::credentials;
use crate::engine::invitations;
use crate::factors::password;
use crate::model::{self, Role, User, UserId};
use crate::store::StoreError;
use postern_proto::admin::{
    AdminReply, Invitation, NewUser, PAGE_DEFAULT, PAGE_MAX, PageRequest, RoleSpec,
};
use postern_proto::{ErrorCode, ProtoError, Secret};
use std::collections::BTreeSet;

pub async fn add_user(ctx: &Context, new_user: NewUser) -> Result<AdminReply, ProtoError> {
    let mut user = new_account(
        ctx,
        new_user.username,
        new_user.email,
        new_user.display_name,
        new_user.roles,
    )
    .await?;
    user.password_hash = checked_hash(ctx, &new_user.password).await?;
    ctx.store.insert_user(&user).await.map_err(store_error)?;
    Ok(AdminReply::User(user_view(ctx, user).await?))
}

/// Invites a new user: created without a password, mailed a code to choose one.
pub async fn invite_user(ctx: &Context, invitation: Invitation) -> Result<AdminReply, ProtoError> {
    let user = new_account(
        ctx,
        invitation.username,
        invitation.email,
        invitation.display_name,
        invitation.roles,
    )
    .await?;
    let sent = invitations::invite(ctx, user, "admin")
        .await
        .map_err(engine_error)?;
    done(invited(&sent))
}

/// Mails a new invitation (the last code stops working), or withdraws it.
pub async fn reinvite(
    ctx: &Context,
    username: &str,
    revoke: bool,
) -> Result<AdminReply, ProtoError> {
    let user = find_user(ctx, username).await?;
    if revoke {
        invitations::revoke(ctx, &user, "admin")
            .await
            .map_err(engine_error)?;
        return done(format!(
            "invitation of `{}` withdrawn; the user is deleted",
            user.username
        ));
    }
    let sent = invitations::resend(ctx, &user, "admin")
        .await
        .map_err(engine_error)?;
    done(invited(&sent))
}

fn invited(sent: &invitations::Sent) -> String {
    if sent.delivered {
        format!(
            "invitation mailed to {}; the code works until {}",
            sent.to,
            crate::clock::format_unix(sent.expires_at)
        )
    } else {
        format!(
            "the invitation to {} could not be mailed: see `postern mail log`; `postern user invite NAME --resend` tries again",
            sent.to
        )
    }
}

fn engine_error(error: crate::engine::EngineError) -> ProtoError {
    match error {
        crate::engine::EngineError::Refused(message) => {
            ProtoError::new(ErrorCode::Conflict, message)
        }
        crate::engine::EngineError::Store(e) => store_error(e),
        other => {
            tracing::error!(error = %other, "invitation failed");
            ProtoError::new(ErrorCode::Internal, "internal error; see the daemon's log")
        }
    }
}

/// A new account, checked (names, address, roles; the name not taken), without a password.
async fn new_account(
    ctx: &Context,
    username: String,
    email: String,
    display_name: Option<String>,
    roles: Vec<String>,
) -> Result<User, ProtoError> {
    model::validate_username(&username).map_err(validation)?;
    model::validate_email(&email).map_err(validation)?;
    if let Some(name) = &display_name {
        model::validate_display_name(name).map_err(validation)?;
    }
    let roles: BTreeSet<String> = roles.into_iter().collect();
    for role in &roles {
        model::validate_role_name(role).map_err(validation)?;
    }
    // Cheap checks first, so a taken name does not cost an Argon2 hash.
    if let Some(existing) = ctx
        .store
        .user_by_name(&username)
        .await
        .map_err(store_error)?
    {
        return Err(ProtoError::new(
            ErrorCode::AlreadyExists,
            format!(
                "username `{}` is taken by `{}` (usernames ignore case)",
                username, existing.username
            ),
        ));
    }
    let now = ctx.clock.unix_now();
    Ok(User {
        id: UserId::random(),
        username,
        email,
        display_name,
        password_hash: String::new(),
        roles,
        disabled: false,
        created_at: now,
        password_changed_at: now,
        last_login_at: None,
        email_verified: false,
        session_generation: 0,
        mfa: None,
        invited_at: None,
        known_browsers: Vec::new(),
    })
}

pub async fn add_role(ctx: &Context, spec: RoleSpec) -> Result<AdminReply, ProtoError> {
    model::validate_role_name(&spec.name).map_err(validation)?;
    let role = Role {
        name: spec.name,
        require_mfa: spec.require_mfa || spec.require_phishing_resistant,
        api_access: spec.api_access,
        require_phishing_resistant: spec.require_phishing_resistant,
    };
    ctx.store.insert_role(&role).await.map_err(store_error)?;
    Ok(AdminReply::Role(views::role(role, 0)))
}

pub async fn find_user(ctx: &Context, username: &str) -> Result<User, ProtoError> {
    ctx.store
        .user_by_name(username)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            ProtoError::new(
                ErrorCode::NotFound,
                format!("user `{username}` does not exist"),
            )
        })
}

pub async fn update_user(
    ctx: &Context,
    id: UserId,
    change: impl FnMut(&mut User) -> Result<(), StoreError> + Send,
) -> Result<User, ProtoError> {
    ctx.store
        .update_user(id, Box::new(change))
        .await
        .map_err(store_error)
}

/// Checks a new password against the site policy and hashes it.
pub async fn checked_hash(ctx: &Context, secret: &Secret) -> Result<String, ProtoError> {
    let settings = ctx.store.site_settings().await.map_err(store_error)?;
    password::check_policy(secret.expose(), settings.password_min_length).map_err(validation)?;
    password::hash_off_runtime(secret.expose())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            ProtoError::new(ErrorCode::Internal, "internal error; see the daemon's log")
        })
}

/// One page of users, in username order.
pub async fn list_users(ctx: &Context, page: &PageRequest) -> Result<AdminReply, ProtoError> {
    let limit = page.limit.unwrap_or(PAGE_DEFAULT);
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(invalid(&format!(
            "a page holds 1 to {PAGE_MAX} users, not {limit}"
        )));
    }
    let (users, next) = ctx
        .store
        .users_page(page.after.as_deref(), limit as usize)
        .await
        .map_err(store_error)?;
    let mut views = Vec::with_capacity(users.len());
    for user in users {
        views.push(user_view(ctx, user).await?);
    }
    Ok(AdminReply::Users { users: views, next })
}

pub async fn set_password(
    ctx: &Context,
    username: &str,
    password: &Secret,
) -> Result<AdminReply, ProtoError> {
    let id = find_user(ctx, username).await?.id;
    let hash = checked_hash(ctx, password).await?;
    credentials::set_password(ctx, id, hash)
        .await
        .map_err(store_error)?;
    done(format!("password of {username} changed"))
}

pub async fn set_email(
    ctx: &Context,
    username: &str,
    email: &str,
    verified: bool,
) -> Result<AdminReply, ProtoError> {
    model::validate_email(email).map_err(validation)?;
    let id = find_user(ctx, username).await?.id;
    update_user(ctx, id, |user| {
        if user.email != email {
            user.email = email.to_owned();
            user.email_verified = false;
        }
        user.email_verified |= verified;
        Ok(())
    })
    .await?;
    let user = find_user(ctx, username).await?;
    Ok(AdminReply::User(user_view(ctx, user).await?))
}

pub async fn set_disabled(
    ctx: &Context,
    username: &str,
    disabled: bool,
) -> Result<AdminReply, ProtoError> {
    let id = find_user(ctx, username).await?.id;
    update_user(ctx, id, |user| {
        user.disabled = disabled;
        // Disabling ends every session for good: enabling the account again does not bring
        // them back.
        if disabled {
            user.session_generation += 1;
        }
        Ok(())
    })
    .await?;
    done(format!(
        "{username} {}",
        if disabled { "disabled" } else { "enabled" }
    ))
}

pub async fn delete_user(ctx: &Context, username: &str) -> Result<AdminReply, ProtoError> {
    let id = find_user(ctx, username).await?.id;
    credentials::delete_user(ctx, id)
        .await
        .map_err(store_error)?;
    done(format!("user {username} deleted"))
}

pub async fn grant_role(
    ctx: &Context,
    username: &str,
    role: &str,
) -> Result<AdminReply, ProtoError> {
    let id = find_user(ctx, username).await?.id;
    update_user(ctx, id, |user| {
        if !user.roles.insert(role.to_owned()) {
            return Err(StoreError::Conflict(format!(
                "{username} already has role `{role}`"
            )));
        }
        Ok(())
    })
    .await?;
    done(format!("{username} now has role {role}"))
}

pub async fn revoke_role(
    ctx: &Context,
    username: &str,
    role: &str,
) -> Result<AdminReply, ProtoError> {
    let id = find_user(ctx, username).await?.id;
    update_user(ctx, id, |user| {
        if !user.roles.remove(role) {
            return Err(StoreError::NotFound(format!("role `{role}` on {username}")));
        }
        Ok(())
    })
    .await?;
    done(format!("{username} no longer has role {role}"))
}

pub async fn set_role(
    ctx: &Context,
    name: &str,
    require_mfa: Option<bool>,
    api_access: Option<bool>,
    require_phishing_resistant: Option<bool>,
) -> Result<AdminReply, ProtoError> {
    if require_mfa.is_none() && api_access.is_none() && require_phishing_resistant.is_none() {
        return Err(invalid(
            "nothing to change: give --require-mfa, --api-access or --require-phishing-resistant",
        ));
    }
    let role = ctx
        .store
        .update_role(
            name,
            Box::new(|role| {
                role.require_mfa = require_mfa.unwrap_or(role.require_mfa);
                role.api_access = api_access.unwrap_or(role.api_access);
                role.require_phishing_resistant =
                    require_phishing_resistant.unwrap_or(role.require_phishing_resistant);
                Ok(())
            }),
        )
        .await
        .map_err(store_error)?;
    let members = ctx
        .store
        .role_members(name)
        .await
        .map_err(store_error)?
        .len() as u64;
    Ok(AdminReply::Role(views::role(role, members)))
}

pub async fn list_roles(ctx: &Context) -> Result<AdminReply, ProtoError> {
    let mut roles = Vec::new();
    for role in ctx.store.roles().await.map_err(store_error)? {
        let members = ctx
            .store
            .role_members(&role.name)
            .await
            .map_err(store_error)?
            .len() as u64;
        roles.push(views::role(role, members));
    }
    Ok(AdminReply::Roles(roles))
}

/// A user as an administrator sees them, with any brute-force lock and their MFA state.
pub async fn user_view(
    ctx: &Context,
    user: User,
) -> Result<postern_proto::admin::UserView, ProtoError> {
    let locked_until = ctx
        .limiter
        .account_locked_until(&user.username, ctx.clock.unix_now())
        .await
        .map_err(store_error)?;
    let settings = ctx.store.site_settings().await.unwrap_or_default();
    let roles = ctx.store.roles_of(&user).await.unwrap_or_default();
    let mfa = postern_proto::admin::MfaView {
        enabled: user.mfa.as_ref().is_some_and(|m| m.is_usable(&settings)),
        method: user.mfa.as_ref().map(|m| m.method.to_string()),
        required: model::mfa::mfa_required(&roles),
        recovery_codes_left: user
            .mfa
            .as_ref()
            .map_or(0, |m| m.recovery_codes.len() as u32),
        passkeys: user
            .mfa
            .iter()
            .flat_map(|m| &m.passkeys)
            .map(|p| postern_proto::admin::PasskeyView {
                id: p.id.clone(),
                name: p.name.clone(),
                created_at: p.created_at,
                last_used_at: p.last_used_at,
                aaguid: p.aaguid.map(|a| a.to_string()),
            })
            .collect(),
    };
    Ok(views::user(user, locked_until, mfa))
}

pub async fn unlock(ctx: &Context, username: &str) -> Result<AdminReply, ProtoError> {
    let user = find_user(ctx, username).await?;
    ctx.limiter
        .unlock_account(&user.username)
        .await
        .map_err(store_error)?;
    done(format!("{} unlocked", user.username))
}
