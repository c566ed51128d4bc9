//! Site-wide settings an administrator changes at run time with `postern site set KEY VALUE`.
//! Defaults follow DESIGN.md "Policy".

use super::ValidationError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MfaMethod {
    Totp,
    Email,
    /// Passkeys and security keys.
    Webauthn,
}

impl fmt::Display for MfaMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Totp => "totp",
            Self::Email => "email",
            Self::Webauthn => "webauthn",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteSettings {
    /// Second factors users may enrol; at least one.
    pub mfa_methods: Vec<MfaMethod>,
    pub totp_step_seconds: u64,
    /// Codes this many steps before or after the current one are accepted too.
    pub totp_skew_steps: u8,
    pub email_code_lifetime_seconds: u64,
    /// A device is remembered this long after its last successful sign-in; 0 turns it off.
    pub remember_device_seconds: u64,
    pub password_min_length: u32,
    /// "Sign in with a passkey" on the sign-in page, without a username or password.
    #[serde(default = "yes")]
    pub webauthn_passwordless: bool,
    /// "Forgot your password?" on the sign-in page.
    #[serde(default = "yes")]
    pub password_reset_enabled: bool,
    /// How long an invitation's code stays valid.
    #[serde(default = "three_days")]
    pub invitation_lifetime_seconds: u64,
    /// The name mail and pages give the site ("Acme sign-in", say).
    #[serde(default = "default_site_name")]
    pub site_name: String,
    /// Mail the user when a sign-in completes from a browser not seen before.
    #[serde(default = "yes")]
    pub notice_new_browser: bool,
    /// "Email me a code" on the sign-in page (and an empty password at PAM): an emailed code
    /// in place of the password.
    #[serde(default)]
    pub email_code_sign_in: bool,
}

fn default_site_name() -> String {
    "Postern".into()
}

fn three_days() -> u64 {
    72 * 3600
}

fn yes() -> bool {
    true
}

impl Default for SiteSettings {
    fn default() -> Self {
        Self {
            mfa_methods: vec![MfaMethod::Totp, MfaMethod::Email, MfaMethod::Webauthn],
            totp_step_seconds: 30,
            totp_skew_steps: 1,
            email_code_lifetime_seconds: 15 * 60,
            remember_device_seconds: 24 * 60 * 60,
            password_min_length: 8,
            webauthn_passwordless: true,
            invitation_lifetime_seconds: three_days(),
            password_reset_enabled: true,
            site_name: default_site_name(),
            notice_new_browser: true,
            email_code_sign_in: false,
        }
    }
}

/// One settable key: its name, what it means, and how to read and write it as text.
struct Key {
    name: &'static str,
    description: &'static str,
    get: fn(&SiteSettings) -> String,
    set: fn(&mut SiteSettings, &str) -> Result<(), String>,
}

const KEYS: &[Key] = &[
    Key {
        name: "site.name",
        description: "the site's name in mail (1 to 64 characters)",
        get: |s| s.site_name.clone(),
        set: |s, v| {
            if v.is_empty() || v.chars().count() > 64 || v.chars().any(char::is_control) {
                return Err("give 1 to 64 printable characters".into());
            }
            s.site_name = v.to_owned();
            Ok(())
        },
    },
    Key {
        name: "notices.new_browser",
        description: "mail users when they sign in from a browser not seen before (true or false)",
        get: |s| s.notice_new_browser.to_string(),
        set: |s, v| {
            s.notice_new_browser = parse_bool(v)?;
            Ok(())
        },
    },
    Key {
        name: "mfa.methods",
        description: "second factors users may enrol: totp, email, webauthn (passkeys and security keys), comma-separated; totp or email among them",
        get: |s| {
            s.mfa_methods
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        },
        set: |s, v| {
            let mut methods = Vec::new();
            for item in v.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                let method = match item {
                    "totp" => MfaMethod::Totp,
                    "email" => MfaMethod::Email,
                    "webauthn" => MfaMethod::Webauthn,
                    other => {
                        return Err(format!(
                            "`{other}` is not a method; use totp, email, webauthn"
                        ));
                    }
                };
                if !methods.contains(&method) {
                    methods.push(method);
                }
            }
            // A user made to enrol at sign-in is offered an app or emailed codes; passkeys are
            // added from the account page, so they cannot be the only method yet.
            if !methods
                .iter()
                .any(|m| matches!(m, MfaMethod::Totp | MfaMethod::Email))
            {
                return Err("offer totp or email (or both), with or without webauthn".into());
            }
            methods.sort();
            s.mfa_methods = methods;
            Ok(())
        },
    },
    Key {
        name: "totp.step",
        description: "seconds between TOTP codes (authenticator apps expect 30)",
        get: |s| s.totp_step_seconds.to_string(),
        set: |s, v| {
            s.totp_step_seconds = parse_in_range(v, 15, 300)?;
            Ok(())
        },
    },
    Key {
        name: "totp.skew",
        description: "TOTP codes this many steps early or late are accepted too (0 to 2)",
        get: |s| s.totp_skew_steps.to_string(),
        set: |s, v| {
            s.totp_skew_steps = parse_in_range(v, 0, 2)? as u8;
            Ok(())
        },
    },
    Key {
        name: "email_code.lifetime",
        description: "how long an emailed code stays valid (1m to 24h)",
        get: |s| format_seconds(s.email_code_lifetime_seconds),
        set: |s, v| {
            s.email_code_lifetime_seconds = parse_duration_in_range(v, 60, 24 * 3600)?;
            Ok(())
        },
    },
    Key {
        name: "sign_in.email_code",
        description: "whether users may sign in with an emailed code instead of their password (true or false); their second factor still follows",
        get: |s| s.email_code_sign_in.to_string(),
        set: |s, v| {
            s.email_code_sign_in = parse_bool(v)?;
            Ok(())
        },
    },
    Key {
        name: "password_reset.enabled",
        description: "whether users may reset a forgotten password themselves (true or false)",
        get: |s| s.password_reset_enabled.to_string(),
        set: |s, v| {
            s.password_reset_enabled = parse_bool(v)?;
            Ok(())
        },
    },
    Key {
        name: "invitation.lifetime",
        description: "how long an invitation's code stays valid (1h to 30d)",
        get: |s| format_seconds(s.invitation_lifetime_seconds),
        set: |s, v| {
            s.invitation_lifetime_seconds = parse_duration_in_range(v, 3600, 30 * 24 * 3600)?;
            Ok(())
        },
    },
    Key {
        name: "remember_device.window",
        description: "a device skips the second factor this long after its last sign-in (0 = never; at most 30d)",
        get: |s| format_seconds(s.remember_device_seconds),
        set: |s, v| {
            s.remember_device_seconds = parse_duration_in_range(v, 0, 30 * 24 * 3600)?;
            Ok(())
        },
    },
    Key {
        name: "password.min_length",
        description: "shortest password accepted when one is set (8 to 128 characters)",
        get: |s| s.password_min_length.to_string(),
        set: |s, v| {
            s.password_min_length = parse_in_range(v, 8, 128)? as u32;
            Ok(())
        },
    },
    Key {
        name: "webauthn.passwordless",
        description: "whether a passkey alone signs in, without username or password (true or false)",
        get: |s| s.webauthn_passwordless.to_string(),
        set: |s, v| {
            s.webauthn_passwordless = parse_bool(v)?;
            Ok(())
        },
    },
];

impl SiteSettings {
    /// Every key with its current value and description, in a stable order.
    pub fn describe(&self) -> Vec<(&'static str, String, &'static str)> {
        KEYS.iter()
            .map(|k| (k.name, (k.get)(self), k.description))
            .collect()
    }

    /// Sets `key` from its text form. The settings are unchanged when this fails.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ValidationError> {
        let Some(entry) = KEYS.iter().find(|k| k.name == key) else {
            let names: Vec<_> = KEYS.iter().map(|k| k.name).collect();
            return Err(ValidationError::new(
                "key",
                format!(
                    "`{key}` is not a site setting; known keys: {}",
                    names.join(", ")
                ),
            ));
        };
        let mut changed = self.clone();
        (entry.set)(&mut changed, value.trim())
            .map_err(|message| ValidationError::new(entry.name, message))?;
        *self = changed;
        Ok(())
    }
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("`{other}` is not true or false")),
    }
}

fn parse_in_range(text: &str, low: u64, high: u64) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if (low..=high).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{text}` must be a whole number from {low} to {high}"
        )),
    }
}

fn parse_duration_in_range(text: &str, low: u64, high: u64) -> Result<u64, String> {
    let seconds = super::duration::parse(text)?.as_secs();
    if !(low..=high).contains(&seconds) {
        return Err(format!(
            "`{text}` must be from {} to {}",
            format_seconds(low),
            format_seconds(high)
        ));
    }
    Ok(seconds)
}

fn format_seconds(seconds: u64) -> String {
    if seconds == 0 {
        return "0".into();
    }
    humantime::format_duration(Duration::from_secs(seconds)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_design() {
        let s = SiteSettings::default();
        assert_eq!((s.totp_step_seconds, s.totp_skew_steps), (30, 1));
        assert_eq!(s.email_code_lifetime_seconds, 900);
        assert_eq!(s.remember_device_seconds, 86_400);
        assert_eq!(
            s.mfa_methods,
            vec![MfaMethod::Totp, MfaMethod::Email, MfaMethod::Webauthn]
        );
    }

    #[test]
    fn keys_round_trip_through_text() {
        let mut s = SiteSettings::default();
        s.set("mfa.methods", "email").unwrap();
        s.set("email_code.lifetime", "10m").unwrap();
        s.set("remember_device.window", "0").unwrap();
        let described = s.describe();
        let value = |key| {
            described
                .iter()
                .find(|(k, _, _)| *k == key)
                .unwrap()
                .1
                .clone()
        };
        assert_eq!(value("mfa.methods"), "email");
        assert_eq!(value("email_code.lifetime"), "10m");
        assert_eq!(value("remember_device.window"), "0");
        assert_eq!(s.remember_device_seconds, 0);
    }

    #[test]
    fn bad_values_are_refused_and_change_nothing() {
        let mut s = SiteSettings::default();
        for (key, value) in [
            ("mfa.methods", ""),
            ("mfa.methods", "sms"),
            ("mfa.methods", "webauthn"),
            ("webauthn.passwordless", "yes"),
            ("totp.skew", "5"),
            ("totp.step", "thirty"),
            ("email_code.lifetime", "2s"),
            ("password.min_length", "4"),
            ("no.such.key", "1"),
        ] {
            let err = s.set(key, value).unwrap_err();
            assert!(!err.message.is_empty(), "{key}={value}");
        }
        assert_eq!(s, SiteSettings::default());
    }
}
