//! Consent to third-party applications. A client registered with `--consent` gets a code only
//! once the user has allowed the scopes it asks for; the grant is remembered per client and
//! scope set, and revoking it also ends what the client was given (its refresh tokens).

use crate::audit::{AuditAction, AuditDoor, AuditEvent, Outcome};
use crate::context::Context;
use crate::model::consent::ConsentGrant;
use crate::model::grants::{AuthorizationRequest, TokenFamily};
use crate::model::{Client, User, UserId};
use crate::store::{Change, StoreError};

/// Whether the user must be asked before `client` gets a code for `request`: a third-party
/// client whose remembered grant does not cover the scopes, or a request with
/// `prompt=consent`.
pub async fn needed(
    ctx: &Context,
    client: &Client,
    user: UserId,
    request: &AuthorizationRequest,
) -> Result<bool, StoreError> {
    if !client.consent {
        return Ok(false);
    }
    if request.prompt_consent {
        return Ok(true);
    }
    Ok(!ctx
        .store
        .consent(user, &client.id)
        .await?
        .is_some_and(|grant| grant.covers(&request.scopes)))
}

/// Records that the user allowed `client` these scopes (joined to what they allowed before).
pub async fn allow(
    ctx: &Context,
    user: &User,
    client: &Client,
    scopes: &[String],
    source: &str,
) -> Result<(), StoreError> {
    let mut all = ctx
        .store
        .consent(user.id, &client.id)
        .await?
        .map(|grant| grant.scopes)
        .unwrap_or_default();
    all.extend(scopes.iter().cloned());
    let grant = ConsentGrant {
        client_id: client.id.clone(),
        scopes: all,
        granted_at: ctx.clock.unix_now(),
    };
    ctx.store.put_consent(user.id, &grant).await?;
    audit(
        ctx,
        user,
        AuditAction::ConsentGranted,
        source,
        format!(
            "client {}; scopes {}",
            client.name,
            grant.scopes.iter().cloned().collect::<Vec<_>>().join(" ")
        ),
    )
    .await
}

/// Forgets the user's grant to a client and revokes every token family the client holds for
/// them, so its refresh tokens stop working at once. Whether there was a grant.
pub async fn revoke(
    ctx: &Context,
    user: &User,
    client_id: &str,
    source: &str,
) -> Result<bool, StoreError> {
    if !ctx.store.remove_consent(user.id, client_id).await? {
        return Ok(false);
    }
    let now = ctx.clock.unix_now();
    let families = ctx.store.token_families();
    for (key, family) in families.all(now).await? {
        if family.user_id == user.id && family.client_id == client_id && !family.revoked {
            families
                .update(&key, now, &mut |family| {
                    Change::Replace(TokenFamily {
                        revoked: true,
                        ..family.clone()
                    })
                })
                .await?;
        }
    }
    let name = ctx
        .store
        .client(client_id)
        .await?
        .map_or_else(|| client_id.to_owned(), |c| c.name);
    audit(
        ctx,
        user,
        AuditAction::ConsentRevoked,
        source,
        format!("client {name}; its tokens revoked"),
    )
    .await?;
    Ok(true)
}

async fn audit(
    ctx: &Context,
    user: &User,
    action: AuditAction,
    source: &str,
    detail: String,
) -> Result<(), StoreError> {
    ctx.record(
        AuditEvent::new(
            ctx.clock.unix_now(),
            &user.username,
            action,
            AuditDoor::Web,
            source,
            Outcome::Success,
        )
        .subject(&user.username)
        .detail(detail),
    )
    .await
}
