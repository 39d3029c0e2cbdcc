//! Quotas per tenant: documents and bytes accepted per UTC day, jobs in flight, and model tokens
//! per UTC day. Defaults come from the Workers' vars; a tenant's row in D1 may override each.
//! Counting happens in D1, in the statement that admits an upload, so concurrent requests at the
//! edge of a quota cannot both get through.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};

use crate::time::Millis;

/// One of the quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    DocumentsPerDay,
    BytesPerDay,
    JobsInFlight,
    TokensPerDay,
}

impl Quota {
    /// The stable name, as error bodies carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            Quota::DocumentsPerDay => "documents_per_day",
            Quota::BytesPerDay => "bytes_per_day",
            Quota::JobsInFlight => "jobs_in_flight",
            Quota::TokensPerDay => "tokens_per_day",
        }
    }

    /// When trying again may succeed: the next UTC day for daily quotas, soon for jobs in
    /// flight (they finish).
    pub fn retry_after_seconds(self, now: Millis) -> u32 {
        match self {
            Quota::JobsInFlight => 30,
            _ => seconds_until_next_day(now),
        }
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str().replace('_', " "))
    }
}

/// The limits a tenant is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    pub documents_per_day: u64,
    pub bytes_per_day: u64,
    pub jobs_in_flight: u64,
    pub tokens_per_day: u64,
    /// A document gets a new job at most once per this many seconds.
    pub reprocess_interval_seconds: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            documents_per_day: 10_000,
            bytes_per_day: 10 * 1024 * 1024 * 1024,
            jobs_in_flight: 1_000,
            tokens_per_day: 10_000_000,
            reprocess_interval_seconds: 60,
        }
    }
}

/// What a tenant has used, for telling which quota refused a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Used {
    pub documents: u64,
    pub bytes: u64,
    pub tokens: u64,
    pub in_flight: u64,
}

impl Used {
    /// The first quota that one more document of `size` bytes would break, with what was used
    /// and the limit.
    pub fn exceeded(&self, limits: &Quotas, size: u64) -> Option<(Quota, u64, u64)> {
        if self.documents >= limits.documents_per_day {
            Some((
                Quota::DocumentsPerDay,
                self.documents,
                limits.documents_per_day,
            ))
        } else if self.bytes.saturating_add(size) > limits.bytes_per_day {
            Some((Quota::BytesPerDay, self.bytes, limits.bytes_per_day))
        } else if self.in_flight >= limits.jobs_in_flight {
            Some((Quota::JobsInFlight, self.in_flight, limits.jobs_in_flight))
        } else if self.tokens >= limits.tokens_per_day {
            Some((Quota::TokensPerDay, self.tokens, limits.tokens_per_day))
        } else {
            None
        }
    }
}

fn utc(now: Millis) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(now).unwrap_or_default()
}

/// The UTC day `now` falls in, as `tenant_usage.day` stores it.
pub fn day(now: Millis) -> String {
    utc(now).format("%Y-%m-%d").to_string()
}

/// Seconds from `now` to the next UTC midnight, at least 1.
pub fn seconds_until_next_day(now: Millis) -> u32 {
    let now = utc(now);
    let tomorrow = Utc
        .with_ymd_and_hms(now.year(), now.month(), now.day(), 0, 0, 0)
        .single()
        .map(|midnight| midnight + Duration::days(1));
    tomorrow
        .map(|t| (t - now).num_seconds())
        .and_then(|s| u32::try_from(s).ok())
        .unwrap_or(86_400)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_795_381_560_000; // 2026-11-22T21:06:00Z

    #[test]
    fn days_are_utc_dates_and_retries_wait_for_the_next_one() {
        assert_eq!(day(T0), "2026-11-22");
        assert_eq!(seconds_until_next_day(T0), 2 * 3_600 + 54 * 60);
        assert_eq!(Quota::DocumentsPerDay.retry_after_seconds(T0), 10_440);
        assert_eq!(Quota::JobsInFlight.retry_after_seconds(T0), 30);
        let last_second = 1_795_392_000_000 - 1;
        assert_eq!(seconds_until_next_day(last_second), 1);
    }

    #[test]
    fn the_first_quota_broken_is_named() {
        let limits = Quotas {
            documents_per_day: 10,
            bytes_per_day: 1_000,
            jobs_in_flight: 5,
            tokens_per_day: 100,
            ..Quotas::default()
        };
        let used = Used {
            documents: 3,
            bytes: 900,
            tokens: 0,
            in_flight: 1,
        };
        assert_eq!(used.exceeded(&limits, 100), None);
        assert_eq!(
            used.exceeded(&limits, 101),
            Some((Quota::BytesPerDay, 900, 1_000))
        );
        let full = Used {
            documents: 10,
            ..used
        };
        assert_eq!(
            full.exceeded(&limits, 1),
            Some((Quota::DocumentsPerDay, 10, 10))
        );
        let busy = Used {
            in_flight: 5,
            ..used
        };
        assert_eq!(
            busy.exceeded(&limits, 1).map(|e| e.0),
            Some(Quota::JobsInFlight)
        );
        assert_eq!(Quota::BytesPerDay.to_string(), "bytes per day");
    }
}
