//! Time as the pipeline stores it. Callers pass the current time in (milliseconds since the
//! Unix epoch), so every function here is deterministic and testable.
//!
//! D1 stores timestamps as RFC 3339 text with milliseconds in UTC
//! (`2026-11-22T21:06:00.123Z`), the same shape SQLite's `strftime('%Y-%m-%dT%H:%M:%fZ')`
//! produces: people can read them, and they compare correctly as text.

use chrono::{DateTime, SecondsFormat};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// The stored form of a point in time. Out-of-range inputs clamp to the epoch.
pub fn timestamp(ms: Millis) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads a stored timestamp back.
pub fn parse_timestamp(text: &str) -> Option<Millis> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Where the pipeline gets the current time and randomness from.
pub trait Clock {
    fn now_ms(&self) -> Millis;
    /// A uniformly random number in `[0, 1)`, for retry jitter.
    fn random_unit(&self) -> f64;
    /// Waits `ms` milliseconds.
    async fn sleep(&self, ms: u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_sqlite_strftime() {
        assert_eq!(timestamp(1_795_381_560_123), "2026-11-22T21:06:00.123Z");
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn text_order_is_time_order() {
        let earlier = timestamp(1_795_381_560_999);
        let later = timestamp(1_795_381_561_000);
        assert!(earlier < later);
    }

    #[test]
    fn round_trips() {
        let ms = 1_795_381_560_123;
        assert_eq!(parse_timestamp(&timestamp(ms)), Some(ms));
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
