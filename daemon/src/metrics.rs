//! Prometheus metrics, served on their own listener (`[metrics] listen`).
//!
//! Sign-in figures are taken from the audit events as they are recorded, so every door counts
//! the same way and nothing is counted that the audit trail does not show. Labels hold only
//! fixed words (door, factor, outcome, route): never a username, address or client.

use crate::model::audit::{AuditAction, AuditEvent, Factor, Outcome};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

type Labels<const N: usize> = [(&'static str, &'static str); N];

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    sign_ins: Family<Labels<3>, Counter>,
    second_factors: Family<Labels<3>, Counter>,
    enrolments: Family<Labels<1>, Counter>,
    resets: Counter,
    passkeys: Family<Labels<1>, Counter>,
    tokens: Family<Labels<1>, Counter>,
    token_reuse: Family<Labels<1>, Counter>,
    throttled: Family<Labels<1>, Counter>,
    locks: Family<Labels<2>, Counter>,
    mail: Family<Labels<1>, Counter>,
    http_duration: Family<Labels<2>, Histogram>,
    users: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut metrics = Self {
            sign_ins: Family::default(),
            second_factors: Family::default(),
            enrolments: Family::default(),
            resets: Counter::default(),
            passkeys: Family::default(),
            tokens: Family::default(),
            token_reuse: Family::default(),
            throttled: Family::default(),
            locks: Family::default(),
            mail: Family::default(),
            http_duration: Family::new_with_constructor(|| {
                // 0.5 ms to ~16 s: a static page to a slow password hash under load.
                Histogram::new(exponential_buckets(0.0005, 2.0, 16))
            }),
            users: Gauge::default(),
            registry: Registry::with_prefix("postern"),
        };
        metrics.registry.register(
            "sign_ins",
            "Completed and failed sign-ins, by door (web, pam), factor and outcome",
            metrics.sign_ins.clone(),
        );
        metrics.registry.register(
            "second_factors",
            "Second-factor checks, by door, method (totp, email, recovery, passkey, remembered_device, code) and outcome",
            metrics.second_factors.clone(),
        );
        metrics.registry.register(
            "mfa_enrolments",
            "Completed MFA enrolments, by method",
            metrics.enrolments.clone(),
        );
        metrics.registry.register(
            "mfa_resets",
            "Second factors reset by an administrator (lost devices)",
            metrics.resets.clone(),
        );
        metrics.registry.register(
            "passkey_changes",
            "Passkeys added to and removed from accounts, by change (added, removed)",
            metrics.passkeys.clone(),
        );
        metrics.registry.register(
            "tokens",
            "Token responses, by grant (authorization_code, refresh_token)",
            metrics.tokens.clone(),
        );
        metrics.registry.register(
            "token_reuse",
            "Replayed authorization codes and refresh tokens (their families are revoked)",
            metrics.token_reuse.clone(),
        );
        metrics.registry.register(
            "throttled_attempts",
            "Sign-in attempts refused because the account or address was locked, by door",
            metrics.throttled.clone(),
        );
        metrics.registry.register(
            "locks",
            "Brute-force locks set, by door and scope (account, address)",
            metrics.locks.clone(),
        );
        metrics.registry.register(
            "mail",
            "Mail handed to the transport, by outcome (sent, failed)",
            metrics.mail.clone(),
        );
        metrics.registry.register(
            "http_request_duration_seconds",
            "Time to answer web requests, by route and status class",
            metrics.http_duration.clone(),
        );
        metrics
            .registry
            .register("users", "Users in the store", metrics.users.clone());
        metrics
    }

    /// Counts what an audit event says happened.
    pub fn observe(&self, event: &AuditEvent) {
        let door = event.door.as_str();
        let outcome = match event.outcome {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        };
        match event.action {
            AuditAction::SignedIn => {
                let has = |value: &str| event.amr.iter().any(|m| m == value);
                let factor = if has("hwk") || has("swk") {
                    "password+passkey"
                } else if has("otp") {
                    "password+code"
                } else if has("mfa") {
                    "password+remembered_device"
                } else {
                    "password"
                };
                self.sign_in(door, factor, outcome);
            }
            AuditAction::SignInFailed => {
                if event.throttled {
                    self.throttled.get_or_create(&[("door", door)]).inc();
                }
                self.sign_in(door, "password", outcome);
            }
            AuditAction::SecondFactorFailed => {
                self.sign_in(door, "code", outcome);
                self.second_factor(door, "code", outcome);
            }
            AuditAction::SecondFactorAccepted => {
                let method = event.factor.map_or("code", Factor::as_str);
                self.second_factor(door, method, outcome);
            }
            AuditAction::RememberedDeviceUsed => {
                self.second_factor(door, "remembered_device", outcome);
            }
            AuditAction::MfaEnrolled if event.outcome == Outcome::Success => {
                let method = event.factor.map_or("unknown", Factor::as_str);
                self.enrolments.get_or_create(&[("method", method)]).inc();
            }
            AuditAction::PasskeyAdded if event.outcome == Outcome::Success => {
                self.passkeys.get_or_create(&[("change", "added")]).inc();
            }
            AuditAction::PasskeyRemoved if event.outcome == Outcome::Success => {
                self.passkeys.get_or_create(&[("change", "removed")]).inc();
            }
            AuditAction::MfaReset if event.outcome == Outcome::Success => {
                self.resets.inc();
            }
            AuditAction::TokensIssued => {
                self.tokens
                    .get_or_create(&[("grant", "authorization_code")])
                    .inc();
            }
            AuditAction::CodeReused => {
                self.token_reuse
                    .get_or_create(&[("kind", "authorization_code")])
                    .inc();
            }
            AuditAction::RefreshTokenReused => {
                self.token_reuse
                    .get_or_create(&[("kind", "refresh_token")])
                    .inc();
            }
            AuditAction::AccountLocked => {
                self.locks
                    .get_or_create(&[("door", door), ("scope", "account")])
                    .inc();
            }
            AuditAction::AddressLocked => {
                self.locks
                    .get_or_create(&[("door", door), ("scope", "address")])
                    .inc();
            }
            _ => {}
        }
    }

    /// Refreshes are counted here directly: they are not audited one by one.
    pub fn token_refreshed(&self) {
        self.tokens
            .get_or_create(&[("grant", "refresh_token")])
            .inc();
    }

    pub fn mail(&self, sent: bool) {
        let outcome = if sent { "sent" } else { "failed" };
        self.mail.get_or_create(&[("outcome", outcome)]).inc();
    }

    /// `route` is the matched route pattern (`/token`), never the raw path with its query.
    pub fn http_request(&self, route: &'static str, status: u16, took: Duration) {
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.http_duration
            .get_or_create(&[("route", route), ("status", class)])
            .observe(took.as_secs_f64());
    }

    /// The exposition text, with the user count as of now.
    pub fn render(&self, users: u64) -> String {
        self.users.set(i64::try_from(users).unwrap_or(i64::MAX));
        let mut text = String::new();
        if let Err(e) = encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        text
    }

    fn sign_in(&self, door: &'static str, factor: &'static str, outcome: &'static str) {
        self.sign_ins
            .get_or_create(&[("door", door), ("factor", factor), ("outcome", outcome)])
            .inc();
    }

    fn second_factor(&self, door: &'static str, method: &'static str, outcome: &'static str) {
        self.second_factors
            .get_or_create(&[("door", door), ("method", method), ("outcome", outcome)])
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::audit::AuditDoor;

    fn event(action: AuditAction, outcome: Outcome, door: AuditDoor) -> AuditEvent {
        AuditEvent::new(1, "alice", action, door, "somewhere 192.0.2.7", outcome).subject("alice")
    }

    #[test]
    fn audit_events_move_counters_without_naming_anyone() {
        let metrics = Metrics::new();
        let amr = ["pwd", "otp", "mfa"].map(String::from);
        metrics.observe(&event(AuditAction::SignedIn, Outcome::Success, AuditDoor::Pam).amr(&amr));
        metrics.observe(
            &event(AuditAction::SignInFailed, Outcome::Failure, AuditDoor::Web).throttled(true),
        );
        metrics.observe(
            &event(AuditAction::MfaEnrolled, Outcome::Success, AuditDoor::Web)
                .factor(Factor::EmailCode)
                .detail("method totp, said the text, which metrics must not read"),
        );
        let text = metrics.render(3);
        assert!(
            text.contains(
                r#"postern_sign_ins_total{door="pam",factor="password+code",outcome="success"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"postern_throttled_attempts_total{door="web"} 1"#));
        assert!(
            text.contains(r#"postern_mfa_enrolments_total{method="email"} 1"#),
            "{text}"
        );
        assert!(text.contains("postern_users 3"));
        assert!(!text.contains("alice") && !text.contains("192.0.2"));
    }
}
