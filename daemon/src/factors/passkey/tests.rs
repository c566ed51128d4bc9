//! The relying party against a software authenticator (webauthn-authenticator-rs's
//! `SoftPasskey`), which does what a browser and an authenticator do together: it signs
//! over the origin it is given and the challenge of the options.

use super::*;
use crate::clock::UnixSeconds;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::CreationChallengeResponse;

const ISSUER: &str = "http://localhost:8080";

fn relying_party() -> RelyingParty {
    RelyingParty::for_issuer(ISSUER, "Postern").expect("a relying party for localhost")
}

fn origin(url: &str) -> Url {
    Url::parse(url).unwrap()
}

/// A new authenticator, and the credential it registered for a new user.
fn registered(rp: &RelyingParty) -> (SoftPasskey, PasskeyCredential, Uuid) {
    let user = Uuid::new_v4();
    let mut authenticator = SoftPasskey::new(true);
    let (options, state) = rp.start_registration(user, "alice", "Alice", &[]).unwrap();
    let options: CreationChallengeResponse = serde_json::from_value(options).unwrap();
    let answer = authenticator
        .do_registration(origin(ISSUER), options)
        .expect("the authenticator registers");
    let registered = rp
        .finish_registration(&serde_json::to_string(&answer).unwrap(), &state)
        .expect("the registration is accepted");
    let credential = PasskeyCredential {
        id: registered.id,
        name: "test key".into(),
        created_at: 1 as UnixSeconds,
        last_used_at: None,
        aaguid: registered.aaguid,
        key: registered.key,
    };
    (authenticator, credential, user)
}

/// The authenticator's answer to a sign-in challenge, as the browser would send it.
fn assertion(
    authenticator: &mut SoftPasskey,
    at: &str,
    options: serde_json::Value,
) -> Result<String, webauthn_authenticator_rs::prelude::WebauthnCError> {
    let options: RequestChallengeResponse = serde_json::from_value(options).unwrap();
    authenticator
        .do_authentication(origin(at), options)
        .map(|answer| serde_json::to_string(&answer).unwrap())
}

#[test]
fn a_registered_passkey_signs_in_with_user_verification() {
    let rp = relying_party();
    let (mut authenticator, credential, _) = registered(&rp);
    let (options, state) = rp
        .start_authentication(std::slice::from_ref(&credential))
        .unwrap();
    let answer = assertion(&mut authenticator, ISSUER, options).unwrap();
    let asserted = rp.finish_authentication(&answer, &state).unwrap();
    assert_eq!(asserted.credential_id, credential.id);
    assert!(asserted.result.user_verified());
    assert_eq!(
        asserted.amr(),
        ["hwk", "user"],
        "a soft key is not backup eligible"
    );
}

#[test]
fn registration_asks_for_a_discoverable_credential_and_user_verification() {
    let rp = relying_party();
    let (options, _) = rp
        .start_registration(Uuid::new_v4(), "alice", "Alice", &[])
        .unwrap();
    let selection = &options["publicKey"]["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "preferred");
    assert_eq!(selection["userVerification"], "required");
    assert_eq!(options["publicKey"]["rp"]["id"], "localhost");
}

#[test]
fn the_user_handle_is_the_users_id_not_the_name() {
    let rp = relying_party();
    let user = Uuid::new_v4();
    let (options, _) = rp.start_registration(user, "alice", "Alice", &[]).unwrap();
    let handle = options["publicKey"]["user"]["id"].as_str().unwrap();
    let handle = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(handle)
        .unwrap();
    assert_eq!(handle, user.as_bytes());
}

#[test]
fn an_answer_made_on_another_origin_is_refused() {
    let rp = relying_party();
    let (mut authenticator, credential, _) = registered(&rp);
    let (options, state) = rp
        .start_authentication(std::slice::from_ref(&credential))
        .unwrap();
    // Same relying-party id, another origin: a page on another port of the same host.
    let answer = assertion(&mut authenticator, "http://localhost:9999", options).unwrap();
    assert!(matches!(
        rp.finish_authentication(&answer, &state),
        Err(PasskeyError::Refused(_))
    ));
}

#[test]
fn an_answer_to_another_challenge_is_refused() {
    let rp = relying_party();
    let (mut authenticator, credential, _) = registered(&rp);
    let (first, _first_state) = rp
        .start_authentication(std::slice::from_ref(&credential))
        .unwrap();
    let (_second, second_state) = rp
        .start_authentication(std::slice::from_ref(&credential))
        .unwrap();
    let answer = assertion(&mut authenticator, ISSUER, first).unwrap();
    assert!(rp.finish_authentication(&answer, &second_state).is_err());
}

#[test]
fn a_credential_the_challenge_did_not_allow_is_refused() {
    let rp = relying_party();
    let (_, alice, _) = registered(&rp);
    let (mut mallory_key, mallory, _) = registered(&rp);
    let (mut options, state) = rp
        .start_authentication(std::slice::from_ref(&alice))
        .unwrap();
    // Mallory's authenticator answers alice's challenge with its own credential.
    options["publicKey"]["allowCredentials"][0]["id"] = mallory.id.clone().into();
    let answer = assertion(&mut mallory_key, ISSUER, options).unwrap();
    assert!(matches!(
        rp.finish_authentication(&answer, &state),
        Err(PasskeyError::Refused(_))
    ));
}

#[test]
fn malformed_answers_and_states_are_errors_not_panics() {
    let rp = relying_party();
    let (_, credential, _) = registered(&rp);
    let (_, state) = rp.start_authentication(&[credential]).unwrap();
    for answer in ["", "{}", "[1,2]", "{\"id\":\"x\",\"rawId\":\"@@\"}"] {
        assert!(matches!(
            rp.finish_authentication(answer, &state),
            Err(PasskeyError::Refused(_))
        ));
    }
    assert!(matches!(
        rp.finish_registration("{}", "not json"),
        Err(PasskeyError::Refused(_) | PasskeyError::State(_))
    ));
}

#[test]
fn an_issuer_without_a_host_name_or_a_secure_origin_has_no_passkeys() {
    for issuer in [
        "http://127.0.0.1:8080",
        "http://[::1]:8080",
        "http://id.example.com",
    ] {
        assert!(
            RelyingParty::for_issuer(issuer, "Postern").is_err(),
            "{issuer}"
        );
    }
    assert!(RelyingParty::for_issuer("https://id.example.com", "Postern").is_ok());
    assert!(RelyingParty::for_issuer("http://localhost:1234", "Postern").is_ok());
}
