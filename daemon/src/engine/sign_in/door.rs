//! What a door and the sign-in say to each other: who the door is ([`Door`]), what the user
//! answered ([`Answer`]), and where the sign-in goes next ([`Outcome`]).

use super::super::email_code::Sent;
use super::super::{NameMatch, PasswordAttempt};
use crate::audit::AuditDoor;
use crate::model::User;
use crate::model::grants::{Authentication, LoginStep};
use crate::store::batch::Batch;
use std::net::IpAddr;

/// Which door a sign-in came through, with what it knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DoorKind {
    Web {
        /// The relying party asked for MFA (`acr_values`).
        rp_wants_mfa: bool,
        /// The relying party asked for a passkey (`acr_values=postern:phr`).
        rp_wants_phishing_resistant: bool,
        /// `prompt=login`, `max_age`, or a step-up: a second factor typed now, even on a
        /// remembered browser.
        fresh_factor: bool,
        /// The browser's remembered-device cookie, if it sent one.
        device_cookie: Option<String>,
        /// The browser's `postern_browser` cookie (`known_browsers`), if it sent one.
        browser_cookie: Option<String>,
        /// To label a browser remembered after this sign-in.
        user_agent: String,
    },
    Pam {
        service: String,
        remote_host: Option<String>,
        /// `second_factor` mode: pam_unix checked the password; Postern adds the code.
        second_factor_only: bool,
    },
}

#[derive(Debug, Clone)]
pub struct Door {
    pub kind: DoorKind,
    /// The client's address, for the per-address brute-force limit.
    pub address: Option<IpAddr>,
    /// For the audit trail: "web 192.0.2.1", "pam sshd from 192.0.2.1".
    pub source: String,
    /// Where the writes that close an answer go: a door that gathers them
    /// ([`Batch::gathering`]) writes them when it has answered.
    pub batch: Batch,
}

impl Door {
    pub fn audit_door(&self) -> AuditDoor {
        match self.kind {
            DoorKind::Web { .. } => AuditDoor::Web,
            DoorKind::Pam { .. } => AuditDoor::Pam,
        }
    }

    /// The web takes a username in any case; PAM only the exact login name (see
    /// [`NameMatch`]).
    pub(super) fn name_match(&self) -> NameMatch {
        match self.kind {
            DoorKind::Web { .. } => NameMatch::IgnoringCase,
            DoorKind::Pam { .. } => NameMatch::Exact,
        }
    }

    pub(super) fn attempt<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> PasswordAttempt<'a> {
        PasswordAttempt {
            username,
            name_match: self.name_match(),
            password,
            address: self.address,
            source: self.source.clone(),
            door: self.audit_door(),
            batch: self.batch.clone(),
        }
    }
}

/// What the user answered at the current step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Password {
        username: String,
        password: String,
    },
    /// At the password step: "Email me a code" instead of the password.
    EmailMeACode {
        username: String,
    },
    /// PAM's second-factor mode: another module checked the password of this login name.
    Identified {
        username: String,
    },
    /// An app, emailed or recovery code, at a code or enrolment step.
    Code(String),
    /// A passkey's answer (the browser's JSON) to the challenge with this id.
    Passkey {
        challenge: String,
        answer: String,
    },
    /// At the password step: a passkey alone, which names the user ("Sign in with a passkey").
    Passwordless {
        challenge: String,
        answer: String,
    },
    /// On the app enrolment step: enrol emailed codes instead.
    ChooseEmail,
    /// On the app enrolment step: add a passkey instead.
    ChoosePasskey,
    /// On a passkey enrolment step (or the app's): the browser's answer to the registration
    /// challenge with this id, and the name the user gave the passkey.
    AddPasskey {
        challenge: String,
        name: String,
        answer: String,
    },
    /// On the second step at PAM: approve this login with a passkey on the approval page.
    ApproveWithPasskey,
    /// While waiting for that approval: has it come?
    CheckApproval,
    /// On an emailed-code step: send another code.
    Resend,
    /// After the recovery codes were shown.
    Continue,
}

/// A remembered-device cookie for the door to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCookie {
    pub value: String,
    pub max_age: u64,
}

/// A completed sign-in, already recorded (last sign-in time, audit, failure count cleared).
#[derive(Debug, Clone)]
pub struct Finished {
    pub user: User,
    pub authentication: Authentication,
    /// Set when the browser is (still) remembered: the cookie to send it.
    pub device: Option<DeviceCookie>,
    /// Through the web door: the cookie that marks the browser as known to the user.
    pub browser: Option<DeviceCookie>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Wrong username or password, or an unknown, disabled or locked account: one answer.
    Credentials,
    /// The code is wrong, spent or expired; the step stays.
    Code,
    /// The passkey's answer was not accepted (expired, spent, another key); the step stays.
    Passkey,
    /// Only a passkey will do: a code was offered, or this door cannot ask for a passkey.
    PasskeyRequired,
    /// A second factor is required, the user has none, and this door cannot enrol them.
    MustEnrol,
    /// The login is not approved yet; the step stays.
    ApprovalPending,
    /// The login was denied on the approval page, or its approval expired.
    ApprovalRefused,
    /// A second factor is required but no method the user could enrol is offered.
    CannotEnrol(String),
    /// The answer does not belong to this step.
    OutOfStep,
}

/// Where a sign-in goes after an answer.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Move to this step and show it.
    Next(LoginStep),
    /// Enrolled: show these recovery codes once; the step waits for [`Answer::Continue`].
    Enrolled {
        step: LoginStep,
        recovery_codes: Vec<String>,
        device: Option<DeviceCookie>,
    },
    /// Another emailed code was asked for; the step stays.
    Resent(Sent),
    Done(Box<Finished>),
    Refused(Refusal),
}
