//! Prometheus metrics, served on their own listener (`[metrics] listen`).
//!
//! Sign-in figures are taken from the audit events as they are recorded, so every door counts
//! the same way and nothing is counted that the audit trail does not show. Labels hold only
//! fixed words (door, factor, outcome, route): never a username, address or client.

use crate::audit::{AuditAction, AuditEvent, Outcome};
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
            "Second-factor checks, by door, method (totp, email, recovery, remembered_device, code) and outcome",
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
        let door = door(&event.source);
        let outcome = match event.outcome {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        };
        let detail = event.detail.as_deref().unwrap_or_default();
        match event.action {
            AuditAction::SignedIn => {
                let factor = match detail {
                    d if d.contains("otp") => "password+code",
                    d if d.contains("mfa") => "password+remembered_device",
                    _ => "password",
                };
                self.sign_in(door, factor, outcome);
            }
            AuditAction::SignInFailed => {
                if detail.contains("locked") {
                    self.throttled.get_or_create(&[("door", door)]).inc();
                }
                self.sign_in(door, "password", outcome);
            }
            AuditAction::SecondFactorFailed => {
                self.sign_in(door, "code", outcome);
                self.second_factor(door, "code", outcome);
            }
            AuditAction::SecondFactorAccepted => {
                let method = match detail {
                    "authenticator app" => "totp",
                    "recovery code" => "recovery",
                    "email code" => "email",
                    _ => "code",
                };
                self.second_factor(door, method, outcome);
            }
            AuditAction::RememberedDeviceUsed => {
                self.second_factor(door, "remembered_device", outcome);
            }
            AuditAction::MfaEnrolled if event.outcome == Outcome::Success => {
                let method = if detail.contains("email") {
                    "email"
                } else {
                    "totp"
                };
                self.enrolments.get_or_create(&[("method", method)]).inc();
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

/// The door an audit source names ("web 192.0.2.1", "pam sshd from …").
fn door(source: &str) -> &'static str {
    match source.split_whitespace().next() {
        Some("web") => "web",
        Some("pam") => "pam",
        Some("admin") => "admin",
        _ => "daemon",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: AuditAction, outcome: Outcome, source: &str, detail: &str) -> AuditEvent {
        AuditEvent {
            at: 1,
            actor: "alice".into(),
            action,
            subject: Some("alice".into()),
            source: source.into(),
            outcome,
            detail: Some(detail.into()),
        }
    }

    #[test]
    fn audit_events_move_counters_without_naming_anyone() {
        let metrics = Metrics::new();
        metrics.observe(&event(
            AuditAction::SignedIn,
            Outcome::Success,
            "pam sshd from 192.0.2.7",
            "amr pwd,otp,mfa",
        ));
        metrics.observe(&event(
            AuditAction::SignInFailed,
            Outcome::Failure,
            "web 192.0.2.8",
            "too many failures: locked",
        ));
        let text = metrics.render(3);
        assert!(
            text.contains(
                r#"postern_sign_ins_total{door="pam",factor="password+code",outcome="success"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"postern_throttled_attempts_total{door="web"} 1"#));
        assert!(text.contains("postern_users 3"));
        assert!(!text.contains("alice") && !text.contains("192.0.2"));
    }
}
