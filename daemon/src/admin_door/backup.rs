//! `postern backup`: the one admin request answered with more than a frame. The backup is
//! written to an unlinked file in the state directory first, so the store's write lock is held
//! only as long as the disk needs, never while a slow client reads.

use super::peer::Caller;
use crate::audit::{AuditAction, AuditDoor, AuditEvent, Outcome};
use crate::context::Context;
use postern_proto::admin::{AdminReply, AdminResponse, BackupInfo};
use postern_proto::{ErrorCode, ProtoError};
use std::io::{Seek, Write};
use std::sync::Arc;
use tokio::net::UnixStream;

/// Answers a backup request on `stream`. An error means the connection is no longer usable.
pub async fn answer(
    stream: &mut UnixStream,
    ctx: &Arc<Context>,
    caller: &Caller,
) -> Result<(), postern_proto::frame::FrameError> {
    let writer_ctx = ctx.clone();
    let written = tokio::task::spawn_blocking(move || write_to_unlinked_file(&writer_ctx)).await;
    let outcome = match written {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(message)) => Err(message),
        Err(e) => Err(format!("the backup task failed: {e}")),
    };
    audit(ctx, caller, &outcome).await;
    let (file, summary) = match outcome {
        Ok(done) => done,
        Err(message) => {
            tracing::error!(%message, "backup failed");
            let error = ProtoError::new(ErrorCode::Internal, message);
            return super::send(stream, &AdminResponse::Err(error)).await;
        }
    };
    let bytes = file.metadata()?.len();
    let reply = AdminReply::BackupFollows(BackupInfo {
        bytes,
        records: summary.records,
        store_format: summary.header.store_format,
    });
    super::send(stream, &AdminResponse::Ok(reply)).await?;
    let mut file = tokio::fs::File::from_std(file);
    tokio::io::copy(&mut file, stream).await?;
    Ok(())
}

type Written = (std::fs::File, crate::store::BackupSummary);

fn write_to_unlinked_file(ctx: &Context) -> Result<Written, String> {
    let path = ctx.config.state_dir.join(format!(
        ".backup-{}-{}",
        std::process::id(),
        crate::secrets::random_token()
    ));
    // A daemon on PostgreSQL keeps nothing else there, and may not have made it yet.
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&ctx.config.state_dir)
            .map_err(|e| format!("cannot create the state directory: {e}"))?;
    }
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("cannot create a file in the state directory: {e}"))?
    };
    // Gone from the directory at once: nothing is left behind if the daemon dies mid-way.
    let _ = std::fs::remove_file(&path);
    let summary = {
        let mut out = std::io::BufWriter::new(&mut file);
        let summary = ctx
            .store
            .write_backup(&mut out, ctx.clock.unix_now())
            .map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
        summary
    };
    file.rewind().map_err(|e| e.to_string())?;
    Ok((file, summary))
}

async fn audit(ctx: &Context, caller: &Caller, outcome: &Result<Written, String>) {
    let (outcome, detail) = match outcome {
        Ok((_, summary)) => (
            Outcome::Success,
            format!(
                "{} records, store format {}",
                summary.records, summary.header.store_format
            ),
        ),
        Err(message) => (Outcome::Failure, message.clone()),
    };
    let event = AuditEvent::new(
        ctx.clock.unix_now(),
        format!("admin {caller}"),
        AuditAction::BackupTaken,
        AuditDoor::Admin,
        "admin socket",
        outcome,
    )
    .detail(detail);
    let recorded = match ctx.record(event).await {
        Ok(()) => ctx.store.flush().await,
        Err(e) => Err(e),
    };
    if let Err(e) = recorded {
        tracing::error!(error = %e, "could not record a backup");
    }
}
