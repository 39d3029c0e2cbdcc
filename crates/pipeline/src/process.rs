//! Processing one job, from its queue message to its summary. The summarizer Worker calls
//! [`Processor::process`] for each message and turns the [`Outcome`] into an ack or a retry;
//! storage and summarization come in through traits, so all of this runs natively in tests.
//!
//! Errors stop at the job: a bad document fails its own job with a readable error, a transient
//! problem hands the job back for a later attempt, and neither affects other messages.

use docpipe_docproc::summarize::Usage;
use docpipe_docproc::{
    ExtractError, Extracted, ExtractiveSummarizer, Input, SummarizeError, Summarizer, Summary,
    extract_text, from_markdown,
};
use docpipe_jobs::{ContentType, JobId, JobMessage, MediaType};
use tracing::warn;

use crate::budget::MemoryBudget;
use crate::config::SummarizerConfig;
use crate::db::{DbError, retry_failed};
use crate::ports::{BlobError, Clock, Converter, Database, DocumentSource, Markdown};
use crate::store::{Completion, LeaseOutcome, LeasedJob, Store, SummaryContent};

/// What happened to one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The summary is stored and the job is `succeeded`.
    Succeeded { attempt: u32 },
    /// The job is `failed` with this error.
    Failed { error: String },
    /// A transient problem; the message should come back after `delay_ms`.
    Retry { delay_ms: i64, error: String },
    /// Nothing to do for this message: the job is finished, missing, or was finished by a
    /// concurrent copy of the message.
    Skipped { reason: String },
}

/// What the queue should do with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Ack,
    Retry { delay_seconds: u32 },
}

/// Pauses between tries of a write that ends an attempt.
const FINISHING_WRITE_PAUSES_MS: [u64; 3] = [100, 400, 1_600];

/// Queues cannot delay a message by more than 12 hours.
const MAX_QUEUE_DELAY_SECONDS: i64 = 12 * 60 * 60;

impl Outcome {
    pub fn action(&self) -> Action {
        match self {
            Outcome::Retry { delay_ms, .. } => Action::retry_after_ms(*delay_ms),
            _ => Action::Ack,
        }
    }
}

impl Action {
    /// A retry after `delay_ms`, in whole seconds from 1 to the queue's limit.
    pub fn retry_after_ms(delay_ms: i64) -> Action {
        let seconds = (delay_ms + 999) / 1_000;
        let seconds = seconds.clamp(1, MAX_QUEUE_DELAY_SECONDS);
        Action::Retry {
            delay_seconds: u32::try_from(seconds).unwrap_or(u32::MAX),
        }
    }
}

/// A fresh lease id: the time and 53 random bits, unique per processing attempt (two copies
/// of one message must not share a lease).
pub fn new_lease_id(clock: &impl Clock) -> String {
    let random = (clock.random_unit() * 9_007_199_254_740_992.0) as u64;
    format!("{:x}-{random:014x}", clock.now_ms())
}

/// A job's processing lease: to be taken when its processing starts, or taken already, in one
/// round trip with the leases of other jobs of its batch
/// ([`crate::consume::lease_together`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    ToTake {
        lease_id: String,
    },
    Taken {
        /// The job, with the lease id it was taken under.
        job: Box<LeasedJob>,
        /// When the statement that took it was sent, and its round trip.
        started: crate::time::Millis,
        write_ms: i64,
        /// This job's share of what that statement cost.
        spent: crate::usage::Usage,
    },
}

impl Lease {
    /// A lease to take under `lease_id`.
    pub fn to_take(lease_id: &str) -> Self {
        Lease::ToTake {
            lease_id: lease_id.to_owned(),
        }
    }

    /// A lease to take under a fresh id.
    pub fn fresh(clock: &impl Clock) -> Self {
        Lease::ToTake {
            lease_id: new_lease_id(clock),
        }
    }

    /// What taking the lease cost before its job's processing started.
    pub fn spent(&self) -> crate::usage::Usage {
        match self {
            Lease::Taken { spent, .. } => *spent,
            Lease::ToTake { .. } => crate::usage::Usage::default(),
        }
    }
}

/// Roughly how many bytes of memory processing takes per byte of document: the bytes, the
/// extracted text, its sentences and the summarizer's term vectors.
const MEMORY_PER_DOCUMENT_BYTE: u64 = 4;

/// Everything processing needs, shared by the jobs of one batch.
#[derive(Debug)]
pub struct Processor<'a, D, B, S, C, V> {
    pub store: &'a Store<D>,
    pub documents: &'a B,
    pub summarizer: &'a S,
    /// What reads images and scanned PDFs, when there is one.
    pub converter: Option<&'a V>,
    pub clock: &'a C,
    pub config: &'a SummarizerConfig,
    pub memory: &'a MemoryBudget,
}

/// Why an attempt stopped short of a summary.
enum Stop {
    Permanent(String),
    Transient(String),
}

impl From<DbError> for Stop {
    fn from(e: DbError) -> Self {
        Stop::Transient(e.to_string())
    }
}

impl From<BlobError> for Stop {
    fn from(e: BlobError) -> Self {
        Stop::Transient(e.to_string())
    }
}

impl<D, B, S, C, V> Processor<'_, D, B, S, C, V>
where
    D: Database,
    B: DocumentSource,
    S: Summarizer,
    C: Clock,
    V: Converter,
{
    pub async fn process(&self, message: &JobMessage, lease: Lease) -> Outcome {
        let job = &message.job_id;
        let (lease_id, started, lease, lease_write_ms) = match lease {
            Lease::Taken {
                job,
                started,
                write_ms,
                ..
            } => (
                job.lease_id.clone(),
                started,
                LeaseOutcome::Acquired(*job),
                write_ms,
            ),
            Lease::ToTake { lease_id } => {
                let started = self.clock.now_ms();
                let lease = match self
                    .store
                    .acquire_lease(job, &lease_id, started, self.config.lease_ms)
                    .await
                {
                    Ok(lease) => lease,
                    Err(e) => {
                        return self.retry_later(1, format!("could not take the lease: {e}"));
                    }
                };
                let write_ms = self.clock.now_ms() - started;
                (lease_id, started, lease, write_ms)
            }
        };
        let lease_id = lease_id.as_str();
        let leased = match lease {
            LeaseOutcome::Acquired(leased) => leased,
            LeaseOutcome::Finished(status) => {
                return Outcome::Skipped {
                    reason: format!("job is already {status}"),
                };
            }
            LeaseOutcome::NotFound => {
                return Outcome::Skipped {
                    reason: "no such job".into(),
                };
            }
            LeaseOutcome::Held { until } => {
                // Another consumer is on it. Come back when its lease would have expired: by
                // then it has finished (and this copy is skipped) or died (and this copy takes
                // over).
                let until = until.0;
                return Outcome::Retry {
                    delay_ms: (until - started).max(0) + 1_000,
                    error: "job is leased by another consumer".into(),
                };
            }
        };
        let attempt = leased.attempt;
        if attempt > self.config.retry.max_attempts {
            let error = format!("gave up after {} attempts", self.config.retry.max_attempts);
            return self.fail(job, lease_id, error, &Usage::default()).await;
        }

        let bytes = leased
            .size_bytes
            .unwrap_or(0)
            .min(self.config.max_document_bytes);
        let _memory = self
            .memory
            .reserve(bytes.saturating_mul(MEMORY_PER_DOCUMENT_BYTE))
            .await;
        // Model calls of this attempt, recorded with whatever ends it.
        let mut usage = Usage::default();
        match self.run(&leased, lease_write_ms, &mut usage).await {
            Ok(completion) => {
                let now = self.clock.now_ms();
                let stored = self
                    .finishing_write(|| {
                        self.store.complete(job, lease_id, &completion, &usage, now)
                    })
                    .await;
                match stored {
                    Ok(true) => Outcome::Succeeded { attempt },
                    Ok(false) => self.lease_lost(job, &leased.object_key).await,
                    Err(e) => {
                        let error = format!("storing the summary: {e}");
                        self.handle_transient(job, lease_id, attempt, error, &usage)
                            .await
                    }
                }
            }
            Err(Stop::Permanent(error)) => self.fail(job, lease_id, error, &usage).await,
            Err(Stop::Transient(error)) => {
                self.handle_transient(job, lease_id, attempt, error, &usage)
                    .await
            }
        }
    }

    /// The summary could not be stored because the lease was gone: taken over, or the job
    /// went with its deleted document, in which case the text this attempt stored goes too.
    async fn lease_lost(&self, job: &JobId, object_key: &str) -> Outcome {
        if let Ok(false) = self.store.job_exists(job).await {
            if let Err(e) = self.documents.delete_text(object_key).await {
                warn!(error = %e, "could not delete the text of a deleted document");
            }
            return Outcome::Skipped {
                reason: "canceled: the document was deleted while its job ran".into(),
            };
        }
        Outcome::Skipped {
            reason: "lease was lost before the summary was stored".into(),
        }
    }

    /// The reason to leave the models out of this job: its tenant used up today's tokens.
    fn token_quota_reached(&self, leased: &LeasedJob) -> Option<String> {
        let limit = leased
            .max_tokens_per_day
            .unwrap_or(self.config.quotas.tokens_per_day);
        (self.config.backend.calls_models() && leased.tokens_today >= limit).then(|| {
            format!(
                "the tenant's model tokens for today are used up ({} of {limit})",
                leased.tokens_today
            )
        })
    }

    /// Fetch, extract, summarize.
    async fn run(
        &self,
        leased: &LeasedJob,
        lease_write_ms: i64,
        usage: &mut Usage,
    ) -> Result<Completion, Stop> {
        let attempt = leased.attempt;
        let fetch_started = self.clock.now_ms();
        let document = self
            .documents
            .fetch(&leased.object_key, self.config.max_document_bytes)
            .await?
            .ok_or_else(|| {
                Stop::Permanent("the document's bytes are missing from storage".into())
            })?;
        let content_type = ContentType::parse(document.content_type.as_deref())
            .map_err(|e| Stop::Permanent(format!("stored content type: {e}")))?;

        let extract_started = self.clock.now_ms();
        let input = Input {
            bytes: &document.bytes,
            content_type: &content_type,
            complete: document.size <= document.bytes.len() as u64,
        };
        let extracted = match extract_text(&input, &self.config.extract) {
            Ok(extracted) => extracted,
            Err(e) => match e.converts_from() {
                Some(media_type) => {
                    self.convert(&document.bytes, media_type, e, attempt, usage)
                        .await?
                }
                None => return Err(Stop::Permanent(e.to_string())),
            },
        };
        // UTF-8 plain text that needed no cleaning but the white space at its ends is its own
        // text: R2 keeps no copy of it (any copy an earlier attempt, job or version may have
        // kept goes; deleting costs nothing), the summary says where in the document it is.
        let in_document = (input.complete
            && !extracted.truncated
            && extracted.markdown.is_none()
            && !extracted.markdown_is_document)
            .then(|| text_in_document(&extracted.text, &document.bytes))
            .flatten();
        drop(document);
        let summarize_started = self.clock.now_ms();
        // The text is stored while it is summarized: the write's round trip overlaps the
        // summarizer's work (for the built-in one, all of it).
        let stored = async {
            if in_document.is_some() {
                if leased.first_run() {
                    return Ok(());
                }
                self.documents.delete_text(&leased.object_key).await
            } else {
                let markdown = match (&extracted.markdown, extracted.markdown_is_document) {
                    (Some(markdown), _) => Markdown::Own(markdown),
                    (None, true) => Markdown::Document,
                    (None, false) => Markdown::Text,
                };
                self.documents
                    .put_text(&leased.object_key, &extracted.text, markdown)
                    .await
            }
        };
        let (stored, summarized) =
            futures_util::future::join(stored, self.summarize(leased, &extracted.text, usage))
                .await;
        stored?;
        let (summary, fallback) = summarized?;
        let finished = self.clock.now_ms();
        let (fallback_from, fallback_reason) = fallback.unzip();

        Ok(Completion {
            content: SummaryContent {
                summary: summary.text,
                backend: summary.backend,
                model: summary.model,
                fallback_from: fallback_from.flatten(),
                fallback_reason,
                input_chars: extracted.text.chars().count() as u64,
                truncated: extracted.truncated,
                source_type: Some(extracted.media_type.essence().to_owned()),
                notes: extracted.notes,
                text_offset: in_document.map(|(offset, _)| offset),
                text_bytes: in_document.map(|(_, bytes)| bytes),
            },
            search_text: crate::search::indexed_prefix(&extracted.text).to_owned(),
            fetch_ms: extract_started - fetch_started,
            extract_ms: summarize_started - extract_started,
            summarize_ms: finished - summarize_started,
            lease_write_ms,
        })
    }

    /// The summary of `text`, and what the configured backend said when the built-in
    /// summarizer answered in its place.
    async fn summarize(
        &self,
        leased: &LeasedJob,
        text: &str,
        usage: &mut Usage,
    ) -> Result<(Summary, Option<(Option<String>, String)>), Stop> {
        let attempt = leased.attempt;
        // As long as the document calls for, within the configured most.
        let options = &self.config.summary.for_text(text);
        let summarized = match self.token_quota_reached(leased) {
            Some(reason) => Err(SummarizeError::Failed {
                backend: self.config.backend.name().to_owned(),
                reason,
            }),
            None => self.summarizer.summarize(text, options, usage).await,
        };
        match summarized {
            Ok(summary) => Ok((summary, None)),
            Err(SummarizeError::NothingToSummarize) => Err(Stop::Permanent(
                "document has no sentences to summarize".into(),
            )),
            Err(e) if e.is_transient() && attempt < self.config.retry.max_attempts => {
                Err(Stop::Transient(e.to_string()))
            }
            // A backend that fails for good, or is still unavailable on the last attempt:
            // the built-in summarizer answers instead, and the row says so.
            Err(e) => {
                warn!(error = %e, attempt, "summarizer failed; falling back to extractive");
                let summary = ExtractiveSummarizer
                    .summarize(text, options, usage)
                    .await
                    .map_err(|e| Stop::Permanent(e.to_string()))?;
                Ok((
                    summary,
                    Some((e.backend().map(str::to_owned), e.to_string())),
                ))
            }
        }
    }

    /// The text of a document of `media_type` docpipe cannot read itself (`why`), read by the
    /// converter.
    async fn convert(
        &self,
        bytes: &[u8],
        media_type: MediaType,
        why: ExtractError,
        attempt: u32,
        usage: &mut Usage,
    ) -> Result<Extracted, Stop> {
        let Some(converter) = self.converter else {
            return Err(Stop::Permanent(format!(
                "{why}; no converter is configured (Workers AI's toMarkdown needs the AI binding)"
            )));
        };
        let name = format!("document.{}", media_type.extension());
        usage.calls += 1;
        match converter.to_markdown(&name, bytes).await {
            Ok(converted) => {
                usage.output_tokens += converted.tokens;
                let note = format!("{why}; read by Workers AI's toMarkdown");
                from_markdown(
                    &converted.markdown,
                    media_type,
                    vec![note],
                    &self.config.extract,
                )
                .map_err(|e| Stop::Permanent(format!("{why}; toMarkdown found no text ({e})")))
            }
            Err(e) if e.transient && attempt < self.config.retry.max_attempts => Err(
                Stop::Transient(format!("{why}; toMarkdown is unavailable: {e}")),
            ),
            Err(e) => Err(Stop::Permanent(format!(
                "{why}; toMarkdown could not read it: {e}"
            ))),
        }
    }

    /// Runs a write that ends this attempt (summary, failure, hand-back), retrying it in place
    /// a few times: if it never lands, the job stays leased to this attempt until the lease
    /// expires, and nothing can happen to it until then.
    async fn finishing_write<T, F, W>(&self, write: W) -> Result<T, DbError>
    where
        W: Fn() -> F,
        F: std::future::Future<Output = Result<T, DbError>>,
    {
        retry_failed(self.clock, &FINISHING_WRITE_PAUSES_MS, |_| write()).await
    }

    /// The retry for a message whose job could not be finished or handed back: once the lease
    /// has expired, the next delivery takes the job over.
    fn after_lease(&self, error: String) -> Outcome {
        Outcome::Retry {
            delay_ms: self.config.lease_ms + 1_000,
            error,
        }
    }

    async fn fail(&self, job: &JobId, lease_id: &str, error: String, usage: &Usage) -> Outcome {
        let now = self.clock.now_ms();
        match self
            .finishing_write(|| self.store.fail(job, lease_id, &error, usage, now))
            .await
        {
            Ok(true) => Outcome::Failed { error },
            Ok(false) => Outcome::Skipped {
                reason: "lease was lost before the failure was stored".into(),
            },
            Err(e) => self.after_lease(format!("could not record failure ({error}): {e}")),
        }
    }

    /// A transient error: hand the job back for a later attempt, or fail it when attempts are
    /// used up.
    async fn handle_transient(
        &self,
        job: &JobId,
        lease_id: &str,
        attempt: u32,
        error: String,
        usage: &Usage,
    ) -> Outcome {
        if attempt >= self.config.retry.max_attempts {
            let error = format!("gave up after {attempt} attempts: {error}");
            return self.fail(job, lease_id, error, usage).await;
        }
        let now = self.clock.now_ms();
        let delay_ms = self
            .config
            .retry
            .delay_ms(attempt, self.clock.random_unit());
        match self
            .finishing_write(|| {
                self.store
                    .release(job, lease_id, &error, usage, now + delay_ms, now)
            })
            .await
        {
            Ok(true) => Outcome::Retry { delay_ms, error },
            Ok(false) => Outcome::Skipped {
                reason: "lease was lost before the retry was recorded".into(),
            },
            Err(e) => self.after_lease(format!("{error}; releasing the job failed: {e}")),
        }
    }

    fn retry_later(&self, attempt: u32, error: String) -> Outcome {
        Outcome::Retry {
            delay_ms: self
                .config
                .retry
                .delay_ms(attempt, self.clock.random_unit()),
            error,
        }
    }
}

/// Where `text` is in `document` (offset, length in bytes), when it is the document's UTF-8
/// without the white space at its ends.
fn text_in_document(text: &str, document: &[u8]) -> Option<(u64, u64)> {
    let document = std::str::from_utf8(document).ok()?;
    (!text.is_empty() && document.trim() == text).then(|| {
        let offset = document.len() - document.trim_start().len();
        (offset as u64, text.len() as u64)
    })
}

#[cfg(test)]
mod tests {

    use docpipe_docproc::ExtractiveSummarizer;
    use docpipe_jobs::{DocumentId, JobStatus, RequestId};
    use pollster::block_on;

    use super::*;
    use crate::objects::text_key;
    use crate::ports::{ConvertError, Converted};
    use crate::store::fixtures::{T0, tenant};
    use crate::testing::ScriptedConverter;
    use crate::testing::{ProcessFixture as Fixture, Scripted};

    const TEXT: &[u8] = b"Rust compiles to WebAssembly. Workers run WebAssembly at the edge. \
        The weather is nice. Queues deliver messages to Workers at least once.";

    #[test]
    fn processes_a_document_into_one_summary() {
        let mut f = Fixture::new();
        let message = f.upload(TEXT, "text/plain");
        let outcome = f.process(&ExtractiveSummarizer, &message, "lease-1");
        assert_eq!(outcome, Outcome::Succeeded { attempt: 1 });
        assert_eq!(outcome.action(), Action::Ack);
        assert_eq!(f.status(&message).0, JobStatus::Succeeded);
        assert_eq!(f.summaries(), 1);
        let input_chars = f
            .store
            .database()
            .scalar_i64("SELECT input_chars FROM summaries");
        assert_eq!(input_chars, TEXT.len() as i64);
    }

    #[test]
    fn redelivered_message_writes_one_summary() {
        let mut f = Fixture::new();
        let message = f.upload(TEXT, "text/plain");
        f.process(&ExtractiveSummarizer, &message, "lease-1");
        let again = f.process(&ExtractiveSummarizer, &message, "lease-2");
        assert_eq!(
            again,
            Outcome::Skipped {
                reason: "job is already succeeded".into()
            }
        );
        assert_eq!(again.action(), Action::Ack);
        assert_eq!(f.summaries(), 1);
    }

    #[test]
    fn bad_document_fails_its_job_with_a_readable_error() {
        let mut f = Fixture::new();
        let message = f.upload(
            b"\x80\x81\x01\x02\x03\x04\x05 binary",
            "text/plain; charset=utf-8",
        );
        let outcome = f.process(&ExtractiveSummarizer, &message, "lease-1");
        assert_eq!(outcome.action(), Action::Ack);
        let (status, _, error) = f.status(&message);
        assert_eq!(status, JobStatus::Failed);
        assert_eq!(
            error.as_deref(),
            Some("document looks binary (byte 0x01 at offset 2), not text/plain text")
        );
        assert_eq!(f.summaries(), 0);
        assert_eq!(
            f.documents.keys(),
            [f.object_key(&message)],
            "no text is stored for a failed extraction"
        );
    }

    #[test]
    fn extracted_text_is_stored_and_extraction_notes_recorded() {
        let mut f = Fixture::new();
        let message = f.upload(
            b"Le caf\xe9 ouvre t\xf4t. Les p\xeacheurs arrivent.",
            "text/plain",
        );
        assert_eq!(
            f.process(&ExtractiveSummarizer, &message, "lease-1"),
            Outcome::Succeeded { attempt: 1 }
        );
        let stored = f.documents.get(&text_key(&f.object_key(&message))).unwrap();
        assert_eq!(
            String::from_utf8(stored.bytes).unwrap(),
            "Le café ouvre tôt. Les pêcheurs arrivent."
        );
        let row = block_on(f.store.latest_summary(&tenant(), &message.document_id)).unwrap();
        let crate::store::SummaryLookup::Ready(row) = row else {
            panic!("no summary: {row:?}");
        };
        assert_eq!(row.content.source_type.as_deref(), Some("text/plain"));
        assert_eq!(row.content.notes, ["decoded as windows-1252 (detected)"]);
    }

    #[test]
    fn markdown_is_stored_beside_the_text_when_the_format_has_structure() {
        let mut f = Fixture::new();
        let structured = f.upload(
            b"# Harbour\n\nThe *cranes* moved cargo all night. The ships left at dawn.",
            "text/markdown",
        );
        let plain = f.upload(b"The cranes moved cargo. The ships left.", "text/plain");
        let html = f.upload(b"<h1>Harbour</h1><p>The *cranes* moved.</p>", "text/html");
        for message in [&structured, &plain, &html] {
            assert_eq!(
                f.process(&ExtractiveSummarizer, message, "lease-1"),
                Outcome::Succeeded { attempt: 1 }
            );
        }
        let read = |message: &JobMessage, key: fn(&str) -> String| {
            f.documents
                .get(&key(&f.object_key(message)))
                .map(|o| String::from_utf8(o.bytes).unwrap())
        };
        assert_eq!(
            read(&structured, text_key).as_deref(),
            Some("Harbour\n\nThe cranes moved cargo all night. The ships left at dawn.")
        );
        // A Markdown document is its own Markdown: nothing is copied.
        assert_eq!(read(&structured, crate::text::markdown_key), None);
        assert_eq!(
            read(&html, crate::text::markdown_key).as_deref(),
            Some("# Harbour\n\nThe \\*cranes\\* moved.")
        );
        // Plain text that reads the same as Markdown has no Markdown of its own.
        assert_eq!(read(&plain, crate::text::markdown_key), None);
    }

    #[test]
    fn clean_plain_text_is_its_own_text_and_no_copy_is_kept() {
        let mut f = Fixture::new();
        let clean = f.upload(
            b"\n  The cranes moved cargo. The ships left.\n",
            "text/plain",
        );
        let cleaned = f.upload(b"The cranes moved cargo.\r\nThe ships left.", "text/plain");
        // An attempt that stored a copy (as every version before this one did) and then
        // stopped: the attempt that finishes deletes the copy.
        let lease_ms = f.config.lease_ms;
        block_on(
            f.store
                .acquire_lease(&clean.job_id, "stopped", T0, lease_ms),
        )
        .unwrap();
        f.documents.insert(
            text_key(&f.object_key(&clean)),
            b"stale",
            "text/plain; charset=utf-8",
        );
        f.clock.0.set(T0 + lease_ms + 1);
        assert_eq!(
            f.process(&ExtractiveSummarizer, &clean, "lease-2"),
            Outcome::Succeeded { attempt: 2 }
        );
        assert_eq!(f.documents.text_deletes.get(), 1);
        assert_eq!(
            f.process(&ExtractiveSummarizer, &cleaned, "lease-1"),
            Outcome::Succeeded { attempt: 1 }
        );
        // A document's first processing has no copy to delete, and asks R2 for nothing.
        let first = f.upload(b"The cranes moved cargo.", "text/plain");
        assert_eq!(
            f.process(&ExtractiveSummarizer, &first, "lease-1"),
            Outcome::Succeeded { attempt: 1 }
        );
        assert_eq!(f.documents.text_deletes.get(), 1);
        let in_document = |message: &JobMessage| match block_on(
            f.store.latest_summary(&tenant(), &message.document_id),
        )
        .unwrap()
        {
            crate::store::SummaryLookup::Ready(row) => {
                (row.content.text_offset, row.content.text_bytes)
            }
            other => panic!("no summary: {other:?}"),
        };
        // Its text is the document without the white space at its ends.
        assert_eq!(in_document(&clean), (Some(3), Some(39)));
        assert!(f.documents.get(&text_key(&f.object_key(&clean))).is_none());
        assert_eq!(in_document(&cleaned), (None, None));
        let text = f.documents.get(&text_key(&f.object_key(&cleaned))).unwrap();
        assert_eq!(text.bytes, b"The cranes moved cargo.\nThe ships left.");
    }

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR";

    fn converted(markdown: &str) -> Result<Converted, ConvertError> {
        Ok(Converted {
            markdown: markdown.into(),
            tokens: 42,
        })
    }

    #[test]
    fn an_image_is_read_by_the_converter_and_says_so() {
        let mut f = Fixture::new();
        f.converter = Some(ScriptedConverter::default());
        let message = f.upload(PNG, "image/png");
        if let Some(c) = &f.converter {
            c.answers.borrow_mut().push(converted(
                "# Harbour sign\n\nThe ferry leaves at noon. Tickets are sold on board.",
            ));
        }
        assert_eq!(
            f.process(&ExtractiveSummarizer, &message, "lease-1"),
            Outcome::Succeeded { attempt: 1 }
        );
        let names = f.converter.as_ref().map(|c| c.names.borrow().clone());
        assert_eq!(names, Some(vec!["document.png".to_owned()]));
        let row = block_on(f.store.latest_summary(&tenant(), &message.document_id)).unwrap();
        let crate::store::SummaryLookup::Ready(row) = row else {
            panic!("no summary: {row:?}");
        };
        assert_eq!(row.content.source_type.as_deref(), Some("image/png"));
        assert_eq!(
            row.content.notes,
            [
                "document is a PNG image, whose text only a converter reads (Workers AI's \
              toMarkdown); read by Workers AI's toMarkdown"
            ]
        );
        assert!(row.content.summary.contains("ferry leaves at noon"));
        let text = f
            .documents
            .get(&text_key(&f.object_key(&message)))
            .map(|o| String::from_utf8(o.bytes).unwrap());
        assert_eq!(
            text.as_deref(),
            Some("Harbour sign\n\nThe ferry leaves at noon. Tickets are sold on board.")
        );
    }

    #[test]
    fn without_a_converter_an_image_fails_readably_and_a_busy_one_is_retried() {
        let mut f = Fixture::new();
        let message = f.upload(PNG, "image/png");
        let Outcome::Failed { error } = f.process(&ExtractiveSummarizer, &message, "lease-1")
        else {
            panic!("an image without a converter did not fail");
        };
        assert!(error.contains("no converter is configured"), "{error}");

        f.converter = Some(ScriptedConverter::default());
        let message = f.upload(b"%PDF-1.4 scanned", "application/pdf");
        if let Some(c) = &f.converter {
            let busy = ConvertError {
                message: "3040: Capacity temporarily exceeded".into(),
                transient: true,
            };
            c.answers.borrow_mut().push(Err(busy));
        }
        // The PDF is broken, not scanned: the converter is not asked.
        let outcome = f.process(&ExtractiveSummarizer, &message, "lease-1");
        assert!(matches!(outcome, Outcome::Failed { .. }), "{outcome:?}");
        assert_eq!(
            f.converter.as_ref().map(|c| c.names.borrow().len()),
            Some(0)
        );

        let message = f.upload(PNG, "application/octet-stream");
        let outcome = f.process(&ExtractiveSummarizer, &message, "lease-1");
        assert!(
            matches!(&outcome, Outcome::Retry { error, .. } if error.contains("3040")),
            "{outcome:?}"
        );
    }

    #[test]
    fn document_larger_than_the_read_limit_is_summarized_from_its_start() {
        let mut f = Fixture::new();
        f.config.max_document_bytes = 30;
        let message = f.upload(TEXT, "text/plain");
        assert_eq!(
            f.process(&ExtractiveSummarizer, &message, "lease-1"),
            Outcome::Succeeded { attempt: 1 }
        );
        let db = f.store.database();
        assert_eq!(db.scalar_i64("SELECT truncated FROM summaries"), 1);
        // The first 30 bytes, without the trailing space.
        assert_eq!(db.scalar_i64("SELECT input_chars FROM summaries"), 29);
    }

    #[test]
    fn missing_object_fails_the_job() {
        let mut f = Fixture::new();
        let message = f.upload(TEXT, "text/plain");
        f.documents.clear();
        f.process(&ExtractiveSummarizer, &message, "lease-1");
        let (status, _, error) = f.status(&message);
        assert_eq!(status, JobStatus::Failed);
        assert!(error.unwrap().contains("missing"));
    }

    #[test]
    fn transient_failure_retries_with_backoff_then_succeeds() {
        let mut f = Fixture::new();
        let message = f.upload(TEXT, "text/plain");
        let flaky = Scripted::failing_transiently(1);
        let first = f.process(&flaky, &message, "lease-1");
        let Outcome::Retry {
            delay_ms,
            ref error,
        } = first
        else {
            panic!("expected a retry, got {first:?}");
        };
        assert_eq!(delay_ms, 3_750, "base 5 s, attempt 1, jitter 0.5");
        assert!(error.contains("out of capacity"), "{error}");
        assert_eq!(first.action(), Action::Retry { delay_seconds: 4 });
        assert_eq!(f.status(&message).0, JobStatus::Queued);

        f.clock.0.set(T0 + delay_ms);
        assert_eq!(
            f.process(&flaky, &message, "lease-2"),
            Outcome::Succeeded { attempt: 2 }
        );
        assert_eq!(f.summaries(), 1);
        let db = f.store.database();
        assert_eq!(
            db.scalar_i64(
                "SELECT ai_calls * 1000 + ai_input_tokens FROM jobs WHERE ai_model = 'test-model'"
            ),
            2 * 1_000 + 200,
            "both attempts' calls are counted"
        );
        assert_eq!(
            db.scalar_i64("SELECT CAST(ROUND(ai_cost_usd * 100) AS INTEGER) FROM jobs"),
            2
        );
    }

    #[test]
    fn backend_still_unavailable_on_the_last_attempt_falls_back_to_extractive() {
        let mut f = Fixture::new();
        let message = f.upload(TEXT, "text/plain");
        let flaky = Scripted::failing_transiently(10);
        for attempt in 1..=2 {
            f.clock.0.set(T0 + attempt * 1_000_000);
            let outcome = f.process(&flaky, &message, &format!("lease-{attempt}"));
            assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
        }
        f.clock.0.set(T0 + 3_000_000);
        assert_eq!(
            f.process(&flaky, &message, "lease-3"),
            Outcome::Succeeded { attempt: 3 }
        );
        let db = f.store.database();
        assert_eq!(
            db.scalar_i64(
                "SELECT COUNT(*) FROM summaries WHERE backend = 'extractive' AND fallback_from = 'test'"
            ),
            1
        );
        assert_eq!(
            db.scalar_i64("SELECT ai_calls FROM jobs"),
            3,
            "the failed calls of all three attempts"
        );
    }

    #[test]
    fn permanently_failing_backend_falls_back_at_once() {
        let broken = Scripted {
            permanent_failure: Some(SummarizeError::Failed {
                backend: "openai".into(),
                reason: "HTTP 401: bad key".into(),
            }),
            ..Scripted::default()
        };
        let mut f = Fixture::new();
        let message = f.upload(TEXT, "text/plain");
        assert_eq!(
            f.process(&broken, &message, "lease-1"),
            Outcome::Succeeded { attempt: 1 }
        );
        assert_eq!(
            f.store
                .database()
                .scalar_i64("SELECT COUNT(*) FROM summaries WHERE fallback_from = 'openai'"),
            1
        );
    }

    #[test]
    fn retries_of_a_job_stop_at_the_attempt_limit() {
        let mut f = Fixture::new();
        let message = f.upload(TEXT, "text/plain");
        // Leases taken by consumers that died: attempts are used up without any outcome.
        for attempt in 0..3 {
            let now = T0 + attempt * (f.config.lease_ms + 1);
            block_on(
                f.store
                    .acquire_lease(&message.job_id, "dead", now, f.config.lease_ms),
            )
            .unwrap();
        }
        f.clock.0.set(T0 + 10 * f.config.lease_ms);
        let outcome = f.process(&ExtractiveSummarizer, &message, "last");
        assert_eq!(
            outcome,
            Outcome::Failed {
                error: "gave up after 3 attempts".into()
            }
        );
        assert_eq!(f.summaries(), 0);
    }

    #[test]
    fn message_for_a_job_held_elsewhere_comes_back_after_the_lease() {
        let mut f = Fixture::new();
        let message = f.upload(TEXT, "text/plain");
        block_on(
            f.store
                .acquire_lease(&message.job_id, "other", T0, f.config.lease_ms),
        )
        .unwrap();
        let outcome = f.process(&ExtractiveSummarizer, &message, "mine");
        assert_eq!(outcome.action(), Action::Retry { delay_seconds: 301 });
        assert_eq!(f.summaries(), 0);
    }

    #[test]
    fn the_same_message_processed_twice_at_once_makes_one_summary() {
        let mut f = Fixture::new();
        let message = f.upload(TEXT, "text/plain");
        let yielding = Scripted {
            yield_first: true,
            ..Scripted::default()
        };
        let processor = f.processor(&f.store, &yielding);
        let (first, second) = block_on(futures::future::join(
            processor.process(&message, Lease::to_take("copy-1")),
            processor.process(&message, Lease::to_take("copy-2")),
        ));
        assert_eq!(first, Outcome::Succeeded { attempt: 1 });
        assert!(
            matches!(second.action(), Action::Retry { .. }),
            "the second copy finds the lease held: {second:?}"
        );
        assert_eq!(f.summaries(), 1);
        // When it comes back, the job is finished and the copy is dropped.
        assert_eq!(
            f.process(&ExtractiveSummarizer, &message, "copy-2-again")
                .action(),
            Action::Ack
        );
        assert_eq!(f.summaries(), 1);
        assert_eq!(f.status(&message).1, 1, "only one attempt was counted");
    }

    #[test]
    fn a_briefly_failing_summary_write_is_retried_in_place() {
        let mut f = Fixture::new();
        let message = f.upload(TEXT, "text/plain");
        let shaky = f.shaky_store(2);
        assert_eq!(
            f.process_with(&shaky, &ExtractiveSummarizer, &message, "lease-1"),
            Outcome::Succeeded { attempt: 1 }
        );
        assert_eq!(
            f.clock.now_ms(),
            T0 + 500,
            "waited 100 + 400 ms between tries"
        );
    }

    #[test]
    fn a_summary_write_that_keeps_failing_waits_for_the_lease() {
        let mut f = Fixture::new();
        let message = f.upload(TEXT, "text/plain");
        let shaky = f.shaky_store(100);
        let outcome = f.process_with(&shaky, &ExtractiveSummarizer, &message, "lease-1");
        // The hand-back is a single statement and lands; the summary write never did.
        assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
        let row = block_on(shaky.job(&tenant(), &message.job_id))
            .unwrap()
            .unwrap();
        assert_eq!(row.status, JobStatus::Queued);
        assert!(row.error.unwrap().contains("database is locked"));
    }

    #[test]
    fn message_for_an_unknown_job_is_acked() {
        let f = Fixture::new();
        let message = JobMessage::new(JobId::new(), DocumentId::new(), RequestId::generate());
        let outcome = f.process(&ExtractiveSummarizer, &message, "lease");
        assert_eq!(outcome.action(), Action::Ack);
        assert!(matches!(outcome, Outcome::Skipped { .. }));
    }

    #[test]
    fn long_retry_delays_are_capped_at_the_queue_maximum() {
        let outcome = Outcome::Retry {
            delay_ms: 100 * 3_600_000,
            error: String::new(),
        };
        assert_eq!(
            outcome.action(),
            Action::Retry {
                delay_seconds: 43_200
            }
        );
    }

    #[test]
    fn schema_accepts_exactly_the_contract_statuses() {
        use crate::db::Statement;
        use crate::ports::Database;
        let mut f = Fixture::new();
        let message = f.upload(TEXT, "text/plain");
        let set = |status: &str| {
            block_on(f.store.database().execute(Statement::new(
                "UPDATE jobs SET status = ?1 WHERE id = ?2",
                vec![status.into(), message.job_id.to_string().into()],
            )))
        };
        for status in JobStatus::ALL {
            assert_eq!(set(status.as_str()), Ok(1), "{status}");
        }
        assert!(set("done").is_err(), "CHECK must refuse unknown statuses");
    }

    #[test]
    fn a_tenant_out_of_model_tokens_gets_the_built_in_summary_and_is_told_why() {
        let mut f = Fixture::new();
        f.config.backend = crate::config::BackendChoice::WorkersAi {
            model: "m".into(),
            options: Default::default(),
            max_input_tokens: None,
        };
        f.config.quotas.tokens_per_day = 500;
        let message = f.upload(TEXT, "text/plain");
        f.store.database().run_sql(&format!(
            "UPDATE tenant_usage SET tokens = 500 WHERE tenant_id = 'default' AND day = '{}'",
            crate::quota::day(T0)
        ));
        let counting = Scripted::default();
        assert_eq!(
            f.process(&counting, &message, "lease-1"),
            Outcome::Succeeded { attempt: 1 }
        );
        let db = f.store.database();
        assert_eq!(
            db.scalar_i64(
                "SELECT COUNT(*) FROM summaries WHERE backend = 'extractive' \
                 AND fallback_from = 'workers-ai' \
                 AND fallback_reason LIKE '%model tokens for today are used up (500 of 500)%'"
            ),
            1
        );
        assert_eq!(
            db.scalar_i64("SELECT COUNT(*) FROM jobs WHERE ai_calls IS NULL"),
            1,
            "no model was called"
        );
    }

    #[test]
    fn model_tokens_are_counted_against_the_tenants_day() {
        let mut f = Fixture::new();
        let message = f.upload(TEXT, "text/plain");
        let flaky = Scripted::failing_transiently(1);
        f.process(&flaky, &message, "lease-1");
        f.clock.0.set(T0 + 60_000);
        f.process(&flaky, &message, "lease-2");
        assert_eq!(
            f.store
                .database()
                .scalar_i64("SELECT tokens FROM tenant_usage WHERE tenant_id = 'default'"),
            200,
            "100 tokens a call, two calls"
        );
    }
}
