//! Daemon status, site settings and the audit trail.

use super::{done, store_error};
use crate::admin_door::views;
use crate::context::Context;
use crate::model;
use postern_proto::admin::{AdminReply, AuditQuery, SiteSettingView, StatusView};
use postern_proto::{ErrorCode, ProtoError};

const AUDIT_DEFAULT_LIMIT: u32 = 100;
const AUDIT_MAX_LIMIT: u32 = 10_000;

pub async fn status(ctx: &Context) -> StatusView {
    let now = ctx.clock.unix_now();
    StatusView {
        version: env!("CARGO_PKG_VERSION").into(),
        pid: std::process::id(),
        started_at: ctx.started_at,
        uptime_seconds: now.saturating_sub(ctx.started_at),
        clock: now,
        state_dir: ctx.config.state_dir.display().to_string(),
        http_listen: ctx.http_addr.to_string(),
        metrics_listen: ctx.metrics_addr.map(|addr| addr.to_string()),
        users: ctx.store.user_count().await.unwrap_or_else(|error| {
            tracing::error!(%error, "cannot read the user count");
            0
        }),
        roles: ctx.store.role_count().await.unwrap_or_else(|error| {
            tracing::error!(%error, "cannot read the role count");
            0
        }),
        audit_events: ctx.store.audit_log().count().await.unwrap_or_else(|error| {
            tracing::error!(%error, "cannot read the audit trail's length");
            0
        }),
    }
}

pub async fn audit_events(ctx: &Context, query: AuditQuery) -> Result<AdminReply, ProtoError> {
    let limit = query
        .limit
        .unwrap_or(AUDIT_DEFAULT_LIMIT)
        .clamp(1, AUDIT_MAX_LIMIT) as usize;
    let wanted = query.username.map(|name| model::normalize_username(&name));
    let events = ctx
        .store
        .audit_log()
        .newest(query.since.unwrap_or(0), limit, &|event| match &wanted {
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
        .await
        .map_err(store_error)?;
    Ok(AdminReply::Audit(
        events.into_iter().map(views::audit).collect(),
    ))
}

pub fn site_view(settings: &model::SiteSettings) -> Vec<SiteSettingView> {
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

pub async fn show(ctx: &Context) -> Result<AdminReply, ProtoError> {
    let settings = ctx.store.site_settings().await.map_err(store_error)?;
    Ok(AdminReply::Site(site_view(&settings)))
}

pub async fn set(ctx: &Context, key: &str, value: &str) -> Result<AdminReply, ProtoError> {
    let settings = ctx
        .store
        .update_site_settings(Box::new(|settings| Ok(settings.set(key, value)?)))
        .await
        .map_err(store_error)?;
    Ok(AdminReply::Site(site_view(&settings)))
}

pub async fn advance_clock(ctx: &Context, seconds: u64) -> Result<AdminReply, ProtoError> {
    let Some(clock) = &ctx.test_clock else {
        return Err(ProtoError::new(
            ErrorCode::PermissionDenied,
            "the clock can be moved only when testing.adjustable_clock is on",
        ));
    };
    clock.advance(seconds);
    done(format!("clock moved forward by {seconds} s"))
}

pub async fn mail_log(
    ctx: &Context,
    username: Option<String>,
    subject: Option<String>,
    limit: Option<u32>,
) -> Result<AdminReply, ProtoError> {
    let limit = limit
        .unwrap_or(AUDIT_DEFAULT_LIMIT)
        .clamp(1, AUDIT_MAX_LIMIT) as usize;
    let username = username.map(|u| model::normalize_username(&u));
    let subject = subject.map(|s| s.to_lowercase());
    let records = ctx
        .store
        .mail_log()
        .newest(0, limit, &|record| {
            username
                .as_ref()
                .is_none_or(|u| model::normalize_username(&record.username) == *u)
                && subject
                    .as_ref()
                    .is_none_or(|s| record.subject.to_lowercase().contains(s.as_str()))
        })
        .await
        .map_err(store_error)?;
    Ok(AdminReply::Mail(
        records
            .into_iter()
            .map(|r| postern_proto::admin::MailView {
                at: r.at,
                to: r.to,
                username: r.username,
                subject: r.subject,
                status: if r.delivered { "sent" } else { "failed" }.into(),
                error: r.error,
            })
            .collect(),
    ))
}
