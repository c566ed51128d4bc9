//! The PAM door: `pam_postern.so` relays a login conversation that the engine drives. Only root
//! (sshd, login, sudo) may connect. Each connection is one conversation with a deadline; a
//! malformed or oversized frame ends it, and the module fails closed.

mod conversation;

use crate::context::Context;
use postern_proto::frame::{self, FrameError, MAX_REQUEST_FRAME, MAX_RESPONSE_FRAME};
use postern_proto::pam::{PamOutcome, PamReply, PamRequest};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub async fn serve(
    listener: UnixListener,
    ctx: Arc<Context>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    crate::unix_socket::accept_until(listener, "pam", shutdown, tracker, |mut stream| {
        let ctx = ctx.clone();
        async move {
            let deadline = ctx.config.pam.conversation_timeout.0;
            if tokio::time::timeout(deadline, connection(&mut stream, ctx))
                .await
                .is_err()
            {
                let verdict = verdict(PamOutcome::Denied, Some("The login took too long."));
                let _ = send(&mut stream, &verdict).await;
            }
        }
    })
    .await;
}

async fn connection(stream: &mut UnixStream, ctx: Arc<Context>) {
    match stream.peer_cred() {
        Ok(peer) if peer.uid() == 0 => {}
        Ok(peer) => {
            tracing::warn!(
                uid = peer.uid(),
                "refused a PAM connection from a non-root process"
            );
            let _ = send(
                stream,
                &verdict(
                    PamOutcome::Unavailable,
                    Some("permission denied: only root may use the PAM socket"),
                ),
            )
            .await;
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read PAM peer credentials");
            return;
        }
    }
    let mut conversation = conversation::Conversation { stream, ctx };
    if let Err(error) = conversation.run().await {
        tracing::warn!(%error, "PAM conversation ended early");
        let _ = send(
            conversation.stream,
            &verdict(PamOutcome::Unavailable, Some("bad request")),
        )
        .await;
    }
}

fn verdict(outcome: PamOutcome, message: Option<&str>) -> PamReply {
    PamReply::Verdict {
        outcome,
        message: message.map(str::to_owned),
    }
}

/// Reads the module's next message. Waiting for one (a person typing a password) is bounded
/// by the whole conversation's deadline; a message that has started must finish within
/// `pam.frame_timeout`.
async fn read(stream: &mut UnixStream, ctx: &Context) -> Result<PamRequest, FrameError> {
    let deadlines = crate::socket_frames::Deadlines {
        idle: ctx.config.pam.conversation_timeout.0,
        frame: ctx.config.pam.frame_timeout.0,
    };
    crate::socket_frames::read(stream, MAX_REQUEST_FRAME, deadlines).await
}

async fn send(stream: &mut UnixStream, reply: &PamReply) -> Result<(), FrameError> {
    stream
        .write_all(&frame::encode(reply, MAX_RESPONSE_FRAME)?)
        .await?;
    Ok(())
}
