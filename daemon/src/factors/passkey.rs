//! WebAuthn (passkeys and security keys) as Postern's relying party, on `webauthn-rs`.
//!
//! The relying-party id is the issuer's host name and the only origin is the issuer's, so a
//! look-alike site can never get an answer that works here: the browser signs over the origin
//! it really is on. Every ceremony requires user verification (a PIN or a biometric on the
//! authenticator), which is what makes a passkey count as two factors on its own.
//!
//! This module knows nothing of the store: it turns a ceremony's state into the options a
//! browser needs and checks the browser's answer against that state. Keeping the state, once,
//! for a short time, is the engine's job (`engine::passkeys`).

use crate::model::passkey::PasskeyCredential;
use base64::Engine;
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url, Uuid, Webauthn, WebauthnBuilder,
};

/// How long a browser has to answer a challenge; the stored challenge lives as long.
pub const CHALLENGE_SECONDS: u64 = 5 * 60;

#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The browser's answer is not one this ceremony accepts: malformed, for another origin or
    /// challenge, from an unknown credential, or without user verification.
    #[error("the passkey's answer was not accepted: {0}")]
    Refused(String),
    /// The stored ceremony state could not be read back (a corrupt record).
    #[error("the passkey challenge's state is unreadable: {0}")]
    State(String),
}

/// A new credential, checked and ready to be kept with the user.
#[derive(Debug)]
pub struct Registered {
    pub key: Passkey,
    pub id: String,
    pub aaguid: Option<Uuid>,
}

/// A checked assertion: which credential answered, and what the authenticator said.
#[derive(Debug)]
pub struct Asserted {
    pub credential_id: String,
    pub result: AuthenticationResult,
}

impl Asserted {
    /// RFC 8176 `amr` values for this proof: `hwk` for a key bound to one device (it cannot
    /// be copied out), `swk` for one that may be synchronised between devices (backup
    /// eligible); `user` because user verification was required and done.
    pub fn amr(&self) -> [&'static str; 2] {
        let key = if self.result.backup_eligible() {
            "swk"
        } else {
            "hwk"
        };
        [key, "user"]
    }
}

pub struct RelyingParty {
    webauthn: Webauthn,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty").finish_non_exhaustive()
    }
}

impl RelyingParty {
    /// The relying party of `issuer`, or why there is none: WebAuthn needs a host name (a
    /// browser refuses an IP address as relying-party id) and a secure origin (https, or http
    /// on `localhost`).
    pub fn for_issuer(issuer: &str, site_name: &str) -> Result<Self, String> {
        let origin = Url::parse(issuer).map_err(|e| format!("issuer `{issuer}`: {e}"))?;
        let Some(url::Host::Domain(host)) = origin.host() else {
            return Err(format!(
                "passkeys need an issuer with a host name, not an IP address (`{issuer}`): use `localhost` or the site's DNS name"
            ));
        };
        if origin.scheme() != "https" && host != "localhost" {
            return Err(format!(
                "passkeys need an https issuer (or http on localhost), not `{issuer}`"
            ));
        }
        let host = host.to_owned();
        let webauthn = WebauthnBuilder::new(&host, &origin)
            .and_then(|builder| {
                builder
                    .rp_name(site_name)
                    .timeout(std::time::Duration::from_secs(CHALLENGE_SECONDS))
                    .build()
            })
            .map_err(|e| format!("passkeys for `{issuer}`: {e}"))?;
        Ok(Self { webauthn })
    }

    /// Starts adding a passkey to a user: the options for `navigator.credentials.create`
    /// (JSON) and the state to keep. The user handle is the user's stable id, never the name;
    /// the user's credentials are excluded, so one authenticator is not registered twice.
    pub fn start_registration(
        &self,
        user_id: Uuid,
        username: &str,
        display_name: &str,
        existing: &[PasskeyCredential],
    ) -> Result<(serde_json::Value, String), PasskeyError> {
        let exclude = existing.iter().map(|c| c.key.cred_id().clone()).collect();
        let (options, state) = self
            .webauthn
            .start_passkey_registration(user_id, username, display_name, Some(exclude))
            .map_err(|e| PasskeyError::Refused(e.to_string()))?;
        let mut options =
            serde_json::to_value(options).map_err(|e| PasskeyError::State(e.to_string()))?;
        // Ask for a discoverable credential where the authenticator can make one, so the same
        // passkey later signs in without a username. The state does not depend on it.
        if let Some(selection) = options
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(serde_json::Value::as_object_mut)
        {
            selection.insert("residentKey".into(), "preferred".into());
        }
        Ok((options, to_json(&state)?))
    }

    /// Checks the browser's answer (the `PublicKeyCredential` of `navigator.credentials.create`,
    /// as JSON) against the state kept from [`Self::start_registration`].
    pub fn finish_registration(
        &self,
        answer: &str,
        state: &str,
    ) -> Result<Registered, PasskeyError> {
        let answer: RegisterPublicKeyCredential = from_answer(answer)?;
        let state: PasskeyRegistration = from_state(state)?;
        let aaguid = aaguid_of(&answer);
        let key = self
            .webauthn
            .finish_passkey_registration(&answer, &state)
            .map_err(|e| PasskeyError::Refused(e.to_string()))?;
        Ok(Registered {
            id: credential_id(key.cred_id().as_ref()),
            key,
            aaguid,
        })
    }

    /// Starts a sign-in with one of `credentials`: the options for `navigator.credentials.get`
    /// and the state to keep.
    pub fn start_authentication(
        &self,
        credentials: &[PasskeyCredential],
    ) -> Result<(serde_json::Value, String), PasskeyError> {
        let keys: Vec<Passkey> = credentials.iter().map(|c| c.key.clone()).collect();
        let (options, state): (RequestChallengeResponse, PasskeyAuthentication) = self
            .webauthn
            .start_passkey_authentication(&keys)
            .map_err(|e| PasskeyError::Refused(e.to_string()))?;
        let options =
            serde_json::to_value(options).map_err(|e| PasskeyError::State(e.to_string()))?;
        Ok((options, to_json(&state)?))
    }

    /// Checks an assertion against the state kept from [`Self::start_authentication`]: the
    /// origin, the challenge, that the credential is one of those the state allowed, its
    /// signature, and user verification.
    pub fn finish_authentication(
        &self,
        answer: &str,
        state: &str,
    ) -> Result<Asserted, PasskeyError> {
        let answer: PublicKeyCredential = from_answer(answer)?;
        let state: PasskeyAuthentication = from_state(state)?;
        let result = self
            .webauthn
            .finish_passkey_authentication(&answer, &state)
            .map_err(|e| PasskeyError::Refused(e.to_string()))?;
        Ok(Asserted {
            credential_id: credential_id(result.cred_id().as_ref()),
            result,
        })
    }
}

impl RelyingParty {
    /// Starts a sign-in by passkey alone: the browser lets the user pick any discoverable
    /// credential of this site, and its answer names the user (the user handle).
    pub fn start_passwordless(&self) -> Result<(serde_json::Value, String), PasskeyError> {
        let (options, state): (RequestChallengeResponse, DiscoverableAuthentication) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| PasskeyError::Refused(e.to_string()))?;
        let options =
            serde_json::to_value(options).map_err(|e| PasskeyError::State(e.to_string()))?;
        Ok((options, to_json(&state)?))
    }

    /// Checks a passwordless answer against the state kept from [`Self::start_passwordless`]
    /// and the credential of the user it claims (see [`claimed`]).
    pub fn finish_passwordless(
        &self,
        answer: &str,
        state: &str,
        credential: &PasskeyCredential,
    ) -> Result<Asserted, PasskeyError> {
        let answer: PublicKeyCredential = from_answer(answer)?;
        let state: DiscoverableAuthentication = from_state(state)?;
        let result = self
            .webauthn
            .finish_discoverable_authentication_v2(&answer, state, &credential.key)
            .map_err(|e| PasskeyError::Refused(e.to_string()))?;
        Ok(Asserted {
            credential_id: credential_id(result.cred_id().as_ref()),
            result,
        })
    }
}

/// Whom a passwordless answer claims to be: the user handle (a user's id) and the credential
/// id. Nothing is proved yet; [`RelyingParty::finish_passwordless`] checks the claim.
pub fn claimed(answer: &str) -> Result<(Uuid, String), PasskeyError> {
    let answer: PublicKeyCredential = from_answer(answer)?;
    let handle = answer
        .get_user_unique_id()
        .and_then(|bytes| Uuid::from_slice(bytes).ok())
        .ok_or_else(|| PasskeyError::Refused("no user handle in the answer".into()))?;
    Ok((handle, credential_id(answer.get_credential_id())))
}

/// A credential id as Postern shows and stores it.
pub fn credential_id(raw: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn to_json<T: serde::Serialize>(state: &T) -> Result<String, PasskeyError> {
    serde_json::to_string(state).map_err(|e| PasskeyError::State(e.to_string()))
}

fn from_state<T: serde::de::DeserializeOwned>(state: &str) -> Result<T, PasskeyError> {
    serde_json::from_str(state).map_err(|e| PasskeyError::State(e.to_string()))
}

fn from_answer<T: serde::de::DeserializeOwned>(answer: &str) -> Result<T, PasskeyError> {
    serde_json::from_str(answer)
        .map_err(|e| PasskeyError::Refused(format!("a malformed answer: {e}")))
}

/// The AAGUID in the attested credential data, when the authenticator gave one: the
/// attestation object is CBOR, its `authData` is the RP id hash (32 bytes), the flags (1),
/// the counter (4), then, with the AT flag, the AAGUID (16).
fn aaguid_of(answer: &RegisterPublicKeyCredential) -> Option<Uuid> {
    const ATTESTED: u8 = 0x40;
    let object: serde_cbor_2::Value =
        serde_cbor_2::from_slice(answer.response.attestation_object.as_ref()).ok()?;
    let serde_cbor_2::Value::Map(entries) = object else {
        return None;
    };
    let auth_data = entries.iter().find_map(|(key, value)| match (key, value) {
        (serde_cbor_2::Value::Text(name), serde_cbor_2::Value::Bytes(bytes))
            if name == "authData" =>
        {
            Some(bytes)
        }
        _ => None,
    })?;
    let flags = *auth_data.get(32)?;
    let bytes: [u8; 16] = auth_data.get(37..53)?.try_into().ok()?;
    (flags & ATTESTED != 0 && bytes != [0; 16]).then(|| Uuid::from_bytes(bytes))
}

#[cfg(test)]
mod tests;
