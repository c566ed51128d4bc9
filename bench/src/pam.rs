//! A PAM login through the daemon's PAM socket, as `pam_postern.so` makes it: password, then
//! the TOTP code. Root only, like the socket.

use anyhow::bail;
use postern_proto::Secret;
use postern_proto::client::Connection;
use postern_proto::pam::{PamContext, PamMode, PamOutcome, PamReply, PamRequest};
use std::path::Path;
use std::time::Duration;

pub fn log_in(socket: &Path, (index, code): (u64, String)) -> anyhow::Result<()> {
    let mut connection = Connection::connect(socket, Duration::from_secs(30))?;
    connection.send(&PamRequest::Begin(PamContext {
        service: "bench".into(),
        user: crate::seed::username(index),
        remote_host: None,
        tty: None,
        mode: PamMode::Full,
    }))?;
    let mut prompts = 0;
    loop {
        match connection.receive::<PamReply>()? {
            PamReply::Prompt { .. } => {
                let answer = match prompts {
                    0 => crate::seed::PASSWORD.to_owned(),
                    1 => code.clone(),
                    _ => bail!("a third prompt"),
                };
                prompts += 1;
                connection.send(&PamRequest::Answer {
                    text: Secret::new(answer),
                })?;
            }
            PamReply::Info { .. } => {}
            PamReply::Verdict {
                outcome: PamOutcome::Success,
                ..
            } => return Ok(()),
            PamReply::Verdict { outcome, message } => {
                bail!(
                    "PAM login refused: {outcome:?} {}",
                    message.unwrap_or_default()
                )
            }
        }
    }
}
