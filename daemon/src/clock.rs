//! The one place that reads the wall clock. Everything else is handed a [`Clock`], so tests can
//! move time forward (code expiry, lockouts, remembered devices) instead of sleeping.

use std::fmt::Debug;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, UTC. Stored records and the wire use this unit.
pub type UnixSeconds = u64;

pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> SystemTime;

    fn unix_now(&self) -> UnixSeconds {
        self.now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs()
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned reader of the wall clock
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The system clock plus an offset that only moves forward. Used when the config's
/// `testing.adjustable_clock` is on, so end-to-end tests can expire codes and tokens without
/// sleeping.
#[derive(Debug, Default)]
pub struct AdjustableClock {
    offset_seconds: std::sync::atomic::AtomicU64,
}

impl AdjustableClock {
    pub fn advance(&self, seconds: u64) {
        self.offset_seconds
            .fetch_add(seconds, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for AdjustableClock {
    fn now(&self) -> SystemTime {
        SystemClock.now()
            + Duration::from_secs(
                self.offset_seconds
                    .load(std::sync::atomic::Ordering::SeqCst),
            )
    }
}

/// RFC 3339 UTC, to the second, for messages and audit details.
pub fn format_unix(seconds: UnixSeconds) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(seconds)).to_string()
}

/// A moment for people to read on a page: "2026-12-02 07:40 UTC".
pub fn format_for_people(seconds: UnixSeconds) -> String {
    let text = format_unix(seconds);
    // "2026-12-02T07:40:12Z": the date, the time to the minute.
    match (text.get(..10), text.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => text,
    }
}

/// A length of time for people to read: "1 day", "12 hours", "1 day 6 hours", "90 seconds".
/// The two largest units are enough on a page.
pub fn describe_duration(seconds: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    let mut left = seconds;
    let mut parts = Vec::new();
    for (size, name) in UNITS {
        let count = left / size;
        if count > 0 && parts.len() < 2 {
            parts.push(format!(
                "{count} {name}{}",
                if count == 1 { "" } else { "s" }
            ));
            left -= count * size;
        }
    }
    if parts.is_empty() {
        "0 seconds".into()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times_read_as_people_write_them() {
        assert_eq!(describe_duration(86_400), "1 day");
        assert_eq!(
            describe_duration(2 * 86_400 + 6 * 3_600 + 5),
            "2 days 6 hours"
        );
        assert_eq!(describe_duration(12 * 3_600), "12 hours");
        assert_eq!(describe_duration(90), "1 minute 30 seconds");
        assert_eq!(describe_duration(0), "0 seconds");
        assert_eq!(format_for_people(0), "1970-01-01 00:00 UTC");
    }
}
