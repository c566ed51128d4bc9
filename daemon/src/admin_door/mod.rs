//! The admin door: the `postern` CLI's way in. Each connection is checked by the kernel's
//! peer credentials, then carries request frames and gets one response frame for each.
//!
//! A malformed, oversized or truncated frame gets an error frame and the connection is closed;
//! other connections are unaffected. Idle connections are closed after a timeout.

mod backup;
mod handlers;
mod peer;
mod views;

use crate::audit::{AuditAction, AuditDoor, AuditEvent, Outcome};
use crate::context::Context;
use postern_proto::admin::{AdminRequest, AdminResponse};
use postern_proto::frame::{self, FrameError, MAX_REQUEST_FRAME, MAX_RESPONSE_FRAME};
use postern_proto::{ErrorCode, ProtoError};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Accepts connections until `shutdown` is cancelled. Connection tasks go on `tracker`, so the
/// caller can wait for in-flight requests to finish.
pub async fn serve(
    listener: UnixListener,
    ctx: Arc<Context>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let connections = shutdown.clone();
    crate::unix_socket::accept_until(listener, "admin", shutdown, tracker, |stream| {
        connection(stream, ctx.clone(), connections.clone())
    })
    .await;
}

async fn connection(mut stream: UnixStream, ctx: Arc<Context>, shutdown: CancellationToken) {
    let credentials = match stream.peer_cred() {
        Ok(credentials) => credentials,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read admin peer credentials; closing");
            return;
        }
    };
    let (uid, gid) = (credentials.uid(), credentials.gid());
    let group = ctx.config.admin.group.clone();
    let decided = tokio::task::spawn_blocking(move || peer::authorize(uid, gid, &group)).await;
    let caller = match decided {
        Ok(Ok(caller)) => caller,
        Ok(Err(refusal)) => {
            refuse(&ctx, uid, &refusal).await;
            let error = ProtoError::new(ErrorCode::PermissionDenied, refusal);
            let _ = send(&mut stream, &AdminResponse::Err(error)).await;
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "admin authorisation task failed");
            return;
        }
    };

    let deadlines = crate::socket_frames::Deadlines {
        idle: ctx.config.admin.idle_timeout.0,
        frame: ctx.config.admin.frame_timeout.0,
    };
    loop {
        let request = tokio::select! {
            () = shutdown.cancelled() => return,
            read = crate::socket_frames::read(&mut stream, MAX_REQUEST_FRAME, deadlines) => read,
        };
        let request = match request {
            Ok(request) => request,
            Err(FrameError::Closed) => return,
            Err(FrameError::Idle) => {
                tracing::debug!(%caller, "closing an idle admin connection");
                return;
            }
            Err(FrameError::Slow) => {
                tracing::warn!(%caller, "an admin request did not arrive in time; closing the connection");
                return;
            }
            Err(error) => {
                tracing::warn!(%caller, %error, "bad frame on the admin socket; closing the connection");
                let code = match error {
                    FrameError::TooLarge { .. } => ErrorCode::FrameTooLarge,
                    _ => ErrorCode::BadFrame,
                };
                let _ = send(
                    &mut stream,
                    &AdminResponse::Err(ProtoError::new(code, error.to_string())),
                )
                .await;
                return;
            }
        };
        tracing::debug!(%caller, ?request, "admin request");
        if matches!(request, AdminRequest::Backup) {
            if let Err(e) = backup::answer(&mut stream, &ctx, &caller).await {
                tracing::warn!(error = %e, "could not send the backup to the admin client");
                return;
            }
            continue;
        }
        let handler_ctx = ctx.clone();
        let handler_caller = caller.clone();
        // A task of its own, so a panic in a handler is an error answer, not a lost connection.
        let answered =
            tokio::spawn(
                async move { handlers::handle(&handler_ctx, &handler_caller, request).await },
            )
            .await;
        let response = match answered {
            Ok(Ok(reply)) => AdminResponse::Ok(reply),
            Ok(Err(error)) => AdminResponse::Err(error),
            Err(e) => {
                tracing::error!(error = %e, "admin request handler failed");
                AdminResponse::Err(ProtoError::new(
                    ErrorCode::Internal,
                    "internal error; see the daemon's log",
                ))
            }
        };
        if let Err(e) = send(&mut stream, &response).await {
            tracing::debug!(error = %e, "could not answer the admin client");
            return;
        }
    }
}

async fn send(stream: &mut UnixStream, response: &AdminResponse) -> Result<(), FrameError> {
    let bytes = match frame::encode(response, MAX_RESPONSE_FRAME) {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::error!(%error, "admin response could not be encoded");
            let fallback = ProtoError::new(ErrorCode::Internal, "the answer is too large to send");
            frame::encode(&AdminResponse::Err(fallback), MAX_RESPONSE_FRAME)?
        }
    };
    stream.write_all(&bytes).await?;
    Ok(())
}

async fn refuse(ctx: &Context, uid: u32, refusal: &str) {
    let event = AuditEvent::new(
        ctx.clock.unix_now(),
        format!("uid {uid}"),
        AuditAction::AdminAccessDenied,
        AuditDoor::Admin,
        "admin socket",
        Outcome::Failure,
    )
    .detail(refusal);
    if let Err(e) = ctx.record(event).await {
        tracing::error!(error = %e, "could not record a refused admin connection");
    }
}
