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
