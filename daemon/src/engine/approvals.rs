//! Approving a sign-in from another device, in the manner of RFC 8628's device authorization:
//! the waiting side (an SSH login, or a command-line client) gets a short user code and a
//! device code; a person types the user code on the approval page and approves there (with a
//! passkey for a login, as a signed-in user for a client); the waiting side polls with the
//! device code. Every approval is in the store (so any daemon may show, approve or poll it),
//! expires after [`APPROVAL_SECONDS`], and is taken out by the poll that reads its verdict.

use super::EngineError;
use super::passkeys::{self, Origin};
use super::second_factor::CodeVerdict;
use crate::audit::{AuditAction, Outcome};
use crate::context::Context;
use crate::engine::{NameMatch, PasswordAttempt};
use crate::model::device::{ApprovalRequest, ApprovalState, DeviceAuthorization};
use crate::model::grants::Authentication;
use crate::model::passkey::ChallengePurpose;
use crate::secrets::{constant_time_eq, random_token, token_hash};
use crate::store::{Change, RecordKey};
use rand::Rng;

/// How long an approval waits: long enough to open a page and touch a key, short enough that
/// a code seen over a shoulder is soon useless.
pub const APPROVAL_SECONDS: u64 = 300;
/// RFC 8628's default polling interval.
pub const POLL_INTERVAL: u64 = 5;
/// RFC 8628 §6.1: consonants only (no vowels, so no words), upper case, no look-alikes.
const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LETTERS: usize = 8;

/// A new approval, for the waiting side.
#[derive(Debug, Clone)]
pub struct Started {
    /// The waiting side's secret for polling. Never shown to the person approving.
    pub device_code: String,
    /// What the person types on the approval page, as `BCDF-GHJK`.
    pub user_code: String,
    pub expires_in: u64,
    pub interval: u64,
}

/// What a poll finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    Pending,
    /// Polled before the interval had passed; the interval is now longer.
    SlowDown,
    /// Approved: the request and the approver's proof. The approval is spent.
    Approved {
        request: ApprovalRequest,
        authentication: Authentication,
    },
    Denied,
    /// Expired, already read, or never there.
    Expired,
}

/// Starts waiting for approval of `request`.
pub async fn start(ctx: &Context, request: ApprovalRequest) -> Result<Started, EngineError> {
    let now = ctx.clock.unix_now();
    let secret = random_token();
    // A fresh user code is almost never taken; when it is, draw again rather than overwrite.
    for _ in 0..8 {
        let code = new_user_code();
        let mut created = false;
        let record = DeviceAuthorization {
            secret_hash: hex(&token_hash(&secret)),
            request: request.clone(),
            state: ApprovalState::Pending,
            created_at: now,
            expires_at: now + APPROVAL_SECONDS,
            interval: POLL_INTERVAL,
            last_polled_at: None,
        };
        ctx.store
            .device_authorizations()
            .upsert(&key(&code), now, &mut |current| {
                created = current.is_none();
                match current {
                    None => Change::Replace(record.clone()),
                    Some(_) => Change::Keep,
                }
            })
            .await?;
        if created {
            return Ok(Started {
                device_code: format!("{code}.{secret}"),
                user_code: format!("{}-{}", &code[..4], &code[4..]),
                expires_in: APPROVAL_SECONDS,
                interval: POLL_INTERVAL,
            });
        }
    }
    Err(EngineError::Refused(
        "Could not make an approval code; try again.".into(),
    ))
}

/// The pending approval a typed user code names. A code that names none counts against the
/// address (eight letters of twenty are many, but not beyond a patient guesser).
pub async fn find(
    ctx: &Context,
    user_code: &str,
    address: Option<std::net::IpAddr>,
) -> Result<Option<DeviceAuthorization>, EngineError> {
    let now = ctx.clock.unix_now();
    if let Some(address) = address {
        if ctx.limiter.address_locked(address, now).await? {
            return Err(EngineError::Refused(
                "Too many wrong codes from this address. Try again later.".into(),
            ));
        }
    }
    let found = match normalize(user_code) {
        Some(code) => {
            ctx.store
                .device_authorizations()
                .get(&key(&code), now)
                .await?
        }
        None => None,
    };
    match found {
        Some(found) if found.state == ApprovalState::Pending => Ok(Some(found)),
        _ => {
            if let Some(address) = address {
                ctx.limiter.record_address_failure(address, now).await?;
            }
            Ok(None)
        }
    }
}

/// Asks the user of a waiting login for one of their passkeys, for this approval only.
pub async fn start_passkey(
    ctx: &Context,
    user_code: &str,
    waiting: &DeviceAuthorization,
) -> Result<passkeys::Started, EngineError> {
    let ApprovalRequest::Login { user_id, .. } = &waiting.request else {
        return Err(EngineError::Refused(
            "This request is approved by signing in, not with a passkey.".into(),
        ));
    };
    let user = ctx
        .store
        .user(*user_id)
        .await?
        .ok_or_else(|| EngineError::Refused(NOT_WAITING.into()))?;
    passkeys::start_assertion(ctx, &user, purpose(user.id, user_code)).await
}

/// Approves a waiting login with its user's passkey: the answer must be to the challenge made
/// for this very approval, by one of that user's passkeys. A refusal counts like a wrong code.
pub async fn approve_with_passkey(
    ctx: &Context,
    user_code: &str,
    challenge: &str,
    answer: &str,
    origin: &Origin<'_>,
) -> Result<bool, EngineError> {
    let now = ctx.clock.unix_now();
    let Some(code) = normalize(user_code) else {
        return Ok(false);
    };
    let waiting = ctx
        .store
        .device_authorizations()
        .get(&key(&code), now)
        .await?;
    let Some(DeviceAuthorization {
        request: ApprovalRequest::Login {
            user_id, username, ..
        },
        state: ApprovalState::Pending,
        ..
    }) = &waiting
    else {
        return Ok(false);
    };
    let attempt = PasswordAttempt {
        username,
        name_match: NameMatch::Exact,
        password: "",
        address: origin.address,
        source: origin.source.to_owned(),
        door: origin.door,
        batch: crate::store::batch::Batch::now(),
    };
    let bare = Authentication {
        user_id: *user_id,
        auth_time: now,
        amr: Vec::new(),
    };
    let verdict = passkeys::check_assertion(
        ctx,
        &bare,
        &purpose(*user_id, &code),
        challenge,
        answer,
        &attempt,
    )
    .await?;
    let CodeVerdict::Accepted(authentication) = verdict else {
        return Ok(false);
    };
    let decided = decide(ctx, &code, ApprovalState::Approved { authentication }).await?;
    if decided {
        record(
            ctx,
            AuditAction::ApprovalGranted,
            username,
            waiting.as_ref(),
            origin,
        )
        .await?;
    }
    Ok(decided)
}

/// Approves a waiting client as the signed-in user of `authentication`.
pub async fn approve_as(
    ctx: &Context,
    user_code: &str,
    authentication: &Authentication,
    username: &str,
    origin: &Origin<'_>,
) -> Result<bool, EngineError> {
    let Some(code) = normalize(user_code) else {
        return Ok(false);
    };
    let waiting = ctx
        .store
        .device_authorizations()
        .get(&key(&code), ctx.clock.unix_now())
        .await?;
    if !matches!(
        waiting,
        Some(DeviceAuthorization {
            request: ApprovalRequest::Client { .. },
            ..
        })
    ) {
        return Ok(false);
    }
    let approved = ApprovalState::Approved {
        authentication: authentication.clone(),
    };
    let decided = decide(ctx, &code, approved).await?;
    if decided {
        record(
            ctx,
            AuditAction::ApprovalGranted,
            username,
            waiting.as_ref(),
            origin,
        )
        .await?;
    }
    Ok(decided)
}

/// Refuses a waiting request: whoever holds its code and is looking at it may say no.
pub async fn deny(
    ctx: &Context,
    user_code: &str,
    subject: &str,
    origin: &Origin<'_>,
) -> Result<bool, EngineError> {
    let Some(code) = normalize(user_code) else {
        return Ok(false);
    };
    let waiting = ctx
        .store
        .device_authorizations()
        .get(&key(&code), ctx.clock.unix_now())
        .await?;
    let decided = decide(ctx, &code, ApprovalState::Denied).await?;
    if decided {
        record(
            ctx,
            AuditAction::ApprovalDenied,
            subject,
            waiting.as_ref(),
            origin,
        )
        .await?;
    }
    Ok(decided)
}

/// Reads a waiting request's state with its device code, for the side that waits: PAM
/// (`client` `None`, for a login) or that client (for its own request; polling faster than the
/// interval is `SlowDown` and lengthens it by five seconds, RFC 8628 §3.5). A verdict is read
/// once: the approval is then gone.
pub async fn poll(
    ctx: &Context,
    device_code: &str,
    client: Option<&str>,
) -> Result<Poll, EngineError> {
    let enforce_interval = client.is_some();
    let now = ctx.clock.unix_now();
    let Some((code, secret)) = device_code.split_once('.') else {
        return Ok(Poll::Expired);
    };
    let Some(code) = normalize(code) else {
        return Ok(Poll::Expired);
    };
    let presented = hex(&token_hash(secret));
    let mut found = Poll::Expired;
    ctx.store
        .device_authorizations()
        .update(&key(&code), now, &mut |current| {
            let waits_here = match (&current.request, client) {
                (ApprovalRequest::Login { .. }, None) => true,
                (ApprovalRequest::Client { client_id, .. }, Some(id)) => client_id == id,
                _ => false,
            };
            if !waits_here
                || !constant_time_eq(current.secret_hash.as_bytes(), presented.as_bytes())
            {
                found = Poll::Expired;
                return Change::Keep;
            }
            match &current.state {
                ApprovalState::Approved { authentication } => {
                    found = Poll::Approved {
                        request: current.request.clone(),
                        authentication: authentication.clone(),
                    };
                    Change::Remove
                }
                ApprovalState::Denied => {
                    found = Poll::Denied;
                    Change::Remove
                }
                ApprovalState::Pending => {
                    let mut next = current.clone();
                    let too_soon = enforce_interval
                        && current
                            .last_polled_at
                            .is_some_and(|at| now < at + current.interval);
                    if too_soon {
                        next.interval += 5;
                        found = Poll::SlowDown;
                    } else {
                        found = Poll::Pending;
                    }
                    next.last_polled_at = Some(now);
                    Change::Replace(next)
                }
            }
        })
        .await?;
    Ok(found)
}

/// Moves a pending approval to `state`; whether this call did (a decided one stays decided).
async fn decide(ctx: &Context, code: &str, state: ApprovalState) -> Result<bool, EngineError> {
    let mut decided = false;
    ctx.store
        .device_authorizations()
        .update(&key(code), ctx.clock.unix_now(), &mut |current| {
            decided = current.state == ApprovalState::Pending;
            if !decided {
                return Change::Keep;
            }
            Change::Replace(DeviceAuthorization {
                state: state.clone(),
                ..current.clone()
            })
        })
        .await?;
    Ok(decided)
}

async fn record(
    ctx: &Context,
    action: AuditAction,
    subject: &str,
    waiting: Option<&DeviceAuthorization>,
    origin: &Origin<'_>,
) -> Result<(), EngineError> {
    let detail = waiting.map(|w| describe(&w.request)).unwrap_or_default();
    let outcome = if action == AuditAction::ApprovalGranted {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    ctx.record(
        crate::audit::AuditEvent::new(
            ctx.clock.unix_now(),
            subject,
            action,
            origin.door,
            origin.source.to_owned(),
            outcome,
        )
        .subject(subject)
        .detail(detail),
    )
    .await?;
    Ok(())
}

/// This machine's name, shown on the approval page as the host a login is on (the PAM module
/// talks to this daemon over a local socket, so the login is here).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "this host".into())
}

/// One line naming what waits, for the audit trail.
pub fn describe(request: &ApprovalRequest) -> String {
    match request {
        ApprovalRequest::Login {
            username,
            service,
            host,
            remote_host,
            ..
        } => match remote_host {
            Some(from) => format!("{service} login of {username} on {host} from {from}"),
            None => format!("{service} login of {username} on {host}"),
        },
        ApprovalRequest::Client { client_id, scopes } => {
            format!("client {client_id} asking for {}", scopes.join(" "))
        }
    }
}

/// A typed user code as stored: the alphabet's letters only, in upper case; dashes, spaces
/// and case forgiven. `None` when it cannot be a user code.
pub fn normalize(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LETTERS && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

fn new_user_code() -> String {
    let mut rng = rand::rng();
    (0..USER_CODE_LETTERS)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn key(code: &str) -> RecordKey {
    RecordKey::bearer(token_hash(&format!("approval user code {code}")))
}

/// The passkey challenge's purpose for one approval of one user.
fn purpose(user_id: crate::model::UserId, code: &str) -> ChallengePurpose {
    let code = normalize(code).unwrap_or_default();
    ChallengePurpose::Approval {
        user_id,
        approval: hex(&token_hash(&code)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const NOT_WAITING: &str = "That login is no longer waiting for approval.";

#[cfg(test)]
mod tests;
