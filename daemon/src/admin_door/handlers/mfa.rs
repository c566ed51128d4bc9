//! Administrators' MFA commands: the lost-phone reset, changing a method, the report.

use super::accounts::{find_user, list_users, update_user};
use super::{done, store_error};
use crate::context::Context;
use crate::engine::passkeys::{self, RemovedBy};
use crate::engine::{EngineError, credentials};
use crate::model::MfaMethod;
use crate::model::mfa::MfaEnrolment;
use postern_proto::admin::{AdminReply, PageRequest};
use postern_proto::{ErrorCode, ProtoError};

pub async fn reset(ctx: &Context, username: &str) -> Result<AdminReply, ProtoError> {
    let user = find_user(ctx, username).await?;
    credentials::remove_second_factor(ctx, user.id)
        .await
        .map_err(store_error)?;
    done(format!(
        "MFA of {} is off, their recovery codes and remembered devices are void; they enrol again at their next sign-in",
        user.username
    ))
}

pub async fn remove_passkey(
    ctx: &Context,
    username: &str,
    passkey: &str,
) -> Result<AdminReply, ProtoError> {
    let user = find_user(ctx, username).await?;
    let removed = passkeys::remove(ctx, user.id, passkey, RemovedBy::Administrator)
        .await
        .map_err(|e| match e {
            EngineError::Refused(message) => ProtoError::new(ErrorCode::NotFound, message),
            other => ProtoError::new(ErrorCode::Internal, other.to_string()),
        })?;
    done(format!(
        "passkey `{}` removed from {}",
        removed.name, user.username
    ))
}

pub async fn set_method(
    ctx: &Context,
    username: &str,
    method: &str,
) -> Result<AdminReply, ProtoError> {
    let method = match method {
        "totp" => MfaMethod::Totp,
        "email" => MfaMethod::Email,
        other => {
            return Err(ProtoError::new(
                ErrorCode::InvalidInput,
                format!("`{other}` is not a method; use totp or email"),
            ));
        }
    };
    let settings = ctx.store.site_settings().await.map_err(store_error)?;
    if !settings.mfa_methods.contains(&method) {
        return Err(ProtoError::new(
            ErrorCode::Conflict,
            format!(
                "this site does not offer {}; offer them first with `postern site set mfa.methods totp,email`",
                match method {
                    MfaMethod::Totp => "authenticator apps",
                    MfaMethod::Email | MfaMethod::Webauthn => "email codes",
                }
            ),
        ));
    }
    let user = find_user(ctx, username).await?;
    let now = ctx.clock.unix_now();
    update_user(ctx, user.id, |u| {
        let (recovery_codes, passkeys) = u
            .mfa
            .take()
            .map(|m| (m.recovery_codes, m.passkeys))
            .unwrap_or_default();
        // A change of method drops the old app's seed: switching to TOTP means enrolling anew.
        // Passkeys stay: they are not the method.
        u.mfa = Some(MfaEnrolment {
            method,
            totp: None,
            recovery_codes,
            enrolled_at: now,
            passkeys,
        });
        Ok(())
    })
    .await?;
    done(match method {
        MfaMethod::Totp => format!(
            "{} will enrol an authenticator app at their next sign-in",
            user.username
        ),
        MfaMethod::Email | MfaMethod::Webauthn => format!(
            "{} will be sent a code at {} at each sign-in, starting with the next",
            user.username, user.email
        ),
    })
}

pub async fn report(ctx: &Context, page: &PageRequest) -> Result<AdminReply, ProtoError> {
    list_users(ctx, page).await
}
