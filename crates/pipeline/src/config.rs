//! Typed configuration, read once from the Worker's vars and validated here. The Workers pass a
//! lookup function, so parsing and validation test natively.

use std::str::FromStr;

use docpipe_docproc::{ExtractLimits, SummaryOptions};

/// Binding and var names, shared by both Workers and their wrangler configs.
pub mod names {
    pub const DB: &str = "DB";
    pub const DOCUMENTS: &str = "DOCUMENTS";
    pub const JOBS: &str = "JOBS";
    pub const JOBS_QUEUE: &str = "docpipe-jobs";
    pub const JOBS_DLQ: &str = "docpipe-jobs-dlq";
    pub const LOG_LEVEL: &str = "LOG_LEVEL";
    pub const MAX_UPLOAD_BYTES: &str = "MAX_UPLOAD_BYTES";
    pub const MAX_TEXT_BYTES: &str = "MAX_TEXT_BYTES";
    pub const MAX_DOCUMENT_BYTES: &str = "MAX_DOCUMENT_BYTES";
    pub const SUMMARY_SENTENCES: &str = "SUMMARY_SENTENCES";
    pub const SUMMARY_MAX_BYTES: &str = "SUMMARY_MAX_BYTES";
    pub const LEASE_SECONDS: &str = "LEASE_SECONDS";
    pub const MAX_ATTEMPTS: &str = "MAX_ATTEMPTS";
    pub const RETRY_BASE_SECONDS: &str = "RETRY_BASE_SECONDS";
    pub const RETRY_MAX_SECONDS: &str = "RETRY_MAX_SECONDS";
}

/// A var that is present but unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config var {name} = `{value}` is invalid: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

fn var<T: FromStr>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
    valid: impl Fn(&T) -> Result<(), String>,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    let Some(raw) = lookup(name) else {
        return Ok(default);
    };
    let invalid = |reason: String| ConfigError {
        name,
        value: raw.clone(),
        reason,
    };
    let value = raw
        .trim()
        .parse::<T>()
        .map_err(|e| invalid(e.to_string()))?;
    valid(&value).map_err(invalid)?;
    Ok(value)
}

fn at_least<T: PartialOrd + std::fmt::Display>(min: T) -> impl Fn(&T) -> Result<(), String> {
    move |v| {
        if *v >= min {
            Ok(())
        } else {
            Err(format!("must be at least {min}"))
        }
    }
}

fn between<T: PartialOrd + std::fmt::Display>(min: T, max: T) -> impl Fn(&T) -> Result<(), String> {
    move |v| {
        if *v >= min && *v <= max {
            Ok(())
        } else {
            Err(format!("must be between {min} and {max}"))
        }
    }
}

/// The upload Worker's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadConfig {
    /// Largest accepted body. Also bounded by the plan's request size limit (100 MB on Free).
    pub max_upload_bytes: u64,
}

impl UploadConfig {
    pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 100 * 1024 * 1024;
    /// R2's single-PUT limit.
    pub const MAX_SINGLE_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            max_upload_bytes: var(
                &lookup,
                names::MAX_UPLOAD_BYTES,
                Self::DEFAULT_MAX_UPLOAD_BYTES,
                between(1, Self::MAX_SINGLE_PUT_BYTES),
            )?,
        })
    }
}

/// How jobs are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts (lease acquisitions) before a job is failed for good.
    pub max_attempts: u32,
    pub base_delay_ms: i64,
    pub max_delay_ms: i64,
}

impl RetryPolicy {
    /// Exponential backoff with jitter: the delay before attempt `attempt + 1`, between half
    /// and all of `base · 2^(attempt-1)`, capped at `max`. `random` is uniform in `[0, 1)`.
    pub fn delay_ms(&self, attempt: u32, random: f64) -> i64 {
        let exponent = attempt.saturating_sub(1).min(30);
        let ceiling = self
            .base_delay_ms
            .saturating_mul(1_i64 << exponent)
            .min(self.max_delay_ms);
        let random = random.clamp(0.0, 1.0);
        ceiling / 2 + ((ceiling - ceiling / 2) as f64 * random) as i64
    }
}

/// The summarizer Worker's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SummarizerConfig {
    /// How much of a document is read for processing. A Worker has 128 MB of memory, so a
    /// larger text document is summarized from its beginning and marked truncated.
    pub max_document_bytes: u64,
    pub extract: ExtractLimits,
    pub summary: SummaryOptions,
    /// How long a consumer owns a job before another may take it over. Must outlast the
    /// slowest processing run.
    pub lease_ms: i64,
    pub retry: RetryPolicy,
}

impl SummarizerConfig {
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = SummaryOptions::default();
        let lease_seconds: i64 = var(&lookup, names::LEASE_SECONDS, 300, between(5, 3_600))?;
        let retry_base: i64 = var(&lookup, names::RETRY_BASE_SECONDS, 5, between(1, 3_600))?;
        let retry_max: i64 = var(
            &lookup,
            names::RETRY_MAX_SECONDS,
            600,
            between(retry_base, 43_200),
        )?;
        Ok(Self {
            max_document_bytes: var(
                &lookup,
                names::MAX_DOCUMENT_BYTES,
                32 * 1024 * 1024,
                between(1_000, 100 * 1024 * 1024),
            )?,
            extract: ExtractLimits {
                max_text_bytes: var(
                    &lookup,
                    names::MAX_TEXT_BYTES,
                    ExtractLimits::default().max_text_bytes,
                    between(1_000, 64 * 1024 * 1024),
                )?,
            },
            summary: SummaryOptions {
                max_sentences: var(
                    &lookup,
                    names::SUMMARY_SENTENCES,
                    defaults.max_sentences,
                    between(1, 100),
                )?,
                max_bytes: var(
                    &lookup,
                    names::SUMMARY_MAX_BYTES,
                    defaults.max_bytes,
                    between(100, 100_000),
                )?,
            },
            lease_ms: lease_seconds * 1_000,
            retry: RetryPolicy {
                max_attempts: var(&lookup, names::MAX_ATTEMPTS, 5, at_least(1))?,
                base_delay_ms: retry_base * 1_000,
                max_delay_ms: retry_max * 1_000,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn defaults_apply_when_vars_are_absent() {
        let upload = UploadConfig::from_vars(vars(&[])).unwrap();
        assert_eq!(upload.max_upload_bytes, 100 * 1024 * 1024);
        let summarizer = SummarizerConfig::from_vars(vars(&[])).unwrap();
        assert_eq!(summarizer.lease_ms, 300_000);
        assert_eq!(summarizer.retry.max_attempts, 5);
        assert_eq!(summarizer.summary, SummaryOptions::default());
    }

    #[test]
    fn reads_vars() {
        let config = SummarizerConfig::from_vars(vars(&[
            ("LEASE_SECONDS", "30"),
            ("MAX_ATTEMPTS", "3"),
            ("SUMMARY_SENTENCES", " 7 "),
            ("MAX_TEXT_BYTES", "5000"),
        ]))
        .unwrap();
        assert_eq!(config.lease_ms, 30_000);
        assert_eq!(config.retry.max_attempts, 3);
        assert_eq!(config.summary.max_sentences, 7);
        assert_eq!(config.extract.max_text_bytes, 5_000);
    }

    #[test]
    fn rejects_unparsable_and_out_of_range_values() {
        let err = UploadConfig::from_vars(vars(&[("MAX_UPLOAD_BYTES", "lots")])).unwrap_err();
        assert_eq!(err.name, "MAX_UPLOAD_BYTES");
        let err = UploadConfig::from_vars(vars(&[("MAX_UPLOAD_BYTES", "0")])).unwrap_err();
        assert!(err.reason.contains("between"), "{err}");
        let err = SummarizerConfig::from_vars(vars(&[("MAX_ATTEMPTS", "0")])).unwrap_err();
        assert_eq!(err.name, "MAX_ATTEMPTS");
        let err = SummarizerConfig::from_vars(vars(&[
            ("RETRY_BASE_SECONDS", "60"),
            ("RETRY_MAX_SECONDS", "10"),
        ]))
        .unwrap_err();
        assert_eq!(err.name, "RETRY_MAX_SECONDS");
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay_ms: 1_000,
            max_delay_ms: 10_000,
        };
        assert_eq!(policy.delay_ms(1, 0.0), 500);
        assert_eq!(policy.delay_ms(1, 0.999_999), 999);
        assert_eq!(policy.delay_ms(2, 0.0), 1_000);
        assert_eq!(policy.delay_ms(3, 0.5), 3_000);
        assert_eq!(policy.delay_ms(20, 0.0), 5_000);
        assert!(policy.delay_ms(1_000, 1.0) <= 10_000);
    }
}
