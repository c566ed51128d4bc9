//! `pam_postern.so`: lets sshd, login and sudo authenticate against posternd. It opens one
//! connection to the daemon's PAM socket per authentication and relays the conversation the
//! daemon drives; it decides nothing itself, and fails closed (or, with `unreachable=ignore`,
//! steps aside) when the daemon cannot be reached. No panics cross into the caller.

mod args;
mod relay;

use args::Args;
use pam::constants::{
    PAM_ERROR_MSG, PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON, PAM_TEXT_INFO, PamFlag, PamResultCode,
};
use pam::conv::Conv;
use pam::items::{RHost, Service, Tty};
use pam::module::{PamHandle, PamHooks};
use postern_proto::client::Connection;
use postern_proto::pam::PamContext;
use relay::{Code, Prompter};
use std::ffi::CStr;

struct PosternModule;
pam::pam_hooks!(PosternModule);

impl PamHooks for PosternModule {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        let Some((args, context)) = prepare(pamh, &args) else {
            return PamResultCode::PAM_SERVICE_ERR;
        };
        let connection = connect(&args);
        let mut conversation = PamConversation { pamh };
        to_pam(relay::authenticate(
            &args,
            context,
            connection,
            &mut conversation,
        ))
    }

    fn acct_mgmt(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        let Some((args, context)) = prepare(pamh, &args) else {
            return PamResultCode::PAM_SERVICE_ERR;
        };
        to_pam(relay::account(&args, context, connect(&args)))
    }

    // Postern sets no credentials and keeps no sessions.
    fn sm_setcred(_pamh: &mut PamHandle, _args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        PamResultCode::PAM_SUCCESS
    }

    fn sm_open_session(_pamh: &mut PamHandle, _args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        PamResultCode::PAM_SUCCESS
    }

    fn sm_close_session(
        _pamh: &mut PamHandle,
        _args: Vec<&CStr>,
        _flags: PamFlag,
    ) -> PamResultCode {
        PamResultCode::PAM_SUCCESS
    }
}

/// Parses the arguments and gathers who is logging in, to where, from where.
fn prepare(pamh: &mut PamHandle, raw: &[&CStr]) -> Option<(Args, PamContext)> {
    let texts: Vec<&str> = raw.iter().filter_map(|a| a.to_str().ok()).collect();
    let args = match Args::parse(texts) {
        Ok(args) => args,
        Err(problem) => {
            log(&format!("pam_postern: bad module argument: {problem}"));
            return None;
        }
    };
    let user = pamh.get_user(None).ok()?;
    let item = |value: Option<&CStr>| value.and_then(|v| v.to_str().ok()).map(str::to_owned);
    let service = item(pamh.get_item::<Service>().ok().flatten().map(|s| s.0))
        .unwrap_or_else(|| "unknown".into());
    let remote_host =
        item(pamh.get_item::<RHost>().ok().flatten().map(|h| h.0)).filter(|h| !h.is_empty());
    let tty = item(pamh.get_item::<Tty>().ok().flatten().map(|t| t.0));
    if args.debug {
        log(&format!(
            "pam_postern: {service} for {user} from {remote_host:?}"
        ));
    }
    let context = PamContext {
        service,
        user,
        remote_host,
        tty,
        mode: args.mode,
    };
    Some((args, context))
}

fn connect(args: &Args) -> Option<Connection> {
    match Connection::connect(&args.socket, args.timeout) {
        Ok(connection) => Some(connection),
        Err(error) => {
            log(&format!("pam_postern: {error}"));
            None
        }
    }
}

/// Writes to stderr, which sshd and sudo send to their logs. Never a password or code.
fn log(line: &str) {
    eprintln!("{line}");
}

fn to_pam(code: Code) -> PamResultCode {
    match code {
        Code::Success => PamResultCode::PAM_SUCCESS,
        Code::AuthErr => PamResultCode::PAM_AUTH_ERR,
        Code::UserUnknown => PamResultCode::PAM_USER_UNKNOWN,
        Code::AcctExpired => PamResultCode::PAM_ACCT_EXPIRED,
        Code::AuthinfoUnavail => PamResultCode::PAM_AUTHINFO_UNAVAIL,
        Code::Ignore => PamResultCode::PAM_IGNORE,
    }
}

/// The application's PAM conversation.
struct PamConversation<'a> {
    pamh: &'a mut PamHandle,
}

impl PamConversation<'_> {
    fn send(&mut self, style: pam::constants::PamMessageStyle, text: &str) -> Option<String> {
        let conv = self.pamh.get_item::<Conv>().ok().flatten()?;
        let reply = conv.send(style, text).ok()?;
        reply.and_then(|secret| secret.as_str().ok().map(str::to_owned))
    }
}

impl Prompter for PamConversation<'_> {
    fn prompt(&mut self, text: &str, echo: bool) -> Option<String> {
        let style = if echo {
            PAM_PROMPT_ECHO_ON
        } else {
            PAM_PROMPT_ECHO_OFF
        };
        self.send(style, text)
    }

    fn info(&mut self, text: &str) {
        let _ = self.send(PAM_TEXT_INFO, text);
    }

    fn error(&mut self, text: &str) {
        let _ = self.send(PAM_ERROR_MSG, text);
    }
}
