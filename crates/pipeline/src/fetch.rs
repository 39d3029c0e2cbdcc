//! The `fetching` stage of a job whose document was named by URL: the consumer takes the
//! fetch's lease, follows the origin's redirects (each checked by [`crate::remote`]), streams
//! the body into storage under a size cap and a deadline, and records the document and its
//! `queued` job, which then runs as any other. A failure is a readable job error: `404 from
//! origin`, `too large: …`, `timed out …`. Transient ones (the origin unreachable, `5xx`,
//! `429`) are retried within the job's attempts.

use std::pin::pin;

use docpipe_jobs::JobMessage;
use futures_util::future::{Either, select};
use tracing::{info, warn};

use crate::api::ApiError;
use crate::config::SummarizerConfig;
use crate::objects::document_key;
use crate::ports::{BodyLength, Clock, Database, Origin, OriginResponse, SinkError, UploadSink};
use crate::remote::{self, MAX_REDIRECTS, UrlRefused};
use crate::store::{FetchLease, LeasedFetch, NewDocument, Store};
use crate::upload;

/// What the fetching stage decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The document is stored and its job recorded: process it.
    Ready,
    /// The job is failed with this error.
    Failed { error: String },
    /// Come back after `delay_ms`.
    Retry { delay_ms: i64, error: String },
    /// Nothing to do: the fetch failed before, or does not exist.
    Skipped { reason: String },
}

/// Why one fetch attempt did not store the document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// Trying again will not help.
    Permanent(String),
    /// Worth another attempt.
    Transient(String),
}

impl From<UrlRefused> for Failure {
    fn from(refused: UrlRefused) -> Self {
        Failure::Permanent(format!("refused: {refused}"))
    }
}

/// The fetching stage, as the consumer runs it.
pub trait FetchStage {
    async fn fetch(&self, message: &JobMessage) -> Fetched;
}

/// What fetching documents needs.
#[derive(Debug)]
pub struct Fetcher<'a, D, S, O, C> {
    pub store: &'a Store<D>,
    pub sink: &'a S,
    pub origin: &'a O,
    pub clock: &'a C,
    /// Its `fetch` settings, and the lease, retries and quotas jobs have.
    pub config: &'a SummarizerConfig,
}

impl<D, S, O, C> FetchStage for Fetcher<'_, D, S, O, C>
where
    D: Database,
    S: UploadSink,
    O: Origin<Body = S::Body>,
    C: Clock,
{
    async fn fetch(&self, message: &JobMessage) -> Fetched {
        self.run(message).await
    }
}

impl<D, S, O, C> Fetcher<'_, D, S, O, C>
where
    D: Database,
    S: UploadSink,
    O: Origin<Body = S::Body>,
    C: Clock,
{
    /// Runs the fetching stage of the message's job.
    pub async fn run(&self, message: &JobMessage) -> Fetched {
        let job = &message.job_id;
        let now = self.clock.now_ms();
        let leased = match self.store.lease_fetch(job, now, self.config.lease_ms).await {
            Ok(FetchLease::Acquired(leased)) => leased,
            Ok(FetchLease::Fetched) => return Fetched::Ready,
            Ok(FetchLease::Failed) => {
                return Fetched::Skipped {
                    reason: "the fetch already failed".into(),
                };
            }
            Ok(FetchLease::NotFound) => {
                return Fetched::Skipped {
                    reason: "no such fetch".into(),
                };
            }
            Ok(FetchLease::Held { until }) => {
                return Fetched::Retry {
                    delay_ms: (until.0 - now).max(0) + 1_000,
                    error: "the fetch is leased by another consumer".into(),
                };
            }
            Err(e) => {
                return Fetched::Retry {
                    delay_ms: self.soon(),
                    error: format!("could not take the fetch's lease: {e}"),
                };
            }
        };
        let key = document_key(&leased.tenant_id, &leased.document_id);
        let started = self.clock.now_ms();
        let attempt = pin!(self.attempt(&leased, &key));
        let timer = pin!(self.clock.sleep(self.config.fetch.timeout_ms));
        let result = match select(attempt, timer).await {
            Either::Left((result, _)) => result,
            Either::Right(((), _)) => Err(Failure::Permanent(format!(
                "timed out: the fetch took longer than {} s",
                self.config.fetch.timeout_ms / 1_000
            ))),
        };
        let failure = match result {
            Ok(mut document) => {
                document.upload_ms = Some(self.clock.now_ms() - started);
                return self.record(message, &document).await;
            }
            Err(failure) => failure,
        };
        // Whatever part of the body was stored is not a document.
        if let Err(e) = self.sink.delete(&key).await {
            warn!(error = %e, key, "could not delete what a failed fetch stored");
        }
        let now = self.clock.now_ms();
        match failure {
            Failure::Transient(error) if leased.attempts < self.config.retry.max_attempts => {
                let delay_ms = self
                    .config
                    .retry
                    .delay_ms(leased.attempts, self.clock.random_unit());
                if let Err(e) = self
                    .store
                    .retry_fetch(job, &error, now, now + delay_ms)
                    .await
                {
                    warn!(error = %e, "could not hand the fetch back; its lease will expire");
                }
                Fetched::Retry { delay_ms, error }
            }
            Failure::Transient(error) | Failure::Permanent(error) => {
                if let Err(e) = self.store.fail_fetch(job, &error, now).await {
                    return Fetched::Retry {
                        delay_ms: self.soon(),
                        error: format!("could not record the fetch's failure ({error}): {e}"),
                    };
                }
                Fetched::Failed { error }
            }
        }
    }

    /// The first retry's delay, for a fetch that could not be started or recorded.
    fn soon(&self) -> i64 {
        self.config.retry.delay_ms(1, self.clock.random_unit())
    }

    async fn record(&self, message: &JobMessage, document: &NewDocument) -> Fetched {
        let recorded = self
            .store
            .complete_fetch(&message.job_id, document, self.clock.now_ms())
            .await;
        match recorded {
            Ok(true) => {
                info!(
                    size_bytes = document.size_bytes,
                    content_type = document.content_type,
                    fetch_ms = document.upload_ms,
                    "document fetched"
                );
                Fetched::Ready
            }
            Ok(false) => {
                if let Ok(false) = self.store.job_exists(&message.job_id).await {
                    // Its document was deleted meanwhile: what was stored goes too.
                    if let Err(e) = self.sink.delete(&document.object_key).await {
                        warn!(error = %e, "could not delete a fetch of a deleted document");
                    }
                    return Fetched::Skipped {
                        reason: "canceled: the document was deleted while it was fetched".into(),
                    };
                }
                // Another lease finished it, or failed it, meanwhile; it wrote the same key.
                Fetched::Skipped {
                    reason: "the fetch was finished by another consumer".into(),
                }
            }
            Err(e) => Fetched::Retry {
                delay_ms: self.soon(),
                error: format!("could not record the fetched document: {e}"),
            },
        }
    }

    /// One attempt: redirects, checks, and the body into storage at `key`.
    async fn attempt(&self, leased: &LeasedFetch, key: &str) -> Result<NewDocument, Failure> {
        let allowed = &self.config.fetch.allowed_hosts;
        let mut url = remote::check(&leased.url, allowed)?;
        let mut redirects = 0;
        let response = loop {
            let response = self.origin.get(url.as_str()).await.map_err(|e| {
                Failure::Transient(format!(
                    "could not reach {}: {e}",
                    url.host_str().unwrap_or("the origin")
                ))
            })?;
            if !matches!(response.status, 301 | 302 | 303 | 307 | 308) {
                break response;
            }
            let location = response.location.as_deref().ok_or_else(|| {
                Failure::Permanent(format!(
                    "{} from origin without a Location",
                    response.status
                ))
            })?;
            if redirects == MAX_REDIRECTS {
                return Err(Failure::Permanent(format!(
                    "more than {MAX_REDIRECTS} redirects"
                )));
            }
            url = remote::redirect(&url, location, allowed)?;
            redirects += 1;
        };
        let OriginResponse {
            status,
            content_type,
            content_disposition,
            content_length,
            body,
            ..
        } = response;
        match status {
            200..=299 => {}
            408 | 429 | 500..=599 => {
                return Err(Failure::Transient(format!("{status} from origin")));
            }
            _ => return Err(Failure::Permanent(format!("{status} from origin"))),
        }
        let limit = self.bytes_left(leased).await?;
        let valid = upload::validate_fetched(
            leased.filename.as_deref(),
            content_type.as_deref(),
            content_disposition.as_deref(),
            remote::filename(&url),
            limit,
        )
        .map_err(|e| Failure::Permanent(origin_refused(&e)))?;
        if let Some(declared) = content_length
            && declared > limit
        {
            return Err(Failure::Permanent(format!(
                "too large: the origin declares {declared} bytes, the limit is {limit}"
            )));
        }
        let body = body.ok_or_else(|| Failure::Permanent("the origin sent no body".into()))?;
        let content_type = valid.content_type.header_value();
        let stored = self
            .sink
            .put_hashed(
                key,
                body,
                BodyLength::AtMost(limit),
                &content_type,
                std::future::ready(true),
            )
            .await
            .map_err(|e| match e {
                SinkError::TooLarge { limit } => {
                    Failure::Permanent(format!("too large: more than {limit} bytes"))
                }
                SinkError::Stalled { seconds } => Failure::Permanent(format!(
                    "timed out: the origin sent no byte for {seconds} s"
                )),
                SinkError::Body(reason) => Failure::Transient(match content_length {
                    Some(declared) => format!(
                        "the origin's body broke off before its declared {declared} bytes: {reason}"
                    ),
                    None => format!("the origin's body broke off: {reason}"),
                }),
                e @ SinkError::Abandoned => Failure::Transient(e.to_string()),
                SinkError::Storage(reason) => Failure::Transient(reason),
            })?;
        if let Some(declared) = content_length
            && declared != stored.size
        {
            return Err(Failure::Permanent(format!(
                "the origin declared {declared} bytes and sent {}",
                stored.size
            )));
        }
        if stored.size == 0 {
            return Err(Failure::Permanent("the origin sent an empty body".into()));
        }
        Ok(NewDocument {
            id: leased.document_id,
            tenant: leased.tenant_id.clone(),
            object_key: key.to_owned(),
            filename: valid.filename,
            content_type,
            size_bytes: stored.size,
            sha256: Some(stored.sha256),
            idempotency_key: None,
            request_id: leased.request_id.clone(),
            upload_ms: None,
            source_url: Some(leased.url.clone()),
            callback_url: None,
        })
    }

    /// The most this fetch may store: the fetch limit, or what is left of the tenant's bytes
    /// for the day when that is less.
    async fn bytes_left(&self, leased: &LeasedFetch) -> Result<u64, Failure> {
        let (used, limits) = self
            .store
            .usage(&leased.tenant_id, &self.config.quotas, self.clock.now_ms())
            .await
            .map_err(|e| Failure::Transient(format!("could not read the tenant's usage: {e}")))?;
        let left = limits.bytes_per_day.saturating_sub(used.bytes);
        if left == 0 {
            return Err(Failure::Permanent(format!(
                "over quota: the tenant's {} bytes for today are used",
                limits.bytes_per_day
            )));
        }
        Ok(left.min(self.config.fetch.max_bytes))
    }
}

/// An upload rule the origin's answer broke, as a job error.
fn origin_refused(error: &ApiError) -> String {
    format!("the origin's answer is refused: {error}")
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use docpipe_docproc::ExtractiveSummarizer;
    use docpipe_jobs::{DocumentId, JobId, JobStatus, RequestId};
    use pollster::block_on;

    use super::*;
    use crate::consume::job_message;
    use crate::ports::OriginError;
    use crate::process::Action;
    use crate::remote::AllowedHosts;
    use crate::sqlite::{ManualClock, Sqlite};
    use crate::store::NewFetch;
    use crate::store::fixtures::tenant;
    use crate::testing::{ProcessFixture, TestBody};

    const TEXT: &[u8] = b"The harbour reopened in spring. Boats returned the same week.";

    /// A status, headers and body.
    type Answer = (u16, Vec<(&'static str, String)>, TestBody);

    /// An origin answering from a script, by URL; a URL it does not know never answers.
    #[derive(Default)]
    struct Scripted {
        answers: RefCell<BTreeMap<String, Answer>>,
        asked: RefCell<Vec<String>>,
    }

    impl Scripted {
        fn answer(&self, url: &str, status: u16, headers: &[(&'static str, &str)], body: &[u8]) {
            let headers = headers.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
            self.answers
                .borrow_mut()
                .insert(url.into(), (status, headers, TestBody::whole(body)));
        }
    }

    impl Origin for Scripted {
        type Body = TestBody;
        async fn get(&self, url: &str) -> Result<OriginResponse<TestBody>, OriginError> {
            self.asked.borrow_mut().push(url.to_owned());
            let Some((status, headers, body)) = self.answers.borrow().get(url).cloned() else {
                return std::future::pending().await;
            };
            if status == 0 {
                return Err(OriginError("connection refused".into()));
            }
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            };
            Ok(OriginResponse {
                status,
                location: header("Location"),
                content_type: header("Content-Type"),
                content_disposition: header("Content-Disposition"),
                content_length: header("Content-Length").and_then(|v| v.parse().ok()),
                body: Some(body),
            })
        }
    }

    struct Fixture {
        f: ProcessFixture,
        origin: Scripted,
    }

    impl Fixture {
        fn new() -> Self {
            let mut f = ProcessFixture::new();
            f.config.fetch.max_bytes = 1_000;
            Self {
                f,
                origin: Scripted::default(),
            }
        }

        /// A fetch of `url` as `POST /v1/documents` records it, and its message.
        fn named(&self, url: &str) -> JobMessage {
            let (job, document) = (JobId::new(), DocumentId::new());
            let request = RequestId::parse("req-url").unwrap();
            let fetch = NewFetch {
                job,
                document,
                tenant: tenant(),
                url: url.into(),
                filename: None,
                request_id: request.clone(),
                callback_url: None,
            };
            block_on(self.f.store.begin_fetch(
                &fetch,
                &self.f.config.quotas,
                self.f.clock.now_ms(),
            ))
            .unwrap()
            .unwrap();
            JobMessage::to_fetch(job, document, request)
        }

        fn consume(&self, message: &JobMessage) -> Action {
            let fetcher = Fetcher {
                store: &self.f.store,
                sink: &self.f.documents,
                origin: &self.origin,
                clock: &self.f.clock,
                config: &self.f.config,
            };
            let processor = self.f.processor(&self.f.store, &ExtractiveSummarizer);
            let lease = crate::process::Lease::fresh(&self.f.clock);
            block_on(job_message(
                &processor,
                &fetcher,
                &message.to_json(),
                "m-1",
                lease,
            ))
        }

        fn job(&self, message: &JobMessage) -> (JobStatus, Option<String>, Option<String>) {
            let row = block_on(self.f.store.job(&tenant(), &message.job_id))
                .unwrap()
                .unwrap();
            (row.status, row.error, row.stage)
        }

        fn db(&self) -> &Sqlite {
            self.f.store.database()
        }

        fn failed_with(&self, message: &JobMessage) -> String {
            let (status, error, stage) = self.job(message);
            assert_eq!(
                (status, stage.as_deref()),
                (JobStatus::Failed, Some("fetching"))
            );
            assert!(self.f.documents.keys().is_empty(), "nothing kept");
            assert_eq!(
                self.db().scalar_i64("SELECT COUNT(*) FROM documents"),
                0,
                "no document"
            );
            assert_eq!(
                self.db()
                    .scalar_i64("SELECT COALESCE(SUM(documents), 0) FROM tenant_usage"),
                0,
                "the document's count given back"
            );
            error.unwrap_or_default()
        }
    }

    fn clock(f: &Fixture) -> &ManualClock {
        &f.f.clock
    }

    #[test]
    fn a_named_document_is_fetched_through_a_redirect_then_summarized() {
        let f = Fixture::new();
        f.origin.answer(
            "https://example.com/latest",
            302,
            &[("Location", "/reports/harbour%20news.txt")],
            b"",
        );
        f.origin.answer(
            "https://example.com/reports/harbour%20news.txt",
            200,
            &[("Content-Type", "text/plain; charset=utf-8")],
            TEXT,
        );
        let message = f.named("https://example.com/latest");
        assert_eq!(f.job(&message).2.as_deref(), Some("fetching"));
        assert_eq!(f.consume(&message), Action::Ack);
        let (status, error, stage) = f.job(&message);
        assert_eq!((status, error, stage), (JobStatus::Succeeded, None, None));
        let document = f.db().scalar_text(&format!(
            "SELECT filename || '|' || content_type || '|' || size_bytes || '|' || source_url \
             FROM documents WHERE id = '{}'",
            message.document_id
        ));
        assert_eq!(
            document,
            format!(
                "harbour news.txt|text/plain; charset=utf-8|{}|https://example.com/latest",
                TEXT.len()
            )
        );
        assert_eq!(
            f.db().scalar_i64("SELECT bytes FROM tenant_usage"),
            TEXT.len() as i64
        );
        assert_eq!(f.f.summaries(), 1);
    }

    #[test]
    fn a_redirect_to_a_refused_address_fails_the_job_without_going_there() {
        let f = Fixture::new();
        f.origin.answer(
            "https://example.com/a",
            301,
            &[("Location", "http://169.254.169.254/latest/meta-data/")],
            b"",
        );
        let message = f.named("https://example.com/a");
        assert_eq!(f.consume(&message), Action::Ack);
        let error = f.failed_with(&message);
        assert!(error.starts_with("refused: "), "{error}");
        assert!(error.contains("169.254.169.254"), "{error}");
        assert_eq!(f.origin.asked.borrow().len(), 1, "the target was not asked");
    }

    #[test]
    fn too_many_redirects_fail_the_job() {
        let f = Fixture::new();
        for hop in 0..7 {
            let next = format!("/hop{}", hop + 1);
            f.origin.answer(
                &format!("https://example.com/hop{hop}"),
                307,
                &[("Location", &next)],
                b"",
            );
        }
        let message = f.named("https://example.com/hop0");
        f.consume(&message);
        assert_eq!(f.failed_with(&message), "more than 5 redirects");
        assert_eq!(f.origin.asked.borrow().len(), 6);
    }

    #[test]
    fn an_origin_error_status_is_the_jobs_error() {
        let f = Fixture::new();
        f.origin
            .answer("https://example.com/gone", 404, &[], b"not here");
        let message = f.named("https://example.com/gone");
        assert_eq!(f.consume(&message), Action::Ack);
        assert_eq!(f.failed_with(&message), "404 from origin");
    }

    #[test]
    fn a_failing_origin_is_retried_then_the_job_fails_after_its_attempts() {
        let f = Fixture::new();
        f.origin.answer("https://example.com/busy", 503, &[], b"");
        let message = f.named("https://example.com/busy");
        for attempt in 1..f.f.config.retry.max_attempts {
            let action = f.consume(&message);
            assert!(matches!(action, Action::Retry { .. }), "{action:?}");
            let (status, error, _) = f.job(&message);
            assert_eq!(status, JobStatus::Queued, "attempt {attempt}");
            assert_eq!(error.as_deref(), Some("503 from origin"));
            clock(&f).0.set(clock(&f).now_ms() + 3_600_000);
        }
        assert_eq!(f.consume(&message), Action::Ack);
        assert_eq!(f.failed_with(&message), "503 from origin");
    }

    #[test]
    fn a_body_over_the_limit_fails_declared_or_not() {
        let f = Fixture::new();
        let big = vec![b'a'; 1_001];
        f.origin.answer(
            "https://example.com/declared",
            200,
            &[("Content-Length", "1001")],
            &big,
        );
        f.origin
            .answer("https://example.com/chunked", 200, &[], &big);
        let declared = f.named("https://example.com/declared");
        f.consume(&declared);
        assert_eq!(
            f.failed_with(&declared),
            "too large: the origin declares 1001 bytes, the limit is 1000"
        );
        let chunked = f.named("https://example.com/chunked");
        f.consume(&chunked);
        assert_eq!(f.failed_with(&chunked), "too large: more than 1000 bytes");
    }

    #[test]
    fn an_origin_that_lies_about_its_length_fails_the_job() {
        let f = Fixture::new();
        f.origin.answer(
            "https://example.com/short",
            200,
            &[("Content-Length", "100"), ("Content-Type", "text/plain")],
            TEXT,
        );
        let message = f.named("https://example.com/short");
        f.consume(&message);
        assert_eq!(
            f.failed_with(&message),
            format!("the origin declared 100 bytes and sent {}", TEXT.len())
        );
    }

    #[test]
    fn an_origin_that_never_answers_times_out() {
        let f = Fixture::new();
        let message = f.named("https://example.com/silent");
        f.consume(&message);
        let timeout = f.f.config.fetch.timeout_ms / 1_000;
        assert_eq!(
            f.failed_with(&message),
            format!("timed out: the fetch took longer than {timeout} s")
        );
    }

    #[test]
    fn an_unsupported_type_from_the_origin_fails_the_job() {
        let f = Fixture::new();
        f.origin.answer(
            "https://example.com/photo",
            200,
            &[("Content-Type", "image/gif")],
            b"\x89PNG",
        );
        let message = f.named("https://example.com/photo");
        f.consume(&message);
        let error = f.failed_with(&message);
        assert!(
            error.starts_with("the origin's answer is refused: "),
            "{error}"
        );
        assert!(error.contains("image/gif"), "{error}");
    }

    #[test]
    fn an_allowed_local_host_is_fetched() {
        let mut f = Fixture::new();
        f.f.config.fetch.allowed_hosts = AllowedHosts::parse("127.0.0.1:8123").unwrap();
        f.origin.answer(
            "http://127.0.0.1:8123/a.txt",
            200,
            &[("Content-Type", "text/plain")],
            TEXT,
        );
        let refused = f.named("http://127.0.0.1:9999/a.txt");
        f.consume(&refused);
        assert!(f.failed_with(&refused).contains("loopback"));
        let allowed = f.named("http://127.0.0.1:8123/a.txt");
        assert_eq!(f.consume(&allowed), Action::Ack);
        assert_eq!(f.job(&allowed).0, JobStatus::Succeeded);
    }

    #[test]
    fn a_message_for_a_fetch_that_failed_is_dropped() {
        let f = Fixture::new();
        f.origin.answer("https://example.com/x", 410, &[], b"");
        let message = f.named("https://example.com/x");
        f.consume(&message);
        assert_eq!(f.consume(&message), Action::Ack);
        assert_eq!(f.origin.asked.borrow().len(), 1, "not fetched again");
    }
}
