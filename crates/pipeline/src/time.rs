//! Time as the pipeline stores it. Callers pass the current time in (milliseconds since the
//! Unix epoch), so every function here is deterministic and testable.
//!
//! D1 stores timestamps as RFC 3339 text with milliseconds in UTC
//! (`2026-11-22T21:06:00.123Z`), the same shape SQLite's `strftime('%Y-%m-%dT%H:%M:%fZ')`
//! produces: people can read them, and they compare correctly as text.

use std::fmt;

use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// A point in time as D1 stores it and the API shows it (RFC 3339 text), held as [`Millis`].
/// Rows decode into it once; nothing downstream parses timestamps again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub Millis);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&timestamp(self.0))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        parse_timestamp(&text)
            .map(Timestamp)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not an RFC 3339 time")))
    }
}

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
    fn timestamps_decode_from_and_encode_to_stored_text() {
        let decoded: Timestamp = serde_json::from_str("\"2026-11-22T21:06:00.123Z\"").unwrap();
        assert_eq!(decoded, Timestamp(1_795_381_560_123));
        assert_eq!(
            serde_json::to_string(&decoded).unwrap(),
            "\"2026-11-22T21:06:00.123Z\""
        );
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
    }

    #[test]
    fn round_trips() {
        let ms = 1_795_381_560_123;
        assert_eq!(parse_timestamp(&timestamp(ms)), Some(ms));
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
