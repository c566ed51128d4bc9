//! OIDC clients and signing keys.

use super::{done, store_error, validation};
use crate::admin_door::views;
use crate::context::Context;
use crate::model::{self, Client, SigningAlg};
use crate::secrets::{random_token, token_hash};
use postern_proto::admin::{AdminReply, ClientSpec};
use postern_proto::{ErrorCode, ProtoError, Secret};

pub async fn add(ctx: &Context, spec: ClientSpec) -> Result<AdminReply, ProtoError> {
    model::validate_role_name(&spec.name).map_err(|e| {
        ProtoError::new(
            ErrorCode::InvalidInput,
            format!("client name: {}", e.message),
        )
    })?;
    if spec.redirect_uris.is_empty() {
        return Err(ProtoError::new(
            ErrorCode::InvalidInput,
            "give at least one --redirect-uri",
        ));
    }
    for uri in spec
        .redirect_uris
        .iter()
        .chain(&spec.post_logout_redirect_uris)
    {
        model::validate_redirect_uri(uri).map_err(validation)?;
    }
    let signing_alg = match spec.signing_alg.as_deref() {
        None => SigningAlg::RS256,
        Some(text) => SigningAlg::parse(text).ok_or_else(|| {
            ProtoError::new(
                ErrorCode::InvalidInput,
                format!("signing algorithm `{text}` is not RS256, EdDSA or ES256"),
            )
        })?,
    };
    let secret = (!spec.public).then(random_token);
    let client = Client {
        id: random_token().chars().take(24).collect(),
        name: spec.name,
        secret_hash: secret.as_deref().map(token_hash),
        redirect_uris: spec.redirect_uris,
        post_logout_redirect_uris: spec.post_logout_redirect_uris,
        signing_alg,
        require_pkce: spec.require_pkce,
        consent: spec.consent,
        device_flow: spec.device_flow,
        created_at: ctx.clock.unix_now(),
    };
    ctx.store
        .insert_client(&client)
        .await
        .map_err(store_error)?;
    Ok(AdminReply::ClientSecret {
        client: views::client(client),
        client_secret: secret.map(Secret::new),
    })
}

pub async fn find(ctx: &Context, name: &str) -> Result<Client, ProtoError> {
    ctx.store
        .client_by_name(name)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            ProtoError::new(
                ErrorCode::NotFound,
                format!("client `{name}` does not exist"),
            )
        })
}

pub async fn list(ctx: &Context) -> Result<AdminReply, ProtoError> {
    let clients = ctx.store.clients().await.map_err(store_error)?;
    Ok(AdminReply::Clients(
        clients.into_iter().map(views::client).collect(),
    ))
}

/// Changes a client's settings; each `None` is left as it is.
pub async fn set(
    ctx: &Context,
    name: &str,
    require_pkce: Option<bool>,
    consent: Option<bool>,
    device_flow: Option<bool>,
) -> Result<AdminReply, ProtoError> {
    let client = find(ctx, name).await?;
    if require_pkce == Some(false) && client.is_public() {
        return Err(ProtoError::new(
            ErrorCode::Conflict,
            format!("client `{name}` is public: it must always use PKCE"),
        ));
    }
    let client = ctx
        .store
        .update_client(
            &client.id,
            Box::new(|client| {
                if let Some(required) = require_pkce {
                    client.require_pkce = required;
                }
                if let Some(consent) = consent {
                    client.consent = consent;
                }
                if let Some(device_flow) = device_flow {
                    client.device_flow = device_flow;
                }
                Ok(())
            }),
        )
        .await
        .map_err(store_error)?;
    Ok(AdminReply::Client(views::client(client)))
}

pub async fn rotate_secret(ctx: &Context, name: &str) -> Result<AdminReply, ProtoError> {
    let client = find(ctx, name).await?;
    if client.is_public() {
        return Err(ProtoError::new(
            ErrorCode::Conflict,
            format!("client `{name}` is public and has no secret"),
        ));
    }
    let secret = random_token();
    let client = ctx
        .store
        .update_client(
            &client.id,
            Box::new(|client| {
                client.secret_hash = Some(token_hash(&secret));
                Ok(())
            }),
        )
        .await
        .map_err(store_error)?;
    Ok(AdminReply::ClientSecret {
        client: views::client(client),
        client_secret: Some(Secret::new(secret)),
    })
}

pub async fn delete(ctx: &Context, name: &str) -> Result<AdminReply, ProtoError> {
    let client = find(ctx, name).await?;
    ctx.store
        .delete_client(&client.id)
        .await
        .map_err(store_error)?;
    done(format!("client {name} deleted; its tokens no longer work"))
}

pub async fn list_keys(ctx: &Context) -> Result<AdminReply, ProtoError> {
    let keys = ctx.store.signing_keys().await.map_err(store_error)?;
    Ok(AdminReply::Keys(keys.into_iter().map(views::key).collect()))
}

pub async fn rotate_keys(ctx: &Context) -> Result<AdminReply, ProtoError> {
    ctx.tokens
        .keys
        .rotate(
            &*ctx.store,
            &ctx.master_key,
            ctx.clock.unix_now(),
            ctx.key_retention(),
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "key rotation failed");
            ProtoError::new(ErrorCode::Internal, "internal error; see the daemon's log")
        })?;
    list_keys(ctx).await
}
