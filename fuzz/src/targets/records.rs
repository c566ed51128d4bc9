//! Stored records as the store decodes them (a version byte, then JSON): a damaged or hostile
//! record is an error naming its kind, never a crash. Every input is decoded as every kind.

use postern_daemon::model::grants::{
    Authentication, AuthorizationRequest, CodePurpose, EmailCode, FailureWindow, LoginFlow,
    LoginStep, Session,
};
use postern_daemon::model::mfa::{MfaEnrolment, TotpSeed};
use postern_daemon::model::{MfaMethod, Role, SiteSettings, User, UserId};
use postern_daemon::store::codec::{decode, encode};

pub fn user() -> User {
    User {
        id: UserId(uuid::Uuid::from_u128(7)),
        username: "alice".into(),
        email: "alice@example.com".into(),
        display_name: Some("Alice".into()),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        roles: ["staff".to_owned()].into(),
        disabled: false,
        created_at: 1,
        password_changed_at: 1,
        last_login_at: Some(2),
        email_verified: true,
        session_generation: 3,
        mfa: Some(MfaEnrolment {
            method: MfaMethod::Totp,
            totp: Some(TotpSeed {
                sealed: vec![1, 2, 3],
                last_step: Some(4),
            }),
            recovery_codes: vec![[9; 32]],
            enrolled_at: 1,
            passkeys: Vec::new(),
        }),
        invited_at: None,
        known_browsers: Vec::new(),
    }
}

pub fn seeds() -> Vec<Vec<u8>> {
    let authentication = Authentication {
        user_id: user().id,
        auth_time: 5,
        amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
    };
    let flow = LoginFlow {
        request: Some(AuthorizationRequest {
            client_id: "c".into(),
            redirect_uri: "https://app.example.com/cb".into(),
            scopes: vec!["openid".into()],
            state: Some("s".into()),
            nonce: None,
            code_challenge: Some("x".into()),
            max_age: Some(60),
            force_login: false,
            prompt_consent: false,
            prompt_none: false,
            acr_values: Vec::new(),
            login_hint: None,
        }),
        then_approve: None,
        step: LoginStep::PasswordAfterCode {
            authentication: authentication.clone(),
        },
        browser: [3; 32],
        created_at: 1,
        expires_at: 2,
    };
    let session = Session {
        authentication,
        created_at: 1,
        password_fingerprint: Some("f".into()),
        generation: 1,
        pending_totp_seed: Some(vec![1]),
        expires_at: 9,
        browser: "Firefox on Linux".into(),
        source: "192.0.2.1".into(),
    };
    [
        encode(&user()),
        encode(&Role {
            name: "staff".into(),
            require_mfa: true,
            api_access: false,
            require_phishing_resistant: false,
        }),
        encode(&SiteSettings::default()),
        encode(&flow),
        encode(&session),
        encode(&EmailCode {
            purpose: CodePurpose::FirstFactor,
            mac: [1; 32],
            wrong_tries: 1,
            sent_at: 1,
            expires_at: 2,
        }),
        encode(&FailureWindow {
            failures: vec![1, 2],
            locked_until: Some(3),
            expires_at: 4,
        }),
    ]
    .into_iter()
    .filter_map(Result::ok)
    .collect()
}

pub const DICTIONARY: &[&[u8]] = &[
    b"\x01",
    b"\x02",
    b"\x03",
    b"\"mfa\"",
    b"\"step\"",
    b"\"Password\"",
    b"\"EmailedCode\"",
    b"\"user_id\"",
    b"null",
    b"[]",
    b"\"AAAA\"",
    b"\"====\"",
];

pub fn run(input: &[u8]) -> Result<(), String> {
    use postern_daemon::model::grants::*;
    let _ = decode::<User>(input);
    let _ = decode::<Role>(input);
    let _ = decode::<SiteSettings>(input);
    let _ = decode::<postern_daemon::model::Client>(input);
    let _ = decode::<postern_daemon::model::signing_key::SigningKeyRecord>(input);
    let _ = decode::<postern_daemon::model::consent::ConsentGrant>(input);
    let _ = decode::<postern_daemon::model::audit::AuditEvent>(input);
    let _ = decode::<postern_daemon::model::mail::MailRecord>(input);
    let _ = decode::<LoginFlow>(input);
    let _ = decode::<Session>(input);
    let _ = decode::<TokenFamily>(input);
    let _ = decode::<AuthorizationCode>(input);
    let _ = decode::<AccessToken>(input);
    let _ = decode::<RefreshToken>(input);
    let _ = decode::<RememberedDevice>(input);
    let _ = decode::<RememberedHost>(input);
    let _ = decode::<EmailCode>(input);
    let _ = decode::<FailureWindow>(input);
    let _ = decode::<postern_daemon::model::passkey::PasskeyChallenge>(input);
    let _ = decode::<postern_daemon::model::device::DeviceAuthorization>(input);
    // A record that decodes must encode again: what the store reads, it can write back.
    if let Ok(user) = decode::<User>(input) {
        encode(&user).map_err(|e| format!("a decoded user does not encode: {e}"))?;
    }
    Ok(())
}
