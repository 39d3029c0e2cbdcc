//! Typed configuration, read once from the Worker's vars and validated here. The Workers pass a
//! lookup function, so parsing and validation test natively.

use std::str::FromStr;

use docpipe_docproc::summarize::models::{DEFAULT_MODEL, check_not_retired};
use docpipe_docproc::summarize::workers_ai::{Gateway, RunOptions};
use docpipe_docproc::{ExtractLimits, SummaryOptions};

use crate::quota::Quotas;
use crate::remote::AllowedHosts;

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
    pub const MAX_DECOMPRESSED_BYTES: &str = "MAX_DECOMPRESSED_BYTES";
    pub const SUMMARY_SENTENCES: &str = "SUMMARY_SENTENCES";
    pub const SUMMARY_MAX_BYTES: &str = "SUMMARY_MAX_BYTES";
    pub const LEASE_SECONDS: &str = "LEASE_SECONDS";
    pub const BODY_STALL_SECONDS: &str = "BODY_STALL_SECONDS";
    pub const JOB_DEADLINE_SECONDS: &str = "JOB_DEADLINE_SECONDS";
    pub const MAX_ATTEMPTS: &str = "MAX_ATTEMPTS";
    pub const RETRY_BASE_SECONDS: &str = "RETRY_BASE_SECONDS";
    pub const RETRY_MAX_SECONDS: &str = "RETRY_MAX_SECONDS";
    pub const SWEEP_GRACE_SECONDS: &str = "SWEEP_GRACE_SECONDS";
    pub const ORPHAN_UPLOAD_SECONDS: &str = "ORPHAN_UPLOAD_SECONDS";
    pub const CONSUMER_CONCURRENCY: &str = "CONSUMER_CONCURRENCY";
    pub const MEMORY_BUDGET_BYTES: &str = "MEMORY_BUDGET_BYTES";
    pub const SUMMARIZER_BACKEND: &str = "SUMMARIZER_BACKEND";
    pub const BENCH_ENDPOINTS: &str = "BENCH_ENDPOINTS";
    pub const AI: &str = "AI";
    pub const AI_MODEL: &str = "AI_MODEL";
    pub const AI_MAX_CALLS: &str = "AI_MAX_CALLS";
    pub const AI_TIMEOUT_SECONDS: &str = "AI_TIMEOUT_SECONDS";
    pub const AI_MAX_INPUT_TOKENS: &str = "AI_MAX_INPUT_TOKENS";
    pub const AI_REJECT_IF_BUSY: &str = "AI_REJECT_IF_BUSY";
    pub const AI_GATEWAY_ID: &str = "AI_GATEWAY_ID";
    pub const AI_GATEWAY_SKIP_CACHE: &str = "AI_GATEWAY_SKIP_CACHE";
    pub const AI_TO_MARKDOWN: &str = "AI_TO_MARKDOWN";
    pub const AI_GATEWAY_CACHE_TTL: &str = "AI_GATEWAY_CACHE_TTL";
    pub const OPENAI_BASE_URL: &str = "OPENAI_BASE_URL";
    pub const OPENAI_MODEL: &str = "OPENAI_MODEL";
    pub const OPENAI_API_KEY: &str = "OPENAI_API_KEY";
    pub const OPENAI_WINDOW_TOKENS: &str = "OPENAI_WINDOW_TOKENS";
    pub const QUOTA_DOCUMENTS_PER_DAY: &str = "QUOTA_DOCUMENTS_PER_DAY";
    pub const QUOTA_BYTES_PER_DAY: &str = "QUOTA_BYTES_PER_DAY";
    pub const QUOTA_JOBS_IN_FLIGHT: &str = "QUOTA_JOBS_IN_FLIGHT";
    pub const QUOTA_TOKENS_PER_DAY: &str = "QUOTA_TOKENS_PER_DAY";
    pub const REPROCESS_MIN_INTERVAL_SECONDS: &str = "REPROCESS_MIN_INTERVAL_SECONDS";
    pub const CORS_ALLOWED_ORIGINS: &str = "CORS_ALLOWED_ORIGINS";
    pub const FETCH_ALLOWED_HOSTS: &str = "FETCH_ALLOWED_HOSTS";
    pub const RESUMABLE_MAX_BYTES: &str = "RESUMABLE_MAX_BYTES";
    pub const RETENTION_DAYS: &str = "RETENTION_DAYS";
    pub const RESUMABLE_EXPIRY_SECONDS: &str = "RESUMABLE_EXPIRY_SECONDS";
    pub const FETCH_MAX_BYTES: &str = "FETCH_MAX_BYTES";
    pub const FETCH_TIMEOUT_SECONDS: &str = "FETCH_TIMEOUT_SECONDS";
    pub const WEBHOOKS: &str = "WEBHOOKS";
    pub const WEBHOOKS_QUEUE: &str = "docpipe-webhooks";
    pub const WEBHOOKS_DLQ: &str = "docpipe-webhooks-dlq";
    pub const WEBHOOK_MAX_ATTEMPTS: &str = "WEBHOOK_MAX_ATTEMPTS";
    pub const WEBHOOK_RETRY_BASE_SECONDS: &str = "WEBHOOK_RETRY_BASE_SECONDS";
    pub const WEBHOOK_RETRY_MAX_SECONDS: &str = "WEBHOOK_RETRY_MAX_SECONDS";
    pub const WEBHOOK_TIMEOUT_SECONDS: &str = "WEBHOOK_TIMEOUT_SECONDS";
}

/// The default quotas (`QUOTA_*`), which a tenant's row may override.
fn quotas(lookup: &impl Fn(&str) -> Option<String>) -> Result<Quotas, ConfigError> {
    let defaults = Quotas::default();
    let max = u64::MAX >> 11; // stays exact through D1's numbers
    Ok(Quotas {
        documents_per_day: var(
            lookup,
            names::QUOTA_DOCUMENTS_PER_DAY,
            defaults.documents_per_day,
            between(0, max),
        )?,
        bytes_per_day: var(
            lookup,
            names::QUOTA_BYTES_PER_DAY,
            defaults.bytes_per_day,
            between(0, max),
        )?,
        jobs_in_flight: var(
            lookup,
            names::QUOTA_JOBS_IN_FLIGHT,
            defaults.jobs_in_flight,
            between(0, max),
        )?,
        tokens_per_day: var(
            lookup,
            names::QUOTA_TOKENS_PER_DAY,
            defaults.tokens_per_day,
            between(0, max),
        )?,
        reprocess_interval_seconds: var(
            lookup,
            names::REPROCESS_MIN_INTERVAL_SECONDS,
            defaults.reprocess_interval_seconds,
            between(0, 86_400),
        )?,
    })
}

/// `CORS_ALLOWED_ORIGINS`: origins (`https://app.example.com`), comma or space separated, that
/// browsers may call the API from. The API's own origin is always allowed.
/// Fetching documents named by URL: the upload Worker checks the URL, the consumer fetches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchConfig {
    /// Hosts fetched from although the address rules refuse them (`FETCH_ALLOWED_HOSTS`).
    pub allowed_hosts: AllowedHosts,
    /// Largest document fetched; the origin's body is cut off past it.
    pub max_bytes: u64,
    /// How long one fetch may take, redirects and body included.
    pub timeout_ms: u64,
    /// A body that sends no byte for this long is given up.
    pub stall_ms: u64,
}

impl FetchConfig {
    pub fn from_vars(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let raw = lookup(names::FETCH_ALLOWED_HOSTS).unwrap_or_default();
        let allowed_hosts = AllowedHosts::parse(&raw).map_err(|reason| ConfigError {
            name: names::FETCH_ALLOWED_HOSTS,
            value: raw.clone(),
            reason,
        })?;
        let timeout_seconds: u64 = var(lookup, names::FETCH_TIMEOUT_SECONDS, 120, between(1, 600))?;
        Ok(Self {
            allowed_hosts,
            max_bytes: var(
                lookup,
                names::FETCH_MAX_BYTES,
                UploadConfig::DEFAULT_MAX_UPLOAD_BYTES,
                between(1, UploadConfig::MAX_SINGLE_PUT_BYTES),
            )?,
            timeout_ms: timeout_seconds * 1_000,
            stall_ms: var(lookup, names::BODY_STALL_SECONDS, 30, between(1, 600))? * 1_000,
        })
    }
}

fn allowed_origins(lookup: &impl Fn(&str) -> Option<String>) -> Result<Vec<String>, ConfigError> {
    let raw = lookup(names::CORS_ALLOWED_ORIGINS).unwrap_or_default();
    raw.split([',', ' '])
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|origin| {
            let scheme_ok = origin.starts_with("https://") || origin.starts_with("http://");
            let host = origin
                .split_once("://")
                .map_or("", |(_, h)| h.trim_end_matches('/'));
            if scheme_ok && !host.is_empty() && !host.contains('/') {
                Ok(origin.trim_end_matches('/').to_ascii_lowercase())
            } else {
                Err(ConfigError {
                    name: names::CORS_ALLOWED_ORIGINS,
                    value: origin.to_owned(),
                    reason: "each origin is scheme://host[:port], without a path".into(),
                })
            }
        })
        .collect()
}

/// Which summarizer the pipeline uses first. Whatever it is, the built-in extractive
/// summarizer stands in when it fails for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendChoice {
    /// Built in, no network: the local default.
    Extractive,
    /// The Workers AI binding (`AI`), production's default.
    WorkersAi {
        model: String,
        /// The binding's options: AI Gateway, `rejectIfBusy`.
        options: RunOptions,
        /// A cap on one call's input tokens, below the model's window.
        max_input_tokens: Option<usize>,
    },
    /// An OpenAI-compatible chat-completions server (AI Gateway, a self-hosted model).
    OpenAi {
        base_url: String,
        model: String,
        api_key: Option<String>,
        window_tokens: usize,
    },
}

impl BackendChoice {
    /// The backend's name, as `summaries.backend` records it.
    pub fn name(&self) -> &'static str {
        match self {
            BackendChoice::Extractive => "extractive",
            BackendChoice::WorkersAi { .. } => "workers-ai",
            BackendChoice::OpenAi { .. } => "openai",
        }
    }

    /// Whether summaries cost model tokens.
    pub fn calls_models(&self) -> bool {
        !matches!(self, BackendChoice::Extractive)
    }

    fn from_vars(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let name = lookup(names::SUMMARIZER_BACKEND).unwrap_or_else(|| "extractive".into());
        let required = |var: &'static str| {
            lookup(var)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| ConfigError {
                    name: var,
                    value: String::new(),
                    reason: format!("required when {} is {name}", names::SUMMARIZER_BACKEND),
                })
        };
        match name.trim() {
            "extractive" => Ok(BackendChoice::Extractive),
            "workers-ai" => {
                let model = lookup(names::AI_MODEL)
                    .map(|m| m.trim().to_owned())
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| DEFAULT_MODEL.into());
                check_not_retired(&model).map_err(|e| ConfigError {
                    name: names::AI_MODEL,
                    value: model.clone(),
                    reason: e.to_string(),
                })?;
                let gateway = match lookup(names::AI_GATEWAY_ID).filter(|id| !id.trim().is_empty())
                {
                    Some(id) => Some(Gateway {
                        id: id.trim().to_owned(),
                        skip_cache: var(lookup, names::AI_GATEWAY_SKIP_CACHE, false, |_| Ok(()))?,
                        cache_ttl_seconds: optional(
                            lookup,
                            names::AI_GATEWAY_CACHE_TTL,
                            between(1, 31_536_000),
                        )?,
                    }),
                    None => None,
                };
                Ok(BackendChoice::WorkersAi {
                    model,
                    options: RunOptions {
                        gateway,
                        reject_if_busy: var(lookup, names::AI_REJECT_IF_BUSY, true, |_| Ok(()))?,
                    },
                    max_input_tokens: optional(
                        lookup,
                        names::AI_MAX_INPUT_TOKENS,
                        between(256, 10_000_000),
                    )?,
                })
            }
            "openai" => {
                let base_url = required(names::OPENAI_BASE_URL)?;
                if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
                    return Err(ConfigError {
                        name: names::OPENAI_BASE_URL,
                        value: base_url,
                        reason: "must be an http(s) URL".into(),
                    });
                }
                Ok(BackendChoice::OpenAi {
                    base_url,
                    model: required(names::OPENAI_MODEL)?,
                    api_key: lookup(names::OPENAI_API_KEY).filter(|k| !k.is_empty()),
                    window_tokens: var(
                        lookup,
                        names::OPENAI_WINDOW_TOKENS,
                        4_096,
                        between(256, 1_000_000),
                    )?,
                })
            }
            other => Err(ConfigError {
                name: names::SUMMARIZER_BACKEND,
                value: other.to_owned(),
                reason: "must be extractive, workers-ai or openai".into(),
            }),
        }
    }
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
    match lookup(name) {
        None => Ok(default),
        Some(raw) => parse_var(name, raw, valid),
    }
}

fn parse_var<T: FromStr>(
    name: &'static str,
    raw: String,
    valid: impl Fn(&T) -> Result<(), String>,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
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

/// A var that has no default: `None` when absent or blank.
fn optional<T: FromStr>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    valid: impl Fn(&T) -> Result<(), String>,
) -> Result<Option<T>, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match lookup(name).filter(|raw| !raw.trim().is_empty()) {
        None => Ok(None),
        Some(raw) => parse_var(name, raw, valid).map(Some),
    }
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
    /// Default quotas per tenant.
    pub quotas: Quotas,
    /// Origins browsers may call the API from, besides its own.
    pub allowed_origins: Vec<String>,
    /// An upload whose body sends no byte for this long is refused (408) and forgotten.
    pub body_stall_ms: u64,
    /// The scheduled sweep, which this Worker runs.
    pub sweep: SweepConfig,
    /// Which URLs documents may be fetched from.
    pub fetch: FetchConfig,
    /// Largest resumable (tus) upload.
    pub resumable_max_bytes: u64,
    /// A resumable upload with no `PATCH` for this long expires and is aborted by the sweep.
    pub resumable_expiry_ms: i64,
}

impl SweepConfig {
    /// How often an upload in progress notes that it is alive: well within the orphan age.
    pub fn heartbeat_ms(&self) -> u64 {
        u64::try_from(self.orphan_after_ms / 4)
            .unwrap_or(1_000)
            .clamp(500, 10_000)
    }
}

impl UploadConfig {
    pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 100 * 1024 * 1024;
    pub const DEFAULT_RESUMABLE_MAX_BYTES: u64 = 10 * 1024 * 1024 * 1024;
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
            quotas: quotas(&lookup)?,
            allowed_origins: allowed_origins(&lookup)?,
            body_stall_ms: var(&lookup, names::BODY_STALL_SECONDS, 30, between(1, 600))? * 1_000,
            sweep: SweepConfig {
                grace_ms: var(&lookup, names::SWEEP_GRACE_SECONDS, 120, between(0, 86_400))?
                    * 1_000,
                orphan_after_ms: var(
                    &lookup,
                    names::ORPHAN_UPLOAD_SECONDS,
                    120,
                    between(0, 7 * 86_400),
                )? * 1_000,
                batch: 100,
                rounds: 10,
                retention_days: var(&lookup, names::RETENTION_DAYS, 0, between(0, 36_500))?,
            },
            fetch: FetchConfig::from_vars(&lookup)?,
            resumable_max_bytes: var(
                &lookup,
                names::RESUMABLE_MAX_BYTES,
                Self::DEFAULT_RESUMABLE_MAX_BYTES,
                between(1, 5 * 1024 * 1024 * 1024 * 1024),
            )?,
            resumable_expiry_ms: var(
                &lookup,
                names::RESUMABLE_EXPIRY_SECONDS,
                86_400,
                between(1, 7 * 86_400),
            )? * 1_000,
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

/// What the scheduled sweep does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepConfig {
    /// A queued job whose message has not been consumed this long after it was due is
    /// re-enqueued; so is a job whose lease expired. Also the pause between re-enqueues.
    pub grace_ms: i64,
    /// An upload not heard of for this long (it notes that it is alive every
    /// [`SweepConfig::heartbeat_ms`]) is an orphan: its object is deleted and its row forgotten.
    pub orphan_after_ms: i64,
    /// Jobs re-enqueued per round, and rounds per sweep.
    pub batch: u32,
    pub rounds: u32,
    /// Documents older than this many days are deleted (a tenant's `retention_days` overrides
    /// it); 0 keeps them.
    pub retention_days: u32,
}

/// The summarizer Worker's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SummarizerConfig {
    pub backend: BackendChoice,
    /// Model calls allowed per job (map-reduce over long documents).
    pub max_ai_calls: usize,
    /// How long one model call may take.
    pub ai_timeout_ms: u64,
    /// Whether images and scanned PDFs go to the AI binding's `toMarkdown` when the Worker
    /// has one (`AI_TO_MARKDOWN`, default true; images are billed).
    pub ai_to_markdown: bool,
    /// Messages of one batch processed at the same time.
    pub concurrency: usize,
    /// Memory the jobs of one batch may hold at once.
    pub memory_budget_bytes: u64,
    /// How much of a document is read for processing. A Worker has 128 MB of memory, so a
    /// larger text document is summarized from its beginning and marked truncated.
    pub max_document_bytes: u64,
    pub extract: ExtractLimits,
    pub summary: SummaryOptions,
    /// How long a consumer owns a job before another may take it over. Must outlast the
    /// slowest processing run.
    pub lease_ms: i64,
    /// How long one job may run before it is handed back, so that it never holds its batch.
    /// Shorter than the lease, so nobody takes the job over while it still runs.
    pub job_deadline_ms: u64,
    pub retry: RetryPolicy,
    /// Default quotas per tenant (the summarizer enforces the model-token one).
    pub quotas: Quotas,
    /// Fetching documents named by URL, the first stage of their jobs.
    pub fetch: FetchConfig,
    /// Sending webhook events.
    pub webhooks: WebhookConfig,
}

/// Sending webhook events: how long an attempt may take, and how failed ones are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Attempts per delivery (`WEBHOOK_MAX_ATTEMPTS`) and the backoff between them.
    pub retry: RetryPolicy,
    /// How long a receiver has to answer (`WEBHOOK_TIMEOUT_SECONDS`).
    pub timeout_ms: u64,
    /// Receivers the address rules would refuse but the operator allows
    /// (`FETCH_ALLOWED_HOSTS`, the same rules as URL ingestion).
    pub allowed_hosts: AllowedHosts,
}

impl WebhookConfig {
    pub fn from_vars(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let base: i64 = var(
            lookup,
            names::WEBHOOK_RETRY_BASE_SECONDS,
            30,
            between(1, 3_600),
        )?;
        let max: i64 = var(
            lookup,
            names::WEBHOOK_RETRY_MAX_SECONDS,
            6 * 3_600,
            between(base, 43_200),
        )?;
        Ok(Self {
            retry: RetryPolicy {
                max_attempts: var(lookup, names::WEBHOOK_MAX_ATTEMPTS, 8, between(1, 50))?,
                base_delay_ms: base * 1_000,
                max_delay_ms: max * 1_000,
            },
            timeout_ms: var(lookup, names::WEBHOOK_TIMEOUT_SECONDS, 10, between(1, 60))? * 1_000,
            allowed_hosts: FetchConfig::from_vars(lookup)?.allowed_hosts,
        })
    }
}

impl SummarizerConfig {
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = SummaryOptions::default();
        let lease_seconds: i64 = var(&lookup, names::LEASE_SECONDS, 300, between(2, 3_600))?;
        let retry_base: i64 = var(&lookup, names::RETRY_BASE_SECONDS, 5, between(1, 3_600))?;
        let retry_max: i64 = var(
            &lookup,
            names::RETRY_MAX_SECONDS,
            600,
            between(retry_base, 43_200),
        )?;
        Ok(Self {
            backend: BackendChoice::from_vars(&lookup)?,
            max_ai_calls: var(&lookup, names::AI_MAX_CALLS, 16, between(1, 1_000))?,
            ai_timeout_ms: var(&lookup, names::AI_TIMEOUT_SECONDS, 60, between(1, 900))? * 1_000,
            ai_to_markdown: var(&lookup, names::AI_TO_MARKDOWN, true, |_| Ok(()))?,
            concurrency: var(&lookup, names::CONSUMER_CONCURRENCY, 8, between(1, 100))?,
            memory_budget_bytes: var(
                &lookup,
                names::MEMORY_BUDGET_BYTES,
                64 * 1024 * 1024,
                between(1024 * 1024, 1024 * 1024 * 1024),
            )?,
            max_document_bytes: var(
                &lookup,
                names::MAX_DOCUMENT_BYTES,
                // Measured: a job at the read limit grows the summarizer's wasm memory to
                // about 5.4 times the bytes read (86 MB at 16 MiB); 12 MiB keeps it near 68 MB,
                // within a Worker's 128 MB with room for the runtime.
                12 * 1024 * 1024,
                between(1_000, 100 * 1024 * 1024),
            )?,
            extract: ExtractLimits {
                max_text_bytes: var(
                    &lookup,
                    names::MAX_TEXT_BYTES,
                    ExtractLimits::default().max_text_bytes,
                    between(1_000, 64 * 1024 * 1024),
                )?,
                max_decompressed_bytes: var(
                    &lookup,
                    names::MAX_DECOMPRESSED_BYTES,
                    ExtractLimits::default().max_decompressed_bytes,
                    between(1_000, 256 * 1024 * 1024),
                )?,
                max_pages: ExtractLimits::default().max_pages,
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
            job_deadline_ms: var(
                &lookup,
                names::JOB_DEADLINE_SECONDS,
                // The lease less 30 s (less a tenth for short leases): time to hand back.
                u64::try_from((lease_seconds - 30).max(lease_seconds * 9 / 10))
                    .unwrap_or(1)
                    .max(1),
                between(1, u64::try_from(lease_seconds - 1).unwrap_or(1).max(1)),
            )? * 1_000,
            quotas: quotas(&lookup)?,
            retry: RetryPolicy {
                max_attempts: var(&lookup, names::MAX_ATTEMPTS, 5, at_least(1))?,
                base_delay_ms: retry_base * 1_000,
                max_delay_ms: retry_max * 1_000,
            },
            fetch: FetchConfig::from_vars(&lookup)?,
            webhooks: WebhookConfig::from_vars(&lookup)?,
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

    fn summarizer(pairs: &[(&str, &str)]) -> SummarizerConfig {
        SummarizerConfig::from_vars(vars(pairs)).unwrap()
    }

    fn refused(pairs: &[(&str, &str)]) -> ConfigError {
        SummarizerConfig::from_vars(vars(pairs)).unwrap_err()
    }

    #[test]
    fn defaults_apply_when_vars_are_absent() {
        let upload = UploadConfig::from_vars(vars(&[])).unwrap();
        assert_eq!(upload.max_upload_bytes, 100 * 1024 * 1024);
        let summarizer = summarizer(&[]);
        assert_eq!(summarizer.lease_ms, 300_000);
        assert_eq!(summarizer.job_deadline_ms, 270_000);
        assert_eq!(summarizer.retry.max_attempts, 5);
        assert_eq!(summarizer.summary, SummaryOptions::default());
    }

    #[test]
    fn reads_vars() {
        let config = summarizer(&[
            ("LEASE_SECONDS", "30"),
            ("MAX_ATTEMPTS", "3"),
            ("SUMMARY_SENTENCES", " 7 "),
            ("MAX_TEXT_BYTES", "5000"),
        ]);
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
        let err = refused(&[("MAX_ATTEMPTS", "0")]);
        assert_eq!(err.name, "MAX_ATTEMPTS");
        let err = refused(&[("RETRY_BASE_SECONDS", "60"), ("RETRY_MAX_SECONDS", "10")]);
        assert_eq!(err.name, "RETRY_MAX_SECONDS");
    }

    #[test]
    fn backend_defaults_to_extractive_and_reads_its_settings() {
        let config = summarizer(&[]);
        assert_eq!(config.backend, BackendChoice::Extractive);
        let config = summarizer(&[("SUMMARIZER_BACKEND", "workers-ai")]);
        assert_eq!(
            config.backend,
            BackendChoice::WorkersAi {
                model: "@cf/zai-org/glm-4.7-flash".into(),
                options: RunOptions {
                    gateway: None,
                    reject_if_busy: true
                },
                max_input_tokens: None,
            }
        );
        let config = summarizer(&[
            ("SUMMARIZER_BACKEND", "openai"),
            ("OPENAI_BASE_URL", "http://127.0.0.1:9999/v1"),
            ("OPENAI_MODEL", "local"),
            ("OPENAI_API_KEY", "k"),
        ]);
        assert_eq!(
            config.backend,
            BackendChoice::OpenAi {
                base_url: "http://127.0.0.1:9999/v1".into(),
                model: "local".into(),
                api_key: Some("k".into()),
                window_tokens: 4_096
            }
        );
    }

    #[test]
    fn workers_ai_reads_the_gateway_and_its_options() {
        let config = summarizer(&[
            ("SUMMARIZER_BACKEND", "workers-ai"),
            ("AI_MODEL", "@cf/google/gemma-4-26b-a4b-it"),
            ("AI_GATEWAY_ID", "docpipe"),
            ("AI_GATEWAY_SKIP_CACHE", "true"),
            ("AI_GATEWAY_CACHE_TTL", "3600"),
            ("AI_REJECT_IF_BUSY", "false"),
            ("AI_MAX_INPUT_TOKENS", "20000"),
        ]);
        assert_eq!(
            config.backend,
            BackendChoice::WorkersAi {
                model: "@cf/google/gemma-4-26b-a4b-it".into(),
                options: RunOptions {
                    gateway: Some(Gateway {
                        id: "docpipe".into(),
                        skip_cache: true,
                        cache_ttl_seconds: Some(3_600)
                    }),
                    reject_if_busy: false
                },
                max_input_tokens: Some(20_000),
            }
        );
        let err = refused(&[
            ("SUMMARIZER_BACKEND", "workers-ai"),
            ("AI_GATEWAY_ID", "docpipe"),
            ("AI_GATEWAY_CACHE_TTL", "-5"),
        ]);
        assert_eq!(err.name, "AI_GATEWAY_CACHE_TTL");
        // A blank gateway id is no gateway.
        let config = summarizer(&[("SUMMARIZER_BACKEND", "workers-ai"), ("AI_GATEWAY_ID", " ")]);
        assert!(matches!(
            config.backend,
            BackendChoice::WorkersAi {
                options: RunOptions { gateway: None, .. },
                ..
            }
        ));
    }

    #[test]
    fn a_retired_model_is_refused_naming_its_replacement() {
        let err = refused(&[
            ("SUMMARIZER_BACKEND", "workers-ai"),
            ("AI_MODEL", "@cf/facebook/bart-large-cnn"),
        ]);
        assert_eq!(err.name, "AI_MODEL");
        assert!(
            err.to_string()
                .contains("retired from Workers AI on 2026-05-30; use @cf/zai-org/glm-4.7-flash"),
            "{err}"
        );
        // A model docpipe does not know is not refused.
        assert!(
            SummarizerConfig::from_vars(vars(&[
                ("SUMMARIZER_BACKEND", "workers-ai"),
                ("AI_MODEL", "@cf/someone/brand-new-model"),
            ]))
            .is_ok()
        );
    }

    #[test]
    fn openai_backend_needs_a_url_and_a_model() {
        let err = refused(&[("SUMMARIZER_BACKEND", "openai")]);
        assert_eq!(err.name, "OPENAI_BASE_URL");
        let err = refused(&[
            ("SUMMARIZER_BACKEND", "openai"),
            ("OPENAI_BASE_URL", "ftp://x"),
            ("OPENAI_MODEL", "m"),
        ]);
        assert_eq!(err.name, "OPENAI_BASE_URL");
        let err = refused(&[("SUMMARIZER_BACKEND", "gpt")]);
        assert_eq!(err.name, "SUMMARIZER_BACKEND");
    }

    #[test]
    fn quotas_and_origins_are_read_and_checked() {
        let config = UploadConfig::from_vars(vars(&[
            ("QUOTA_DOCUMENTS_PER_DAY", "5"),
            ("QUOTA_TOKENS_PER_DAY", "0"),
            (
                "CORS_ALLOWED_ORIGINS",
                "https://app.example.com, http://localhost:3000/",
            ),
        ]))
        .unwrap();
        assert_eq!(config.quotas.documents_per_day, 5);
        assert_eq!(config.quotas.tokens_per_day, 0);
        assert_eq!(config.quotas.bytes_per_day, Quotas::default().bytes_per_day);
        assert_eq!(
            config.allowed_origins,
            ["https://app.example.com", "http://localhost:3000"]
        );
        let err = UploadConfig::from_vars(vars(&[("CORS_ALLOWED_ORIGINS", "*")])).unwrap_err();
        assert_eq!(err.name, "CORS_ALLOWED_ORIGINS");
        let err = UploadConfig::from_vars(vars(&[("QUOTA_JOBS_IN_FLIGHT", "-1")])).unwrap_err();
        assert_eq!(err.name, "QUOTA_JOBS_IN_FLIGHT");
        assert_eq!(
            summarizer(&[("QUOTA_TOKENS_PER_DAY", "77")])
                .quotas
                .tokens_per_day,
            77
        );
    }

    #[test]
    fn sweep_settings_come_from_the_upload_workers_vars() {
        let config = UploadConfig::from_vars(vars(&[
            ("SWEEP_GRACE_SECONDS", "0"),
            ("ORPHAN_UPLOAD_SECONDS", "60"),
        ]))
        .unwrap();
        assert_eq!(config.sweep.grace_ms, 0);
        assert_eq!(config.sweep.orphan_after_ms, 60_000);
        let defaults = UploadConfig::from_vars(vars(&[])).unwrap();
        assert_eq!(defaults.sweep.grace_ms, 120_000);
        assert_eq!(
            defaults.sweep.batch, 100,
            "sendBatch takes at most 100 messages"
        );
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
