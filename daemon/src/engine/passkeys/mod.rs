//! Passkeys in the engine: adding one to an account, answering the second step of a sign-in
//! with one, renaming and removing them.
//!
//! Each ceremony's challenge is a short-lived record in the store, under the hash of a random
//! id the page holds, so the answer may reach another daemon. Answering takes the record out
//! of the store first: of two answers to one challenge only the one whose removal succeeds
//! goes on, so a challenge (and an assertion made for it) works once.
//!
//! A credential is always looked up through its user (the user handle is the user's id), never
//! the other way round, so a credential id that some other account also claims can never sign
//! anyone in: only the public key stored with the user being signed in is checked.

use super::second_factor::EngineError;
use crate::audit::{AuditAction, AuditDoor, AuditEvent, Factor, Outcome};
use crate::context::Context;
use crate::factors::passkey::{CHALLENGE_SECONDS, PasskeyError, RelyingParty};
use crate::factors::recovery;
use crate::model::mfa::{MfaEnrolment, mfa_required};
use crate::model::passkey::{ChallengePurpose, PasskeyChallenge, PasskeyCredential};
use crate::model::{MfaMethod, SiteSettings, User, UserId};
use crate::secrets::{random_token, token_hash};
use crate::store::{RecordKey, StoreError};

mod sign_in;

pub use sign_in::{
    Origin, check_passwordless, check_sign_in, passwordless_offered, start_passwordless,
    start_sign_in,
};
pub(crate) use sign_in::{check_assertion, start_assertion};

/// More than anyone needs (a phone, a laptop, two keys...), few enough to keep the user's
/// record small.
pub const MAX_PASSKEYS: usize = 16;
const MAX_NAME_CHARS: usize = 64;

/// A ceremony begun: the page gets both, and sends the id back with the browser's answer.
#[derive(Debug)]
pub struct Started {
    pub challenge: String,
    pub options: serde_json::Value,
}

/// A passkey added: shown to the user, with recovery codes when it is their first second
/// factor.
#[derive(Debug)]
pub struct Added {
    pub credential: PasskeyCredential,
    pub recovery_codes: Option<Vec<String>>,
}

/// Who removes a passkey.
#[derive(Debug, Clone, Copy)]
pub enum RemovedBy<'a> {
    /// The user, on their account page: never their last second factor while a role requires
    /// one; audited here.
    User(Actor<'a>),
    /// An administrator (a lost key): even the last one, as a reset would; the admin door
    /// audits its requests itself.
    Administrator,
}

/// Who asks for a change, for the audit trail.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub name: &'a str,
    pub door: AuditDoor,
    pub source: &'a str,
}

/// The relying party, or the reason passkeys cannot work on this site.
pub fn relying_party(ctx: &Context) -> Result<&RelyingParty, EngineError> {
    ctx.passkeys.as_ref().map_err(|reason| {
        EngineError::Refused(format!(
            "Passkeys are not available on this site: {reason}."
        ))
    })
}

/// Whether users may register and use passkeys now.
pub fn offered(ctx: &Context, settings: &SiteSettings) -> bool {
    ctx.passkeys.is_ok() && settings.mfa_methods.contains(&MfaMethod::Webauthn)
}

/// The passkeys that can sign this user in now.
pub fn usable<'a>(
    ctx: &Context,
    settings: &SiteSettings,
    user: &'a User,
) -> &'a [PasskeyCredential] {
    match &user.mfa {
        Some(mfa) if ctx.passkeys.is_ok() => mfa.usable_passkeys(settings),
        _ => &[],
    }
}

/// Starts adding a passkey to `user`'s account.
pub async fn start_registration(ctx: &Context, user: &User) -> Result<Started, EngineError> {
    let settings = ctx.store.site_settings().await?;
    if !offered(ctx, &settings) {
        return Err(EngineError::Refused(
            "This site does not offer passkeys.".into(),
        ));
    }
    let existing = user.mfa.as_ref().map_or(&[][..], |m| &m.passkeys);
    if existing.len() >= MAX_PASSKEYS {
        return Err(EngineError::Refused(format!(
            "You have {MAX_PASSKEYS} passkeys, the most an account may have. Remove one first."
        )));
    }
    let display_name = user.display_name.as_deref().unwrap_or(&user.username);
    let (options, state) = relying_party(ctx)?
        .start_registration(user.id.0, &user.username, display_name, existing)
        .map_err(refused)?;
    let challenge = keep(ctx, ChallengePurpose::Register { user_id: user.id }, state).await?;
    Ok(Started { challenge, options })
}

/// Checks the browser's answer to a registration and adds the passkey, named `name`, to the
/// account of `user_id` (who must be the user the challenge was made for).
pub async fn finish_registration(
    ctx: &Context,
    user_id: UserId,
    challenge: &str,
    name: &str,
    answer: &str,
    actor: Actor<'_>,
) -> Result<Added, EngineError> {
    let name = valid_name(name)?;
    let state = take(ctx, challenge, &ChallengePurpose::Register { user_id })
        .await?
        .ok_or_else(|| EngineError::Refused(EXPIRED.into()))?;
    let registered = relying_party(ctx)?
        .finish_registration(answer, &state)
        .map_err(refused)?;
    let now = ctx.clock.unix_now();
    let credential = PasskeyCredential {
        id: registered.id,
        name,
        created_at: now,
        last_used_at: None,
        aaguid: registered.aaguid,
        key: registered.key,
    };
    let codes = recovery::generate();
    let hashes: Vec<[u8; 32]> = codes
        .iter()
        .map(|c| recovery::hash(&ctx.master_key, c))
        .collect();
    let mut first = false;
    let user = ctx
        .store
        .update_user(
            user_id,
            Box::new(|u| {
                first = u.mfa.is_none();
                let mfa = u.mfa.get_or_insert_with(|| MfaEnrolment {
                    method: MfaMethod::Webauthn,
                    totp: None,
                    recovery_codes: hashes.clone(),
                    enrolled_at: now,
                    passkeys: Vec::new(),
                });
                if mfa.passkeys.iter().any(|p| p.id == credential.id) {
                    return Err(StoreError::Conflict(
                        "This passkey is already on your account.".into(),
                    ));
                }
                if mfa.passkeys.len() >= MAX_PASSKEYS {
                    return Err(StoreError::Conflict(format!(
                        "An account may have at most {MAX_PASSKEYS} passkeys."
                    )));
                }
                mfa.passkeys.push(credential.clone());
                Ok(())
            }),
        )
        .await
        .map_err(conflict_is_refusal)?;
    ctx.store.flush().await?;
    ctx.record(
        AuditEvent::new(
            now,
            actor.name,
            AuditAction::PasskeyAdded,
            actor.door,
            actor.source,
            Outcome::Success,
        )
        .subject(&user.username)
        .detail(format!("passkey `{}` ({})", credential.name, credential.id))
        .factor(Factor::Passkey),
    )
    .await?;
    Ok(Added {
        credential,
        recovery_codes: first.then_some(codes),
    })
}

/// Renames one of the user's passkeys.
pub async fn rename(
    ctx: &Context,
    user_id: UserId,
    credential_id: &str,
    name: &str,
) -> Result<(), EngineError> {
    let name = valid_name(name)?;
    ctx.store
        .update_user(
            user_id,
            Box::new(|u| {
                let passkey = u
                    .mfa
                    .as_mut()
                    .and_then(|m| m.passkeys.iter_mut().find(|p| p.id == credential_id))
                    .ok_or_else(|| StoreError::Conflict(REMOVED.into()))?;
                passkey.name.clone_from(&name);
                Ok(())
            }),
        )
        .await
        .map_err(conflict_is_refusal)?;
    Ok(())
}

/// Removes one of a user's passkeys (see [`RemovedBy`] for who may remove the last one).
/// When the passkeys were the user's only method, removing the last one leaves them without
/// MFA (and without recovery codes, which belonged to it).
pub async fn remove(
    ctx: &Context,
    user_id: UserId,
    credential_id: &str,
    by: RemovedBy<'_>,
) -> Result<PasskeyCredential, EngineError> {
    let settings = ctx.store.site_settings().await?;
    let Some(user) = ctx.store.user(user_id).await? else {
        return Err(EngineError::UserGone);
    };
    let required =
        matches!(by, RemovedBy::User(_)) && mfa_required(&ctx.store.roles_of(&user).await?);
    let mut removed = None;
    let user = ctx
        .store
        .update_user(
            user_id,
            Box::new(|u| {
                let mfa = u
                    .mfa
                    .as_mut()
                    .ok_or_else(|| StoreError::Conflict(NO_SUCH.into()))?;
                let index = mfa
                    .passkeys
                    .iter()
                    .position(|p| p.id == credential_id)
                    .ok_or_else(|| StoreError::Conflict(NO_SUCH.into()))?;
                let passkey = mfa.passkeys.remove(index);
                if required && !mfa.is_usable(&settings) {
                    return Err(StoreError::Conflict(
                        "This is your last second factor, and your role requires one: add another first.".into(),
                    ));
                }
                if mfa.method == MfaMethod::Webauthn && mfa.passkeys.is_empty() {
                    u.mfa = None;
                }
                removed = Some(passkey);
                Ok(())
            }),
        )
        .await
        .map_err(conflict_is_refusal)?;
    let removed = removed.ok_or_else(|| EngineError::Refused(NO_SUCH.into()))?;
    ctx.store.flush().await?;
    let RemovedBy::User(actor) = by else {
        return Ok(removed);
    };
    ctx.record(
        AuditEvent::new(
            ctx.clock.unix_now(),
            actor.name,
            AuditAction::PasskeyRemoved,
            actor.door,
            actor.source,
            Outcome::Success,
        )
        .subject(&user.username)
        .detail(format!("passkey `{}` ({})", removed.name, removed.id))
        .factor(Factor::Passkey),
    )
    .await?;
    Ok(removed)
}

const EXPIRED: &str = "This passkey request expired or was already answered. Try again.";
const REMOVED: &str = "a passkey removed from the account";
const CLONED: &str = "the passkey's signature counter went back: a cloned key?";
const NO_SUCH: &str = "There is no such passkey on this account.";

/// Keeps a ceremony's state for [`CHALLENGE_SECONDS`]; returns the id the page holds.
async fn keep(
    ctx: &Context,
    purpose: ChallengePurpose,
    state: String,
) -> Result<String, StoreError> {
    let id = random_token();
    let challenge = PasskeyChallenge {
        purpose,
        state,
        expires_at: ctx.clock.unix_now() + CHALLENGE_SECONDS,
    };
    ctx.store
        .passkey_challenges()
        .put(&challenge_key(&id), &challenge)
        .await?;
    Ok(id)
}

/// Takes a challenge out of the store: its state, if it exists, has not expired, was made for
/// `purpose`, and this call is the one that removed it.
async fn take(
    ctx: &Context,
    id: &str,
    purpose: &ChallengePurpose,
) -> Result<Option<String>, StoreError> {
    let key = challenge_key(id);
    let store = ctx.store.passkey_challenges();
    let Some(challenge) = store.get(&key, ctx.clock.unix_now()).await? else {
        return Ok(None);
    };
    if &challenge.purpose != purpose {
        return Ok(None);
    }
    Ok(store.remove(&key).await?.then_some(challenge.state))
}

fn challenge_key(id: &str) -> RecordKey {
    RecordKey::bearer(token_hash(id))
}

fn valid_name(name: &str) -> Result<String, EngineError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(EngineError::Refused("Give the passkey a name.".into()));
    }
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(EngineError::Refused(format!(
            "A passkey's name is at most {MAX_NAME_CHARS} characters, on one line."
        )));
    }
    Ok(name.to_owned())
}

/// The stored signature counter (the library keeps it inside its record).
fn passkey_counter(key: &webauthn_rs::prelude::Passkey) -> u32 {
    serde_json::to_value(key)
        .ok()
        .and_then(|v| {
            v.pointer("/cred/counter")
                .and_then(serde_json::Value::as_u64)
        })
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0)
}

fn refused(error: PasskeyError) -> EngineError {
    EngineError::Refused(match error {
        PasskeyError::Refused(_) => "The passkey's answer was not accepted. Try again.".into(),
        PasskeyError::State(e) => format!("The passkey request could not be read: {e}"),
    })
}

fn conflict_is_refusal(error: StoreError) -> EngineError {
    match error {
        StoreError::Conflict(message) => EngineError::Refused(message),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests;
