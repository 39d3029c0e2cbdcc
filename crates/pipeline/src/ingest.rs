//! Accepting documents: the upload protocol, over the ports, so that nothing is stored half-way
//! and nothing accepted is lost. In order:
//! 1. The headers were checked ([`crate::upload::validate`]) before a byte is read.
//! 2. A retry whose `Idempotency-Key` already names an upload (looked up with the caller's
//!    key, [`Store::authenticate`]) only hashes the body and answers as the first time (or
//!    `422` for a different body).
//! 3. An `uploads` row marks the upload as under way; the body streams into storage while its
//!    SHA-256 is computed. If the Worker dies from here on, the scheduled sweep finds the row
//!    and deletes the object.
//! 4. One transaction records the document and its `queued` job and closes the upload. On any
//!    failure before this point the object is deleted.
//! 5. The job is enqueued. If that fails, the job is `queued` in D1 and the sweep enqueues it.

use std::convert::Infallible;
use std::future::ready;
use std::pin::pin;

use docpipe_jobs::{DocumentId, JobId, JobMessage, RequestId};
use futures_util::future::{Either, join, select};
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use crate::api::{ApiError, UploadAccepted};
use crate::auth::TenantId;
use crate::db::DbError;
use crate::objects::document_key;
use crate::ports::{BodyLength, Clock, Database, JobQueue, SinkError, Stored, UploadSink};
use crate::quota::{Quota, Quotas};
use crate::remote::{self, AllowedHosts};
use crate::store::{IdempotentUpload, NewDocument, NewFetch, NewJob, NewUpload, OverQuota, Store};
use crate::time::Millis;
use crate::upload::{UrlRequest, ValidUpload, replay};

/// Pauses between tries of a D1 statement that fails (a locked or unreachable database) while
/// a client waits: about a second in all before it gets `503`.
pub const REQUEST_PAUSES_MS: [u64; 3] = [50, 200, 800];

/// An upload whose headers passed, with its body, for a tenant.
#[derive(Debug)]
pub struct Upload<B> {
    pub tenant: TenantId,
    pub valid: ValidUpload,
    pub idempotency: Option<Idempotency>,
    pub request_id: RequestId,
    /// Where the document's webhook events also go (checked).
    pub callback_url: Option<String>,
    pub body: B,
}

/// The client's `Idempotency-Key`, looked up before the body is read.
#[derive(Debug)]
pub struct Idempotency {
    pub key: String,
    /// The upload the key already names in the tenant, if any.
    pub original: Option<IdempotentUpload>,
}

/// The answer to an accepted upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub answer: UploadAccepted,
    /// A retry answered with the first upload's ids (`Idempotent-Replayed: true`).
    pub replayed: bool,
}

/// Logs a failed D1 operation and answers `503`.
pub fn unavailable(what: &'static str) -> impl Fn(DbError) -> ApiError {
    move |e| {
        error!(error = %e, what, "D1 operation failed");
        ApiError::Unavailable
    }
}

/// A body that could not be stored, as the client's answer.
pub fn body_error(e: SinkError) -> ApiError {
    match e {
        SinkError::Body(reason) => ApiError::IncompleteBody { reason },
        SinkError::Stalled { seconds } => ApiError::BodyStalled { seconds },
        SinkError::Storage(_) | SinkError::Abandoned => ApiError::Unavailable,
        SinkError::TooLarge { limit } => ApiError::BodyTooLarge { limit },
    }
}

/// What accepting documents needs: D1, the object store, the jobs queue, the clock, and the
/// default quotas.
#[derive(Debug)]
pub struct Ingest<'a, D, S, Q, C> {
    pub store: &'a Store<D>,
    pub sink: &'a S,
    pub queue: &'a Q,
    pub clock: &'a C,
    pub quotas: &'a Quotas,
    /// How often an upload in progress notes that it is alive (see `SweepConfig`).
    pub heartbeat_ms: u64,
}

/// Logs a refusal for a quota and answers `429` with when to try again.
pub fn quota_error(over: OverQuota, now: Millis) -> ApiError {
    info!(
        quota = over.quota.as_str(),
        used = over.used,
        limit = over.limit,
        "over quota"
    );
    ApiError::QuotaExceeded {
        quota: over.quota,
        used: over.used,
        limit: over.limit,
        retry_after_seconds: over.quota.retry_after_seconds(now),
    }
}

impl<D, S, Q, C: Clock> Ingest<'_, D, S, Q, C> {
    fn quota_error(&self, over: OverQuota) -> ApiError {
        quota_error(over, self.clock.now_ms())
    }
}

impl<D, S, Q, C> Ingest<'_, D, S, Q, C>
where
    D: Database,
    S: UploadSink,
    Q: JobQueue,
    C: Clock,
{
    /// Stores the body, records the document and its job, and enqueues the job.
    pub async fn accept(&self, upload: Upload<S::Body>) -> Result<Accepted, ApiError> {
        let (accepted, message) = self.record(upload).await?;
        if let Some(message) = message {
            self.enqueue(&message).await;
        }
        Ok(accepted)
    }

    /// Stores the body and records the document and its job: the upload is durable and may be
    /// answered. Returns the job's message, for [`Ingest::enqueue`] (which may come after the
    /// answer: a job whose message is never sent is enqueued by the sweep); none for a replay.
    pub async fn record(
        &self,
        upload: Upload<S::Body>,
    ) -> Result<(Accepted, Option<JobMessage>), ApiError> {
        let Upload {
            tenant,
            valid,
            idempotency,
            request_id,
            callback_url,
            body,
        } = upload;
        let (idempotency_key, original) = match idempotency {
            Some(Idempotency { key, original }) => (Some(key), original),
            None => (None, None),
        };
        if let Some(original) = original {
            let hashed = self
                .sink
                .hash_only(body, valid.length)
                .await
                .map_err(body_error)?;
            let answer = replay(&original, &hashed.sha256, hashed.size)?;
            info!(document_id = %answer.document_id, "idempotent retry answered");
            let replayed = Accepted {
                answer,
                replayed: true,
            };
            return Ok((replayed, None));
        }

        let document_id = DocumentId::new();
        let job_id = JobId::new();
        let key = document_key(&tenant, &document_id);
        let mut new_upload = NewUpload {
            tenant: tenant.clone(),
            document: document_id,
            object_key: key.clone(),
            request_id: request_id.clone(),
            size: match valid.length {
                BodyLength::Exactly(size) | BodyLength::AtMost(size) => size,
            },
        };
        let content_type = valid.content_type.header_value();
        let started = self.clock.now_ms();
        let mut bytes_quota = None;
        let (length, stored) = match valid.length {
            // The body streams while its upload is recorded: R2 gets the body's last bytes
            // only once the record is in, so the object never exists without it.
            BodyLength::Exactly(_) => {
                let (recorded, commit) = oneshot::channel();
                let begin = async {
                    let begun = self.begin(&new_upload).await;
                    // Nobody listens once the put has failed on its own.
                    let _ = recorded.send(matches!(begun, Ok(Ok(()))));
                    begun
                };
                let commit = async { commit.await.unwrap_or(false) };
                let put = self.store_body(
                    &key,
                    &document_id,
                    body,
                    valid.length,
                    &content_type,
                    commit,
                );
                let (begun, stored) = join(begin, put).await;
                let begun = begun.and_then(|begun| begun.map_err(|over| self.quota_error(over)));
                if let Err(refused) = begun {
                    // The put was called off, so storage kept nothing; a sink that kept the
                    // object anyway gets it deleted.
                    if stored.is_ok() {
                        self.discard(&document_id, &key).await;
                    }
                    return Err(refused);
                }
                (valid.length, stored)
            }
            // A body of unknown length reserves the most it may be, and what is left of the
            // tenant's bytes for the day when that is less; it is held to what it reserved.
            BodyLength::AtMost(_) => {
                let mut begun = self.begin(&new_upload).await?;
                if let Err(over) = &begun
                    && over.quota == Quota::BytesPerDay
                    && over.limit > over.used
                {
                    new_upload.size = over.limit - over.used;
                    bytes_quota = Some(over.limit);
                    begun = self.begin(&new_upload).await?;
                }
                begun.map_err(|over| self.quota_error(over))?;
                let length = BodyLength::AtMost(new_upload.size);
                let stored = self
                    .store_body(&key, &document_id, body, length, &content_type, ready(true))
                    .await;
                (length, stored)
            }
        };
        let stored = match stored {
            Ok(stored) => stored,
            Err(e) => {
                warn!(error = %e, key, "storing the body failed");
                self.discard(&document_id, &key).await;
                return Err(match (e, bytes_quota) {
                    // Held to what was left of the tenant's bytes for the day.
                    (SinkError::TooLarge { .. }, Some(limit)) => self.quota_error(OverQuota {
                        quota: Quota::BytesPerDay,
                        used: limit,
                        limit,
                    }),
                    (e, _) => body_error(e),
                });
            }
        };
        let upload_ms = self.clock.now_ms() - started;
        match length {
            BodyLength::Exactly(size) if stored.size != size => {
                warn!(
                    stored = stored.size,
                    expected = size,
                    "stored object has the wrong size"
                );
                self.discard(&document_id, &key).await;
                return Err(ApiError::IncompleteBody {
                    reason: format!("expected {size} bytes, stored {}", stored.size),
                });
            }
            BodyLength::AtMost(_) if stored.size == 0 => {
                self.discard(&document_id, &key).await;
                return Err(ApiError::EmptyBody);
            }
            // The reservation becomes the size that arrived.
            BodyLength::AtMost(reserved) => {
                let settled = self
                    .store
                    .settle_upload_size(&document_id, reserved, stored.size)
                    .await;
                if let Err(e) = settled {
                    error!(error = %e, "recording the body's size failed");
                    self.discard(&document_id, &key).await;
                    return Err(ApiError::Unavailable);
                }
            }
            BodyLength::Exactly(_) => {}
        }

        let record = NewDocument {
            id: document_id,
            tenant: tenant.clone(),
            object_key: key.clone(),
            filename: valid.filename.clone(),
            content_type: content_type.clone(),
            size_bytes: stored.size,
            sha256: Some(stored.sha256.clone()),
            idempotency_key: idempotency_key.clone(),
            request_id: request_id.clone(),
            upload_ms: Some(upload_ms),
            source_url: None,
            callback_url: callback_url.clone(),
        };
        match self
            .store
            .create_document_retrying(&record, &job_id, self.clock, &REQUEST_PAUSES_MS)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                error!("the upload outlived ORPHAN_UPLOAD_SECONDS and was cleaned up");
                self.discard(&document_id, &key).await;
                return Err(ApiError::Unavailable);
            }
            Err(DbError::Constraint(reason)) if idempotency_key.is_some() => {
                // A concurrent request with the same key recorded its document first.
                info!(%reason, "lost an idempotency race; answering as the winner");
                self.discard(&document_id, &key).await;
                let winner = self
                    .replay_winner(
                        &tenant,
                        idempotency_key.as_deref(),
                        &stored.sha256,
                        stored.size,
                    )
                    .await?;
                return Ok((winner, None));
            }
            Err(e) => {
                error!(error = %e, "recording the document failed");
                self.discard(&document_id, &key).await;
                return Err(ApiError::Unavailable);
            }
        }

        info!(
            %document_id,
            %job_id,
            size_bytes = stored.size,
            content_type,
            sha256 = stored.sha256,
            upload_ms,
            "document accepted"
        );
        let accepted = Accepted {
            answer: UploadAccepted::new(document_id, job_id),
            replayed: false,
        };
        Ok((
            accepted,
            Some(JobMessage::new(job_id, document_id, request_id)),
        ))
    }

    /// Admits a document named by URL: the URL passes the fetch rules, the fetch is recorded
    /// within the tenant's quotas, and its job's message is sent. The consumer fetches it.
    /// There are no bytes to compare a retry by, so an `Idempotency-Key` is refused.
    pub async fn accept_url(
        &self,
        tenant: &TenantId,
        request: UrlRequest,
        idempotency_key: Option<&str>,
        allowed: &AllowedHosts,
        request_id: &RequestId,
    ) -> Result<UploadAccepted, ApiError> {
        if idempotency_key.is_some() {
            return Err(ApiError::InvalidUrlRequest {
                reason: "Idempotency-Key is not supported for URL requests".into(),
            });
        }
        let callback_url = request
            .callback_url
            .as_deref()
            .map(|raw| crate::webhooks::check_url(raw, allowed))
            .transpose()?;
        let url = remote::check(&request.url, allowed).map_err(|refused| ApiError::UrlRefused {
            reason: refused.to_string(),
        })?;
        let (document_id, job_id) = (DocumentId::new(), JobId::new());
        let fetch = NewFetch {
            job: job_id,
            document: document_id,
            tenant: tenant.clone(),
            url: url.to_string(),
            filename: request.filename,
            request_id: request_id.clone(),
            callback_url,
        };
        self.store
            .begin_fetch(&fetch, self.quotas, self.clock.now_ms())
            .await
            .map_err(unavailable("recording a fetch"))?
            .map_err(|over| self.quota_error(over))?;
        self.enqueue(&JobMessage::to_fetch(
            job_id,
            document_id,
            request_id.clone(),
        ))
        .await;
        info!(%document_id, %job_id, host = url.host_str(), "document to fetch accepted");
        Ok(UploadAccepted::new(document_id, job_id))
    }

    /// A new job for the tenant's document, unless one is unfinished, its last one is younger
    /// than the reprocess interval, or a quota is reached.
    pub async fn reprocess(
        &self,
        tenant: &TenantId,
        document: &DocumentId,
        request_id: &RequestId,
    ) -> Result<UploadAccepted, ApiError> {
        let job_id = JobId::new();
        let created = self
            .store
            .create_job(
                tenant,
                document,
                &job_id,
                request_id,
                self.quotas,
                self.clock.now_ms(),
            )
            .await
            .map_err(unavailable("creating a job"))?;
        match created {
            NewJob::Created => {}
            NewJob::NoSuchDocument => return Err(ApiError::DocumentNotFound),
            NewJob::InProgress { job_id } => return Err(ApiError::JobInProgress { job_id }),
            NewJob::TooSoon {
                retry_after_seconds,
            } => {
                return Err(ApiError::ReprocessTooSoon {
                    interval_seconds: self.quotas.reprocess_interval_seconds,
                    retry_after_seconds,
                });
            }
            NewJob::OverQuota(over) => return Err(self.quota_error(over)),
        }
        self.enqueue(&JobMessage::new(job_id, *document, request_id.clone()))
            .await;
        info!(document_id = %document, %job_id, "document queued for reprocessing");
        Ok(UploadAccepted::new(*document, job_id))
    }

    async fn replay_winner(
        &self,
        tenant: &TenantId,
        key: Option<&str>,
        sha256: &str,
        size: u64,
    ) -> Result<Accepted, ApiError> {
        let original = match key {
            Some(key) => self
                .store
                .upload_by_idempotency_key(tenant, key)
                .await
                .map_err(unavailable("looking up an idempotency key"))?,
            None => None,
        };
        let original = original.ok_or(ApiError::Unavailable)?;
        Ok(Accepted {
            answer: replay(&original, sha256, size)?,
            replayed: true,
        })
    }

    /// Sends the job's message. A failure is logged, not returned: the job is `queued` in D1
    /// and the sweep will enqueue it.
    pub async fn enqueue(&self, message: &JobMessage) {
        let message = crate::usage::carried_by(message.clone());
        if let Err(e) = self.queue.send(&message).await {
            warn!(error = %e, job_id = %message.job_id, "enqueue failed; the sweep will enqueue the job");
        }
    }

    /// Deletes the object of an upload that will not be recorded, then its `uploads` row. If
    /// either step fails the row stays, and the sweep finishes the job later.
    /// Notes every `heartbeat_ms` that the upload is alive, until dropped. If this Worker is
    /// cancelled with its client, the notes stop and the sweep removes what was stored.
    async fn keep_alive(&self, document: &DocumentId) -> Infallible {
        loop {
            self.clock.sleep(self.heartbeat_ms).await;
            if let Err(e) = self.store.upload_alive(document, self.clock.now_ms()).await {
                warn!(error = %e, "could not note that the upload is alive");
            }
        }
    }

    /// Streams `body` into storage under `key` (see [`UploadSink::put_hashed`] for `commit`),
    /// noting that the upload is alive while it does.
    async fn store_body(
        &self,
        key: &str,
        document: &DocumentId,
        body: S::Body,
        length: BodyLength,
        content_type: &str,
        commit: impl Future<Output = bool>,
    ) -> Result<Stored, SinkError> {
        let put = pin!(
            self.sink
                .put_hashed(key, body, length, content_type, commit)
        );
        let alive = pin!(self.keep_alive(document));
        match select(put, alive).await {
            Either::Left((stored, _)) => stored,
            Either::Right((never, _)) => match never {},
        }
    }

    async fn begin(&self, upload: &NewUpload) -> Result<Result<(), OverQuota>, ApiError> {
        self.store
            .begin_upload_retrying(upload, self.quotas, self.clock, &REQUEST_PAUSES_MS)
            .await
            .map_err(unavailable("recording the upload"))
    }

    async fn discard(&self, document: &DocumentId, key: &str) {
        if let Err(e) = self.sink.delete(key).await {
            error!(error = %e, key, "could not delete the object of a failed upload");
            return;
        }
        if let Err(e) = self.store.abandon_upload(document).await {
            warn!(error = %e, "could not forget a failed upload; the sweep will");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use docpipe_jobs::{ContentType, JobStatus, MediaType};
    use pollster::block_on;

    use super::*;
    use crate::sqlite::{Interleaved, ManualClock, ShakyWrites, Sqlite};
    use crate::store::fixtures::{T0, tenant};
    use crate::testing::{MemoryObjects, MemoryQueue, TestBody};

    const BODY: &[u8] = b"The harbour reopened. Boats returned the same week.";

    struct Fixture<D> {
        quotas: Quotas,
        store: Store<D>,
        objects: MemoryObjects,
        queue: MemoryQueue,
        clock: ManualClock,
    }

    impl Fixture<Sqlite> {
        fn new() -> Self {
            Self::over(Sqlite::migrated())
        }
    }

    impl<D: Database> Fixture<D> {
        fn over(db: D) -> Self {
            Self {
                quotas: Quotas::default(),
                store: Store::new(db),
                objects: MemoryObjects::default(),
                queue: MemoryQueue::default(),
                clock: ManualClock(Cell::new(T0)),
            }
        }

        fn ingest(&self) -> Ingest<'_, D, MemoryObjects, MemoryQueue, ManualClock> {
            Ingest {
                store: &self.store,
                sink: &self.objects,
                queue: &self.queue,
                clock: &self.clock,
                quotas: &self.quotas,
                heartbeat_ms: 10_000,
            }
        }

        fn accept(&self, body: TestBody, key: Option<&str>) -> Result<Accepted, ApiError> {
            self.accept_sized(body, key, BodyLength::Exactly(BODY.len() as u64))
        }

        fn accept_sized(
            &self,
            body: TestBody,
            key: Option<&str>,
            length: BodyLength,
        ) -> Result<Accepted, ApiError> {
            // As the Worker does, with the caller's key: the key is looked up first.
            let idempotency = key.map(|key| Idempotency {
                key: key.into(),
                original: block_on(self.store.upload_by_idempotency_key(&tenant(), key)).unwrap(),
            });
            self.accept_with(body, idempotency, length)
        }

        fn accept_with(
            &self,
            body: TestBody,
            idempotency: Option<Idempotency>,
            length: BodyLength,
        ) -> Result<Accepted, ApiError> {
            let upload = Upload {
                tenant: tenant(),
                valid: ValidUpload {
                    length,
                    content_type: ContentType::new(MediaType::PlainText),
                    filename: Some("harbour.txt".into()),
                },
                idempotency,
                request_id: RequestId::parse("req-1").unwrap(),
                callback_url: None,
                body,
            };
            block_on(self.ingest().accept(upload))
        }
    }

    fn counts(db: &Sqlite) -> [i64; 3] {
        ["documents", "jobs", "uploads"]
            .map(|t| db.scalar_i64(&format!("SELECT COUNT(*) FROM {t}")))
    }

    fn broken() -> TestBody {
        TestBody {
            bytes: BODY[..10].to_vec(),
            breaks_after: Some(10),
        }
    }

    #[test]
    fn an_upload_is_stored_recorded_and_enqueued() {
        let f = Fixture::new();
        let accepted = f.accept(TestBody::whole(BODY), None).unwrap();
        assert!(!accepted.replayed);
        let answer = accepted.answer;
        assert_eq!(answer.status, JobStatus::Queued);
        let object = f
            .objects
            .get(&document_key(&tenant(), &answer.document_id))
            .unwrap();
        assert_eq!(object.bytes, BODY);
        assert_eq!(object.content_type.as_deref(), Some("text/plain"));
        assert_eq!(counts(f.store.database()), [1, 1, 0], "upload closed");
        let sent = f.queue.sent.borrow();
        assert_eq!(
            (sent[0].job_id, sent[0].document_id),
            (answer.job_id, answer.document_id)
        );
        assert_eq!(sent[0].request_id.as_str(), "req-1");
        let job = block_on(f.store.job(&tenant(), &answer.job_id))
            .unwrap()
            .unwrap();
        assert_eq!(job.status, JobStatus::Queued);
    }

    #[test]
    fn a_recorded_upload_is_durable_before_its_message_is_sent_and_carries_its_cost() {
        let f = Fixture::new();
        let upload = Upload {
            tenant: tenant(),
            valid: ValidUpload {
                length: BodyLength::Exactly(BODY.len() as u64),
                content_type: ContentType::new(MediaType::PlainText),
                filename: None,
            },
            idempotency: None,
            request_id: RequestId::parse("req-2").unwrap(),
            callback_url: None,
            body: TestBody::whole(BODY),
        };
        let (accepted, message) = block_on(f.ingest().record(upload)).unwrap();
        let message = message.unwrap();
        assert!(f.queue.sent.borrow().is_empty(), "nothing sent yet");
        assert_eq!(counts(f.store.database()), [1, 1, 0], "recorded");
        assert_eq!(message.job_id, accepted.answer.job_id);

        // Sent later within its request, it carries what the request spent.
        let spent = crate::usage::Usage {
            d1_rows_written: 7,
            ..crate::usage::Usage::default()
        };
        block_on(crate::usage::metered(async {
            crate::usage::record(spent);
            f.ingest().enqueue(&message).await;
        }));
        let sent = f.queue.sent.borrow();
        let carried = sent[0].usage.unwrap();
        assert_eq!((carried.requests, carried.queue_operations), (1, 1));
        assert_eq!(carried.d1_rows_written, 7);
    }

    #[test]
    fn a_body_that_breaks_off_leaves_nothing_stored() {
        let f = Fixture::new();
        let err = f.accept(broken(), None).unwrap_err();
        assert_eq!(err.code(), "incomplete_body");
        assert_eq!(err.status(), 400);
        assert!(f.objects.keys().is_empty());
        assert_eq!(counts(f.store.database()), [0, 0, 0]);
        assert!(f.queue.sent.borrow().is_empty());
    }

    #[test]
    fn a_stored_object_of_the_wrong_size_is_deleted_and_refused() {
        let f = Fixture::new();
        f.objects.misreport_size.set(Some(3));
        let err = f.accept(TestBody::whole(BODY), None).unwrap_err();
        assert_eq!(
            err,
            ApiError::IncompleteBody {
                reason: format!("expected {} bytes, stored 3", BODY.len())
            }
        );
        assert!(f.objects.keys().is_empty());
        assert_eq!(counts(f.store.database()), [0, 0, 0]);
    }

    #[test]
    fn a_storage_outage_is_503_and_leaves_nothing() {
        let f = Fixture::new();
        f.objects.fail_puts.set(true);
        let err = f.accept(TestBody::whole(BODY), None).unwrap_err();
        assert_eq!((err.status(), err.retry_after_seconds()), (503, Some(1)));
        assert_eq!(counts(f.store.database()), [0, 0, 0]);
    }

    #[test]
    fn a_database_that_stays_locked_is_503_and_the_object_is_deleted() {
        let f = Fixture::over(ShakyWrites::new(Sqlite::migrated(), 100));
        let err = f.accept(TestBody::whole(BODY), None).unwrap_err();
        assert_eq!(err, ApiError::Unavailable);
        assert!(f.objects.keys().is_empty(), "{:?}", f.objects.keys());
        assert_eq!(counts(&f.store.database().inner), [0, 0, 0]);
        assert_eq!(f.clock.0.get(), T0 + 1_050, "tried for about a second");
    }

    #[test]
    fn a_retry_with_the_same_key_and_bytes_replays_without_storing_again() {
        let f = Fixture::new();
        let first = f.accept(TestBody::whole(BODY), Some("order-1")).unwrap();
        let again = f.accept(TestBody::whole(BODY), Some("order-1")).unwrap();
        assert!(again.replayed);
        assert_eq!(again.answer, first.answer);
        assert_eq!(
            f.objects.hashed.get(),
            1,
            "the retry's body was only hashed"
        );
        assert_eq!(f.objects.keys().len(), 1);
        assert_eq!(counts(f.store.database()), [1, 1, 0]);
        assert_eq!(f.queue.sent.borrow().len(), 1);
    }

    #[test]
    fn a_key_looked_up_with_the_caller_is_not_looked_up_again() {
        let f = Fixture::new();
        let length = BodyLength::Exactly(BODY.len() as u64);
        let first = f.accept(TestBody::whole(BODY), Some("order-1")).unwrap();
        let original = block_on(f.store.upload_by_idempotency_key(&tenant(), "order-1")).unwrap();
        assert!(original.is_some());
        let found = |original| {
            Some(Idempotency {
                key: "order-1".into(),
                original,
            })
        };
        // Found with its original: replayed from it, the body only hashed.
        let again = f
            .accept_with(TestBody::whole(BODY), found(original), length)
            .unwrap();
        assert!(again.replayed);
        assert_eq!(again.answer, first.answer);
        assert_eq!(f.objects.hashed.get(), 1);
        // Found with none (the key was free when the caller was authenticated): the upload is
        // stored as a new one, and recording it finds the key taken, so it answers as the
        // first and deletes what it stored.
        let raced = f
            .accept_with(TestBody::whole(BODY), found(None), length)
            .unwrap();
        assert!(raced.replayed);
        assert_eq!(raced.answer, first.answer);
        assert_eq!(
            f.objects.hashed.get(),
            1,
            "not looked up again, so not hashed"
        );
        assert_eq!(f.objects.keys().len(), 1, "its own object is deleted");
        assert_eq!(counts(f.store.database()), [1, 1, 0]);
    }

    #[test]
    fn the_same_key_with_other_bytes_is_422_naming_the_first_document() {
        let f = Fixture::new();
        let first = f.accept(TestBody::whole(BODY), Some("order-1")).unwrap();
        let mut other = BODY.to_vec();
        other[0] = b'X';
        let err = f
            .accept(TestBody::whole(&other), Some("order-1"))
            .unwrap_err();
        assert_eq!(
            err,
            ApiError::IdempotencyKeyReused {
                document_id: first.answer.document_id
            }
        );
        assert_eq!(counts(f.store.database()), [1, 1, 0]);
    }

    fn sha256_hex(bytes: &[u8]) -> String {
        use sha2::{Digest, Sha256};
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn losing_an_idempotency_race_answers_as_the_winner_and_deletes_its_object() {
        // Between this request's lookup and its recording, another request with the same key
        // and the same bytes records its document.
        let (winner_doc, winner_job) = (DocumentId::new(), JobId::new());
        let digest = sha256_hex(BODY);
        // Transaction 0 begins the upload; 1 records the document.
        let db = Interleaved::new(Sqlite::migrated(), 1, move |db| {
            let at = "2026-11-22T21:06:00.000Z";
            db.run_sql(&format!(
                "INSERT INTO documents (id, object_key, content_type, size_bytes, sha256, \
                 request_id, created_at) VALUES ('{winner_doc}', 'documents/{winner_doc}', \
                 'text/plain', {}, '{digest}', 'r', '{at}'); \
                 INSERT INTO idempotency_keys (tenant_id, key, document_id) \
                 VALUES ('default', 'order-1', '{winner_doc}'); \
                 INSERT INTO jobs (id, document_id, status, available_at, request_id, \
                 created_at, updated_at) VALUES ('{winner_job}', '{winner_doc}', 'queued', \
                 '{at}', 'r', '{at}', '{at}')",
                BODY.len(),
            ));
        });
        let f = Fixture::over(db);
        let accepted = f.accept(TestBody::whole(BODY), Some("order-1")).unwrap();
        assert!(accepted.replayed);
        assert_eq!(
            (accepted.answer.document_id, accepted.answer.job_id),
            (winner_doc, winner_job)
        );
        assert!(f.objects.keys().is_empty(), "the loser's object is deleted");
        assert_eq!(counts(&f.store.database().inner), [1, 1, 0]);
        assert!(
            f.queue.sent.borrow().is_empty(),
            "the winner enqueued its own job"
        );
    }

    #[test]
    fn a_failed_enqueue_still_accepts_and_leaves_the_job_for_the_sweep() {
        let f = Fixture::new();
        f.queue.fail.set(true);
        let accepted = f.accept(TestBody::whole(BODY), None).unwrap();
        let job = block_on(f.store.job(&tenant(), &accepted.answer.job_id))
            .unwrap()
            .unwrap();
        assert_eq!(job.status, JobStatus::Queued);
        assert_eq!(counts(f.store.database()), [1, 1, 0]);
    }

    #[test]
    fn an_upload_the_sweep_gave_up_on_is_not_recorded_and_its_object_is_deleted() {
        // The sweep forgets the upload (and deletes its object) while the body is streaming.
        let db = Interleaved::new(Sqlite::migrated(), 1, |db| {
            db.run_sql("DELETE FROM uploads");
        });
        let f = Fixture::over(db);
        let err = f.accept(TestBody::whole(BODY), None).unwrap_err();
        assert_eq!(err, ApiError::Unavailable);
        assert!(f.objects.keys().is_empty());
        assert_eq!(counts(&f.store.database().inner), [0, 0, 0]);
    }

    fn usage_bytes(f: &Fixture<Sqlite>) -> i64 {
        f.store
            .database()
            .scalar_i64("SELECT COALESCE(SUM(bytes), 0) FROM tenant_usage")
    }

    #[test]
    fn a_body_of_unknown_length_is_stored_and_counted_at_its_real_size() {
        let f = Fixture::new();
        let accepted = f
            .accept_sized(TestBody::whole(BODY), None, BodyLength::AtMost(1 << 20))
            .unwrap();
        assert_eq!(counts(f.store.database()), [1, 1, 0]);
        assert_eq!(
            usage_bytes(&f),
            BODY.len() as i64,
            "the reservation was settled"
        );
        let document = block_on(f.store.document(&tenant(), &accepted.answer.document_id))
            .unwrap()
            .unwrap();
        assert_eq!(document.size_bytes, BODY.len() as u64);
    }

    #[test]
    fn a_body_of_unknown_length_past_the_limit_is_413_and_leaves_nothing() {
        let f = Fixture::new();
        let err = f
            .accept_sized(TestBody::whole(BODY), None, BodyLength::AtMost(10))
            .unwrap_err();
        assert_eq!(err, ApiError::BodyTooLarge { limit: 10 });
        assert_eq!(err.status(), 413);
        assert!(f.objects.keys().is_empty());
        assert_eq!(counts(f.store.database()), [0, 0, 0]);
        assert_eq!(usage_bytes(&f), 0);
    }

    #[test]
    fn a_body_of_unknown_length_is_held_to_the_bytes_left_for_the_day() {
        let mut f = Fixture::new();
        f.quotas.bytes_per_day = BODY.len() as u64 + 5;
        // More than is left may be sent; what arrives must fit what is left.
        let unknown = BodyLength::AtMost(1 << 20);
        f.accept_sized(TestBody::whole(BODY), None, unknown)
            .unwrap();
        assert_eq!(usage_bytes(&f), BODY.len() as i64);
        let err = f
            .accept_sized(TestBody::whole(BODY), None, unknown)
            .unwrap_err();
        assert!(
            matches!(
                err,
                ApiError::QuotaExceeded {
                    quota: Quota::BytesPerDay,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(counts(f.store.database()), [1, 1, 0]);
        assert_eq!(usage_bytes(&f), BODY.len() as i64, "nothing more counted");
        let small = TestBody::whole(b"tiny.");
        f.accept_sized(small, None, unknown).unwrap();
        assert_eq!(usage_bytes(&f), BODY.len() as i64 + 5);
    }

    #[test]
    fn a_body_streams_while_its_upload_is_recorded_and_is_kept_only_once_it_is() {
        let mut f = Fixture::new();
        f.quotas.documents_per_day = 1;
        f.accept(TestBody::whole(BODY), None).unwrap();
        // The second body streams while the record is refused: the put is called off.
        let err = f.accept(TestBody::whole(BODY), None).unwrap_err();
        assert!(
            matches!(
                err,
                ApiError::QuotaExceeded {
                    quota: Quota::DocumentsPerDay,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(f.objects.keys().len(), 1, "only the first document is kept");
        assert_eq!(counts(f.store.database()), [1, 1, 0]);
        assert_eq!(
            usage_bytes(&f),
            BODY.len() as i64,
            "the refused one counts nothing"
        );
    }

    #[test]
    fn reprocess_makes_a_job_unless_one_is_unfinished_or_recent_or_the_document_is_unknown() {
        let f = Fixture::new();
        let first = f.accept(TestBody::whole(BODY), None).unwrap().answer;
        let request = RequestId::parse("req-2").unwrap();
        let refused = block_on(
            f.ingest()
                .reprocess(&tenant(), &first.document_id, &request),
        );
        assert_eq!(
            refused,
            Err(ApiError::JobInProgress {
                job_id: first.job_id
            })
        );
        f.store
            .database()
            .run_sql("UPDATE jobs SET status = 'succeeded'");
        // Finished, but created less than the interval ago.
        f.clock.0.set(T0 + 59_500);
        let too_soon = block_on(
            f.ingest()
                .reprocess(&tenant(), &first.document_id, &request),
        );
        assert_eq!(
            too_soon,
            Err(ApiError::ReprocessTooSoon {
                interval_seconds: 60,
                retry_after_seconds: 1
            })
        );
        assert_eq!(counts(f.store.database())[1], 1, "no job was added");
        f.clock.0.set(T0 + 60_000);
        let again = block_on(
            f.ingest()
                .reprocess(&tenant(), &first.document_id, &request),
        )
        .unwrap();
        assert_ne!(again.job_id, first.job_id);
        f.store
            .database()
            .run_sql("UPDATE jobs SET status = 'succeeded'");
        f.clock.0.set(T0 + 61_000);
        assert!(matches!(
            block_on(
                f.ingest()
                    .reprocess(&tenant(), &first.document_id, &request)
            ),
            Err(ApiError::ReprocessTooSoon {
                retry_after_seconds: 59,
                ..
            })
        ));
        assert_eq!(f.queue.sent.borrow().last().unwrap().job_id, again.job_id);
        assert_eq!(
            block_on(
                f.ingest()
                    .reprocess(&tenant(), &DocumentId::new(), &request)
            ),
            Err(ApiError::DocumentNotFound)
        );
    }

    #[test]
    fn a_url_is_checked_recorded_as_a_fetch_and_enqueued_with_its_stage() {
        let f = Fixture::new();
        let accept = |url: &str| {
            let request = UrlRequest {
                url: url.into(),
                filename: None,
                callback_url: None,
            };
            let id = RequestId::parse("req-url").unwrap();
            block_on(
                f.ingest()
                    .accept_url(&tenant(), request, None, &AllowedHosts::default(), &id),
            )
        };
        let err = accept("http://10.0.0.7/secret").unwrap_err();
        assert_eq!((err.status(), err.code()), (400, "url_refused"));
        assert!(err.to_string().contains("private"), "{err}");
        assert!(f.queue.sent.borrow().is_empty());

        let keyed = block_on(f.ingest().accept_url(
            &tenant(),
            UrlRequest {
                url: "https://example.com/a.pdf".into(),
                filename: None,
                callback_url: None,
            },
            Some("order-1"),
            &AllowedHosts::default(),
            &RequestId::parse("req-url").unwrap(),
        ));
        assert_eq!(keyed.unwrap_err().code(), "invalid_url_request");
        let answer = accept("https://example.com/a.pdf").unwrap();
        let db = f.store.database();
        assert_eq!(
            db.scalar_i64("SELECT COUNT(*) FROM fetches WHERE status = 'queued'"),
            1
        );
        assert_eq!(counts(db), [0, 0, 0], "no document until fetched");
        let sent = f.queue.sent.borrow();
        assert_eq!(sent.len(), 1);
        assert!(sent[0].fetch);
        assert_eq!(
            (sent[0].job_id, sent[0].document_id),
            (answer.job_id, answer.document_id)
        );
        let job = block_on(f.store.job(&tenant(), &answer.job_id))
            .unwrap()
            .unwrap();
        assert_eq!(
            (job.status, job.stage.as_deref()),
            (JobStatus::Queued, Some("fetching"))
        );
    }
}
