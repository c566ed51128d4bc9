//! The conversation relay, free of FFI so it can be tested with a fake PAM conversation and a
//! fake daemon on a socket pair. The daemon decides; this only relays and maps the verdict.

use crate::args::Args;
use postern_proto::Secret;
use postern_proto::client::{ClientError, Connection};
use postern_proto::pam::{PamContext, PamOutcome, PamReply, PamRequest};

/// What the module's PAM conversation can do.
pub trait Prompter {
    /// Asks the user; `None` when the application gave no answer.
    fn prompt(&mut self, text: &str, echo: bool) -> Option<String>;
    fn info(&mut self, text: &str);
    fn error(&mut self, text: &str);
}

/// PAM's return codes, as the module needs them (numbers from `security/_pam_types.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Success,
    AuthErr,
    UserUnknown,
    AcctExpired,
    AuthinfoUnavail,
    Ignore,
}

pub fn authenticate(
    args: &Args,
    context: PamContext,
    connection: Option<Connection>,
    prompter: &mut dyn Prompter,
) -> Code {
    let Some(mut connection) = connection else {
        return unreachable(args);
    };
    if connection.send(&PamRequest::Begin(context)).is_err() {
        return unreachable(args);
    }
    loop {
        let reply = match connection.receive::<PamReply>() {
            Ok(reply) => reply,
            // A daemon that stops answering or sends garbage never lets anyone in.
            Err(_) => return Code::AuthinfoUnavail,
        };
        match reply {
            PamReply::Prompt { text, echo } => {
                let Some(answer) = prompter.prompt(&text, echo) else {
                    return Code::AuthErr;
                };
                if connection
                    .send(&PamRequest::Answer {
                        text: Secret::new(answer),
                    })
                    .is_err()
                {
                    return Code::AuthinfoUnavail;
                }
            }
            PamReply::Info { text } => prompter.info(&text),
            PamReply::Verdict { outcome, message } => {
                if let Some(message) = message {
                    prompter.error(&message);
                }
                return code_for(outcome);
            }
        }
    }
}

pub fn account(args: &Args, context: PamContext, connection: Option<Connection>) -> Code {
    let Some(mut connection) = connection else {
        return unreachable(args);
    };
    if connection.send(&PamRequest::Account(context)).is_err() {
        return unreachable(args);
    }
    match connection.receive::<PamReply>() {
        Ok(PamReply::Verdict { outcome, .. }) => code_for(outcome),
        Ok(_) | Err(ClientError::Frame(_)) | Err(_) => Code::AuthinfoUnavail,
    }
}

fn unreachable(args: &Args) -> Code {
    if args.ignore_unreachable {
        Code::Ignore
    } else {
        Code::AuthinfoUnavail
    }
}

fn code_for(outcome: PamOutcome) -> Code {
    match outcome {
        PamOutcome::Success => Code::Success,
        PamOutcome::Denied | PamOutcome::MustEnrol => Code::AuthErr,
        PamOutcome::UserUnknown => Code::UserUnknown,
        PamOutcome::AccountDisabled => Code::AcctExpired,
        PamOutcome::Unavailable => Code::AuthinfoUnavail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_proto::frame::{read_frame, write_frame};
    use postern_proto::pam::PamMode;
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::time::Duration;

    #[derive(Default)]
    struct FakePam {
        answers: Vec<String>,
        shown: Vec<String>,
    }

    impl Prompter for FakePam {
        fn prompt(&mut self, text: &str, _echo: bool) -> Option<String> {
            self.shown.push(text.to_owned());
            (!self.answers.is_empty()).then(|| self.answers.remove(0))
        }
        fn info(&mut self, text: &str) {
            self.shown.push(format!("info: {text}"));
        }
        fn error(&mut self, text: &str) {
            self.shown.push(format!("error: {text}"));
        }
    }

    fn context() -> PamContext {
        PamContext {
            service: "sshd".into(),
            user: "alice".into(),
            remote_host: None,
            tty: None,
            mode: PamMode::Full,
        }
    }

    /// A fake daemon on a socket: runs `script` against the one connection it accepts.
    fn fake_daemon(
        script: impl FnOnce(&mut UnixStream) + Send + 'static,
    ) -> (tempdir::Dir, Connection) {
        let dir = tempdir::Dir::new();
        let path = dir.0.join("pam.sock");
        let listener = UnixListener::bind(&path).unwrap_or_else(|e| unreachable!("bind: {e}"));
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                script(&mut stream);
            }
        });
        let connection = Connection::connect(&path, Duration::from_secs(5))
            .unwrap_or_else(|e| unreachable!("connect: {e}"));
        (dir, connection)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                let path = std::env::temp_dir().join(format!(
                    "pam-postern-test-{}-{:?}",
                    std::process::id(),
                    std::thread::current().id()
                ));
                let _ = std::fs::remove_dir_all(&path);
                let _ = std::fs::create_dir_all(&path);
                Self(path)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn prompts_are_relayed_and_the_verdict_mapped() {
        let (_dir, connection) = fake_daemon(|stream| {
            let _begin: Result<PamRequest, _> = read_frame(stream, 1 << 16);
            let _ = write_frame(
                stream,
                &PamReply::Prompt {
                    text: "Password: ".into(),
                    echo: false,
                },
                1 << 16,
            );
            let answer: Result<PamRequest, _> = read_frame(stream, 1 << 16);
            let right =
                matches!(answer, Ok(PamRequest::Answer { ref text }) if text.expose() == "pw");
            let _ = write_frame(
                stream,
                &PamReply::Info {
                    text: "A code was sent.".into(),
                },
                1 << 16,
            );
            let outcome = if right {
                PamOutcome::Success
            } else {
                PamOutcome::Denied
            };
            let _ = write_frame(
                stream,
                &PamReply::Verdict {
                    outcome,
                    message: None,
                },
                1 << 16,
            );
        });
        let mut pam = FakePam {
            answers: vec!["pw".into()],
            ..FakePam::default()
        };
        let code = authenticate(&Args::default(), context(), Some(connection), &mut pam);
        assert_eq!(code, Code::Success);
        assert_eq!(pam.shown, vec!["Password: ", "info: A code was sent."]);
    }

    #[test]
    fn garbage_from_the_daemon_fails_closed() {
        let (_dir, connection) = fake_daemon(|stream| {
            use std::io::Write;
            let _ = stream.write_all(&[0, 0, 0, 3, b'x', b'y', b'z']);
        });
        let code = authenticate(
            &Args::default(),
            context(),
            Some(connection),
            &mut FakePam::default(),
        );
        assert_eq!(code, Code::AuthinfoUnavail);
    }

    #[test]
    fn an_unreachable_daemon_denies_or_is_ignored_as_configured() {
        let mut pam = FakePam::default();
        assert_eq!(
            authenticate(&Args::default(), context(), None, &mut pam),
            Code::AuthinfoUnavail
        );
        let ignoring = Args {
            ignore_unreachable: true,
            ..Args::default()
        };
        assert_eq!(
            authenticate(&ignoring, context(), None, &mut pam),
            Code::Ignore
        );
        assert_eq!(account(&ignoring, context(), None), Code::Ignore);
    }

    #[test]
    fn a_refusal_message_reaches_the_user() {
        let (_dir, connection) = fake_daemon(|stream| {
            let _begin: Result<PamRequest, _> = read_frame(stream, 1 << 16);
            let message = Some("Set it up at https://id.example/account".to_owned());
            let _ = write_frame(
                stream,
                &PamReply::Verdict {
                    outcome: PamOutcome::MustEnrol,
                    message,
                },
                1 << 16,
            );
        });
        let mut pam = FakePam::default();
        assert_eq!(
            authenticate(&Args::default(), context(), Some(connection), &mut pam),
            Code::AuthErr
        );
        assert_eq!(
            pam.shown,
            vec!["error: Set it up at https://id.example/account"]
        );
    }
}
