//! Every SQL statement docpipe runs, and the job state machine they enforce.
//!
//! Job state only moves through conditional updates, so concurrent consumers and redelivered
//! messages cannot corrupt it:
//! - `queued → processing` takes a lease (an id and an expiry) and counts an attempt; a job
//!   whose lease expired may be taken over.
//! - Only the lease holder may finish the job (`succeeded`/`failed`) or hand it back
//!   (`queued`, for a retry). Finishing twice, or after losing the lease, changes nothing.
//! - The summary is inserted in the same transaction as `succeeded`, keyed by job id.

use docpipe_docproc::summarize::Usage;
use docpipe_jobs::{DocumentId, JobId, JobStatus, RequestId};
use serde::{Deserialize, Serialize};

use crate::db::{Database, DbError, SqlValue, Statement, retry_failed};
use crate::time::{Clock, Millis, timestamp};

/// A document row to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDocument {
    pub id: DocumentId,
    pub filename: Option<String>,
    pub content_type: String,
    pub size_bytes: u64,
    pub sha256: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_id: RequestId,
    pub upload_ms: Option<i64>,
}

/// A job as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRow {
    pub id: String,
    pub document_id: String,
    pub status: String,
    pub attempts: i64,
    pub error: Option<String>,
    pub request_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

/// A summary and the job that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryRow {
    pub job_id: String,
    pub document_id: String,
    pub summary: String,
    pub backend: String,
    pub model: Option<String>,
    pub fallback_from: Option<String>,
    pub fallback_reason: Option<String>,
    pub input_chars: i64,
    pub truncated: i64,
    pub source_type: Option<String>,
    pub notes: Option<String>,
    pub created_at: String,
}

/// What `GET /v1/documents/{id}/summary` finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SummaryLookup {
    NoSuchDocument,
    /// The document's newest job has not finished.
    Pending {
        job_id: String,
        status: JobStatus,
    },
    /// The document's newest job failed and no earlier job succeeded.
    Failed {
        job_id: String,
        error: String,
    },
    Ready(Box<SummaryRow>),
}

/// A document found by its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IdempotentUpload {
    pub document_id: String,
    pub job_id: Option<String>,
    pub sha256: Option<String>,
    pub size_bytes: i64,
}

/// What adding a job to an existing document did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewJob {
    Created,
    NoSuchDocument,
    /// The document already has an unfinished job.
    InProgress {
        job_id: String,
    },
}

/// A job the sweep re-enqueues.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DueJob {
    pub job_id: String,
    pub document_id: String,
    pub request_id: String,
}

/// An upload that never finished: its object (if any) is an orphan.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StaleUpload {
    pub document_id: String,
    pub object_key: String,
}

/// The outcome of trying to take a job's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// This consumer now holds the lease; `attempt` counts from 1.
    Acquired {
        document_id: DocumentId,
        attempt: u32,
        size_bytes: u64,
    },
    /// Another consumer holds an unexpired lease.
    Held {
        until: String,
    },
    /// The job is already `succeeded` or `failed`.
    Finished(JobStatus),
    NotFound,
}

/// Everything the finishing transaction records about a successful job.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub summary: String,
    pub backend: String,
    pub model: Option<String>,
    pub fallback_from: Option<String>,
    pub fallback_reason: Option<String>,
    pub input_chars: u64,
    pub truncated: bool,
    /// The format the text was read as.
    pub source_type: Option<String>,
    /// Extraction notes, one per line.
    pub notes: Option<String>,
    pub fetch_ms: i64,
    pub extract_ms: i64,
    pub summarize_ms: i64,
    pub lease_write_ms: i64,
}

fn int(v: u64) -> SqlValue {
    SqlValue::Integer(i64::try_from(v).unwrap_or(i64::MAX))
}

/// Adds an attempt's model usage to the job's totals, if the attempt called a model and still
/// holds the lease. `COALESCE(a + b, a, b)` adds to a total that may still be NULL.
fn record_usage(job: &JobId, lease_id: &str, usage: &Usage) -> Option<Statement> {
    (usage.calls > 0).then(|| {
        Statement::new(
            "UPDATE jobs SET ai_model = COALESCE(ai_model, ?3), \
             ai_calls = COALESCE(ai_calls + ?4, ai_calls, ?4), \
             ai_input_tokens = COALESCE(ai_input_tokens + ?5, ai_input_tokens, ?5), \
             ai_output_tokens = COALESCE(ai_output_tokens + ?6, ai_output_tokens, ?6), \
             ai_cost_usd = COALESCE(ai_cost_usd + ?7, ai_cost_usd, ?7) \
             WHERE id = ?1 AND status = 'processing' AND lease_id = ?2",
            vec![
                job.to_string().into(),
                lease_id.into(),
                usage.model.clone().into(),
                usage.calls.into(),
                int(usage.input_tokens),
                int(usage.output_tokens),
                usage.cost_usd.into(),
            ],
        )
    })
}

#[derive(Deserialize)]
struct Acquired {
    document_id: String,
    attempts: i64,
    size_bytes: Option<i64>,
}

#[derive(Deserialize)]
struct JobIdRow {
    id: String,
}

#[derive(Deserialize)]
struct StatusRow {
    status: String,
    lease_expires_at: Option<String>,
}

#[derive(Deserialize)]
struct LatestJob {
    job_id: String,
    status: String,
    error: Option<String>,
}

/// The pipeline's view of D1.
#[derive(Debug, Clone)]
pub struct Store<D> {
    db: D,
}

impl<D: Database> Store<D> {
    pub fn new(db: D) -> Self {
        Self { db }
    }

    pub fn database(&self) -> &D {
        &self.db
    }

    pub fn database_mut(&mut self) -> &mut D {
        &mut self.db
    }

    /// Notes that an upload of `document` is under way, before its bytes go to R2. Until
    /// [`Store::create_document`] records the document, the row marks a possible orphan object.
    pub async fn begin_upload(
        &self,
        document: &DocumentId,
        request_id: &RequestId,
        now: Millis,
    ) -> Result<(), DbError> {
        self.db
            .execute(Statement::new(
                "INSERT INTO uploads (document_id, object_key, request_id, created_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                vec![
                    document.to_string().into(),
                    document.object_key().into(),
                    request_id.as_str().into(),
                    timestamp(now).into(),
                ],
            ))
            .await?;
        Ok(())
    }

    /// Forgets an upload that failed after its object was deleted.
    pub async fn abandon_upload(&self, document: &DocumentId) -> Result<(), DbError> {
        self.db
            .execute(Statement::new(
                "DELETE FROM uploads WHERE document_id = ?1",
                vec![document.to_string().into()],
            ))
            .await?;
        Ok(())
    }

    /// Records an uploaded document and its first job, `queued`, and closes the upload, in one
    /// transaction. Returns `false` when the upload had already been given up as orphaned by
    /// the sweep (which deletes its object), in which case nothing is recorded. A reused
    /// idempotency key fails with [`DbError::Constraint`].
    pub async fn create_document(
        &self,
        document: &NewDocument,
        job_id: &JobId,
        now: Millis,
    ) -> Result<bool, DbError> {
        let now = timestamp(now);
        let insert_document = Statement::new(
            "INSERT INTO documents (id, object_key, filename, content_type, size_bytes, sha256, \
             idempotency_key, request_id, upload_ms, created_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 \
             WHERE EXISTS (SELECT 1 FROM uploads WHERE document_id = ?1)",
            vec![
                document.id.to_string().into(),
                document.id.object_key().into(),
                document.filename.clone().into(),
                document.content_type.clone().into(),
                int(document.size_bytes),
                document.sha256.clone().into(),
                document.idempotency_key.clone().into(),
                document.request_id.as_str().into(),
                document.upload_ms.into(),
                now.clone().into(),
            ],
        );
        let insert_job = insert_job(job_id, &document.id, &document.request_id, &now);
        let close_upload = Statement::new(
            "DELETE FROM uploads WHERE document_id = ?1",
            vec![document.id.to_string().into()],
        );
        let changes = self
            .db
            .batch(vec![insert_document, insert_job, close_upload])
            .await?;
        Ok(changes.first().copied().unwrap_or(0) == 1)
    }

    /// [`Store::create_document`], tried again after each pause in `pauses_ms` while the
    /// database fails. A try that follows a failed one first checks whether that one landed
    /// (its answer may have been lost after the commit), so the document is recorded once.
    pub async fn create_document_retrying<C: Clock>(
        &self,
        document: &NewDocument,
        job_id: &JobId,
        clock: &C,
        pauses_ms: &[u64],
    ) -> Result<bool, DbError> {
        retry_failed(clock, pauses_ms, |try_number| async move {
            if try_number > 0 && self.job_recorded(job_id, &document.id).await? {
                return Ok(true);
            }
            self.create_document(document, job_id, clock.now_ms()).await
        })
        .await
    }

    async fn job_recorded(&self, job: &JobId, document: &DocumentId) -> Result<bool, DbError> {
        let rows: Vec<serde_json::Value> = self
            .db
            .query(Statement::new(
                "SELECT 1 AS found FROM jobs WHERE id = ?1 AND document_id = ?2",
                vec![job.to_string().into(), document.to_string().into()],
            ))
            .await?;
        Ok(!rows.is_empty())
    }

    /// The document recorded under an idempotency key, with its first job.
    pub async fn upload_by_idempotency_key(
        &self,
        key: &str,
    ) -> Result<Option<IdempotentUpload>, DbError> {
        let rows = self
            .db
            .query(Statement::new(
                "SELECT d.id AS document_id, \
                 (SELECT j.id FROM jobs j WHERE j.document_id = d.id ORDER BY j.id LIMIT 1) AS job_id, \
                 d.sha256, d.size_bytes FROM documents d WHERE d.idempotency_key = ?1",
                vec![key.into()],
            ))
            .await?;
        Ok(rows.into_iter().next())
    }

    /// Adds a `queued` job for an existing document, unless one is already unfinished.
    pub async fn create_job(
        &self,
        document: &DocumentId,
        job: &JobId,
        request_id: &RequestId,
        now: Millis,
    ) -> Result<NewJob, DbError> {
        let changes = self
            .db
            .execute(Statement::new(
                "INSERT INTO jobs (id, document_id, status, attempts, available_at, request_id, \
                 created_at, updated_at) \
                 SELECT ?1, id, 'queued', 0, ?3, ?4, ?3, ?3 FROM documents WHERE id = ?2 \
                 AND NOT EXISTS (SELECT 1 FROM jobs WHERE document_id = ?2 \
                 AND status IN ('queued', 'processing'))",
                vec![
                    job.to_string().into(),
                    document.to_string().into(),
                    timestamp(now).into(),
                    request_id.as_str().into(),
                ],
            ))
            .await?;
        if changes == 1 {
            return Ok(NewJob::Created);
        }
        let unfinished: Vec<JobIdRow> = self
            .db
            .query(Statement::new(
                "SELECT id FROM jobs WHERE document_id = ?1 \
                 AND status IN ('queued', 'processing') ORDER BY id LIMIT 1",
                vec![document.to_string().into()],
            ))
            .await?;
        Ok(match unfinished.into_iter().next() {
            Some(row) => NewJob::InProgress { job_id: row.id },
            None => NewJob::NoSuchDocument,
        })
    }

    pub async fn job(&self, id: &JobId) -> Result<Option<JobRow>, DbError> {
        let rows = self
            .db
            .query(Statement::new(
                "SELECT id, document_id, status, attempts, error, request_id, created_at, \
                 updated_at, started_at, finished_at FROM jobs WHERE id = ?1",
                vec![id.to_string().into()],
            ))
            .await?;
        Ok(rows.into_iter().next())
    }

    /// The newest successful summary of a document, or why there is none.
    pub async fn latest_summary(&self, document: &DocumentId) -> Result<SummaryLookup, DbError> {
        let summaries: Vec<SummaryRow> = self
            .db
            .query(Statement::new(
                "SELECT job_id, document_id, summary, backend, model, fallback_from, \
                 fallback_reason, input_chars, truncated, source_type, notes, created_at \
                 FROM summaries \
                 WHERE document_id = ?1 ORDER BY job_id DESC LIMIT 1",
                vec![document.to_string().into()],
            ))
            .await?;
        if let Some(summary) = summaries.into_iter().next() {
            return Ok(SummaryLookup::Ready(Box::new(summary)));
        }
        let latest: Vec<LatestJob> = self
            .db
            .query(Statement::new(
                "SELECT id AS job_id, status, error FROM jobs WHERE document_id = ?1 \
                 ORDER BY id DESC LIMIT 1",
                vec![document.to_string().into()],
            ))
            .await?;
        let Some(job) = latest.into_iter().next() else {
            return Ok(SummaryLookup::NoSuchDocument);
        };
        let status: JobStatus = job
            .status
            .parse()
            .map_err(|e| DbError::Decode(format!("{e}")))?;
        Ok(match status {
            JobStatus::Failed => SummaryLookup::Failed {
                job_id: job.job_id,
                error: job.error.unwrap_or_default(),
            },
            // A succeeded job always has its summary (same transaction); seeing one without
            // means the summary row was deleted by hand, which reads as "not there yet".
            status => SummaryLookup::Pending {
                job_id: job.job_id,
                status,
            },
        })
    }

    /// Takes the job's processing lease until `now + lease_ms`, if nobody holds it.
    pub async fn acquire_lease(
        &self,
        job: &JobId,
        lease_id: &str,
        now: Millis,
        lease_ms: i64,
    ) -> Result<LeaseOutcome, DbError> {
        let now_text = timestamp(now);
        let rows: Vec<Acquired> = self
            .db
            .query(Statement::new(
                "UPDATE jobs SET status = 'processing', lease_id = ?1, lease_expires_at = ?2, \
                 attempts = attempts + 1, started_at = ?3, updated_at = ?3 \
                 WHERE id = ?4 AND (status = 'queued' \
                 OR (status = 'processing' AND lease_expires_at < ?3)) \
                 RETURNING document_id, attempts, \
                 (SELECT size_bytes FROM documents WHERE documents.id = jobs.document_id) AS size_bytes",
                vec![
                    lease_id.into(),
                    timestamp(now.saturating_add(lease_ms)).into(),
                    now_text.into(),
                    job.to_string().into(),
                ],
            ))
            .await?;
        if let Some(row) = rows.into_iter().next() {
            let document_id = DocumentId::parse(&row.document_id)
                .map_err(|e| DbError::Decode(format!("jobs.document_id: {e}")))?;
            return Ok(LeaseOutcome::Acquired {
                document_id,
                attempt: u32::try_from(row.attempts).unwrap_or(u32::MAX),
                size_bytes: u64::try_from(row.size_bytes.unwrap_or(0)).unwrap_or(0),
            });
        }

        let rows: Vec<StatusRow> = self
            .db
            .query(Statement::new(
                "SELECT status, lease_expires_at FROM jobs WHERE id = ?1",
                vec![job.to_string().into()],
            ))
            .await?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(LeaseOutcome::NotFound);
        };
        match row.status.parse::<JobStatus>() {
            Ok(status) if status.is_terminal() => Ok(LeaseOutcome::Finished(status)),
            Ok(_) => Ok(LeaseOutcome::Held {
                until: row.lease_expires_at.unwrap_or_default(),
            }),
            Err(e) => Err(DbError::Decode(format!("jobs.status: {e}"))),
        }
    }

    /// Stores the summary and marks the job `succeeded`, if this lease still holds it.
    /// Returns whether it did.
    pub async fn complete(
        &self,
        job: &JobId,
        lease_id: &str,
        completion: &Completion,
        usage: &Usage,
        now: Millis,
    ) -> Result<bool, DbError> {
        let now = timestamp(now);
        let insert_summary = Statement::new(
            "INSERT INTO summaries (job_id, document_id, summary, backend, model, fallback_from, \
             input_chars, truncated, created_at, source_type, notes, fallback_reason) \
             SELECT id, document_id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?10, ?11, ?12 FROM jobs \
             WHERE id = ?1 AND status = 'processing' AND lease_id = ?9 \
             ON CONFLICT (job_id) DO NOTHING",
            vec![
                job.to_string().into(),
                completion.summary.clone().into(),
                completion.backend.clone().into(),
                completion.model.clone().into(),
                completion.fallback_from.clone().into(),
                int(completion.input_chars),
                completion.truncated.into(),
                now.clone().into(),
                lease_id.into(),
                completion.source_type.clone().into(),
                completion.notes.clone().into(),
                completion.fallback_reason.clone().into(),
            ],
        );
        let mark_succeeded = Statement::new(
            "UPDATE jobs SET status = 'succeeded', error = NULL, lease_id = NULL, \
             lease_expires_at = NULL, finished_at = ?1, updated_at = ?1, extract_ms = ?2, \
             summarize_ms = ?3, lease_write_ms = ?4, fetch_ms = ?7 \
             WHERE id = ?5 AND status = 'processing' AND lease_id = ?6",
            vec![
                now.into(),
                completion.extract_ms.into(),
                completion.summarize_ms.into(),
                completion.lease_write_ms.into(),
                job.to_string().into(),
                lease_id.into(),
                completion.fetch_ms.into(),
            ],
        );
        let mut statements = vec![insert_summary];
        statements.extend(record_usage(job, lease_id, usage));
        statements.push(mark_succeeded);
        let changes = self.db.batch(statements).await?;
        Ok(changes.last().copied().unwrap_or(0) == 1)
    }

    /// Runs `finish` (a statement that ends the attempt) after recording the attempt's model
    /// usage, in one transaction; returns whether `finish` changed the job.
    async fn finish_with_usage(
        &self,
        job: &JobId,
        lease_id: &str,
        usage: &Usage,
        finish: Statement,
    ) -> Result<bool, DbError> {
        match record_usage(job, lease_id, usage) {
            None => Ok(self.db.execute(finish).await? == 1),
            Some(record) => {
                let changes = self.db.batch(vec![record, finish]).await?;
                Ok(changes.last().copied().unwrap_or(0) == 1)
            }
        }
    }

    /// Marks the job `failed` with a readable error, if this lease still holds it.
    pub async fn fail(
        &self,
        job: &JobId,
        lease_id: &str,
        error: &str,
        usage: &Usage,
        now: Millis,
    ) -> Result<bool, DbError> {
        let finish = Statement::new(
            "UPDATE jobs SET status = 'failed', error = ?1, lease_id = NULL, \
             lease_expires_at = NULL, finished_at = ?2, updated_at = ?2 \
             WHERE id = ?3 AND status = 'processing' AND lease_id = ?4",
            vec![
                error.into(),
                timestamp(now).into(),
                job.to_string().into(),
                lease_id.into(),
            ],
        );
        self.finish_with_usage(job, lease_id, usage, finish).await
    }

    /// Hands the job back to `queued` after a transient failure, due again at `retry_at`.
    pub async fn release(
        &self,
        job: &JobId,
        lease_id: &str,
        error: &str,
        usage: &Usage,
        retry_at: Millis,
        now: Millis,
    ) -> Result<bool, DbError> {
        let finish = Statement::new(
            "UPDATE jobs SET status = 'queued', error = ?1, lease_id = NULL, \
             lease_expires_at = NULL, available_at = ?2, updated_at = ?3 \
             WHERE id = ?4 AND status = 'processing' AND lease_id = ?5",
            vec![
                error.into(),
                timestamp(retry_at).into(),
                timestamp(now).into(),
                job.to_string().into(),
                lease_id.into(),
            ],
        );
        self.finish_with_usage(job, lease_id, usage, finish).await
    }
}

impl<D: Database> Store<D> {
    /// Claims up to `limit` jobs whose message may be lost, for re-enqueueing: `queued` jobs
    /// due for longer than `grace_ms`, and `processing` jobs whose lease expired. Claiming
    /// stamps them, so the next sweep leaves them alone for another `grace_ms`.
    pub async fn claim_due_jobs(
        &self,
        now: Millis,
        grace_ms: i64,
        limit: u32,
    ) -> Result<Vec<DueJob>, DbError> {
        self.db
            .query(Statement::new(
                "UPDATE jobs SET available_at = ?1 WHERE id IN (SELECT id FROM jobs \
                 WHERE (status = 'queued' AND available_at <= ?2) \
                 OR (status = 'processing' AND lease_expires_at <= ?1 AND available_at <= ?2) \
                 ORDER BY available_at LIMIT ?3) \
                 RETURNING id AS job_id, document_id, request_id",
                vec![
                    timestamp(now).into(),
                    timestamp(now - grace_ms).into(),
                    limit.into(),
                ],
            ))
            .await
    }

    /// Uploads begun before `cutoff` that never recorded their document.
    pub async fn stale_uploads(
        &self,
        cutoff: Millis,
        limit: u32,
    ) -> Result<Vec<StaleUpload>, DbError> {
        self.db
            .query(Statement::new(
                "SELECT document_id, object_key FROM uploads WHERE created_at <= ?1 \
                 ORDER BY created_at LIMIT ?2",
                vec![timestamp(cutoff).into(), limit.into()],
            ))
            .await
    }

    /// Forgets uploads whose objects are gone.
    pub async fn forget_uploads(&self, documents: &[String]) -> Result<u64, DbError> {
        let ids = serde_json::to_string(documents).map_err(|e| DbError::Decode(e.to_string()))?;
        self.db
            .execute(Statement::new(
                "DELETE FROM uploads WHERE document_id IN (SELECT value FROM json_each(?1))",
                vec![ids.into()],
            ))
            .await
    }

    /// Fails a job whose message the queue gave up on, unless it already finished or a live
    /// lease shows someone is still working on it. Returns whether it changed the job.
    pub async fn fail_dead_lettered(
        &self,
        job: &JobId,
        reason: &str,
        now: Millis,
    ) -> Result<bool, DbError> {
        let now = timestamp(now);
        let changes = self
            .db
            .execute(Statement::new(
                "UPDATE jobs SET status = 'failed', error = ?1, lease_id = NULL, \
                 lease_expires_at = NULL, finished_at = ?2, updated_at = ?2 \
                 WHERE id = ?3 AND (status = 'queued' \
                 OR (status = 'processing' AND lease_expires_at < ?2))",
                vec![reason.into(), now.into(), job.to_string().into()],
            ))
            .await?;
        Ok(changes == 1)
    }
}

/// Inserts a `queued` job if its document exists (in the same transaction, the document insert
/// may have been skipped).
fn insert_job(job: &JobId, document: &DocumentId, request: &RequestId, now: &str) -> Statement {
    Statement::new(
        "INSERT INTO jobs (id, document_id, status, attempts, available_at, request_id, \
         created_at, updated_at) SELECT ?1, ?2, 'queued', 0, ?3, ?4, ?3, ?3 \
         WHERE EXISTS (SELECT 1 FROM documents WHERE id = ?2)",
        vec![
            job.to_string().into(),
            document.to_string().into(),
            now.into(),
            request.as_str().into(),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    use crate::sqlite::{ManualClock, ShakyWrites, Sqlite};
    use crate::time::Clock;
    use pollster::block_on;

    const T0: Millis = 1_795_381_560_000;
    const NO_USAGE: Usage = Usage {
        model: None,
        calls: 0,
        input_tokens: 0,
        output_tokens: 0,
        cost_usd: None,
    };
    const LEASE: i64 = 60_000;

    fn document(id: DocumentId) -> NewDocument {
        NewDocument {
            id,
            filename: Some("notes.md".into()),
            content_type: "text/markdown".into(),
            size_bytes: 42,
            sha256: None,
            idempotency_key: None,
            request_id: RequestId::parse("req-1").unwrap(),
            upload_ms: Some(3),
        }
    }

    fn completion(summary: &str) -> Completion {
        Completion {
            summary: summary.into(),
            backend: "extractive".into(),
            model: None,
            fallback_from: None,
            fallback_reason: None,
            input_chars: 42,
            truncated: false,
            source_type: Some("text/plain".into()),
            notes: None,
            fetch_ms: 4,
            extract_ms: 1,
            summarize_ms: 2,
            lease_write_ms: 3,
        }
    }

    fn upload(store: &Store<Sqlite>, doc: &NewDocument, job: &JobId) -> Result<bool, DbError> {
        block_on(store.begin_upload(&doc.id, &doc.request_id, T0))?;
        block_on(store.create_document(doc, job, T0))
    }

    fn store_with_job() -> (Store<Sqlite>, DocumentId, JobId) {
        let store = Store::new(Sqlite::migrated());
        let (doc, job) = (DocumentId::new(), JobId::new());
        assert_eq!(upload(&store, &document(doc), &job), Ok(true));
        (store, doc, job)
    }

    #[test]
    fn new_job_is_queued_with_no_attempts() {
        let (store, doc, job) = store_with_job();
        let row = block_on(store.job(&job)).unwrap().unwrap();
        assert_eq!(row.status, "queued");
        assert_eq!(row.attempts, 0);
        assert_eq!(row.document_id, doc.to_string());
        assert_eq!(row.created_at, "2026-11-22T21:06:00.000Z");
    }

    #[test]
    fn failed_job_insert_leaves_no_document() {
        let (store, _, job) = store_with_job();
        // Same job id again: the job insert fails, so the whole batch must roll back.
        let err = upload(&store, &document(DocumentId::new()), &job);
        assert!(matches!(err, Err(DbError::Constraint(_))), "{err:?}");
        let db = store.database();
        assert_eq!(db.scalar_i64("SELECT COUNT(*) FROM documents"), 1);
        assert_eq!(
            db.scalar_i64("SELECT COUNT(*) FROM uploads"),
            1,
            "the failed upload stays marked until it is cleaned up"
        );
    }

    #[test]
    fn lease_is_exclusive_until_it_expires() {
        let (store, doc, job) = store_with_job();
        let first = block_on(store.acquire_lease(&job, "a", T0, LEASE)).unwrap();
        assert_eq!(
            first,
            LeaseOutcome::Acquired {
                document_id: doc,
                attempt: 1,
                size_bytes: 42
            }
        );
        let second = block_on(store.acquire_lease(&job, "b", T0 + 1_000, LEASE)).unwrap();
        assert_eq!(
            second,
            LeaseOutcome::Held {
                until: timestamp(T0 + LEASE)
            }
        );
        let takeover = block_on(store.acquire_lease(&job, "c", T0 + LEASE + 1, LEASE)).unwrap();
        assert_eq!(
            takeover,
            LeaseOutcome::Acquired {
                document_id: doc,
                attempt: 2,
                size_bytes: 42
            }
        );
    }

    #[test]
    fn only_the_lease_holder_can_finish_and_finishing_twice_is_a_no_op() {
        let (store, doc, job) = store_with_job();
        block_on(store.acquire_lease(&job, "a", T0, LEASE)).unwrap();
        assert!(
            !block_on(store.complete(&job, "intruder", &completion("x"), &NO_USAGE, T0)).unwrap()
        );
        assert!(block_on(store.complete(&job, "a", &completion("first"), &NO_USAGE, T0)).unwrap());
        assert!(
            !block_on(store.complete(&job, "a", &completion("second"), &NO_USAGE, T0)).unwrap()
        );
        assert!(!block_on(store.fail(&job, "a", "late failure", &NO_USAGE, T0)).unwrap());

        let row = block_on(store.job(&job)).unwrap().unwrap();
        assert_eq!(row.status, "succeeded");
        assert_eq!(row.error, None);
        assert_eq!(
            store
                .database()
                .scalar_i64("SELECT COUNT(*) FROM summaries"),
            1
        );
        match block_on(store.latest_summary(&doc)).unwrap() {
            SummaryLookup::Ready(summary) => assert_eq!(summary.summary, "first"),
            other => panic!("expected a summary, got {other:?}"),
        }
    }

    #[test]
    fn succeeded_job_never_moves_back() {
        let (store, _, job) = store_with_job();
        block_on(store.acquire_lease(&job, "a", T0, LEASE)).unwrap();
        block_on(store.complete(&job, "a", &completion("done"), &NO_USAGE, T0)).unwrap();
        let later = block_on(store.acquire_lease(&job, "b", T0 + 10 * LEASE, LEASE)).unwrap();
        assert_eq!(later, LeaseOutcome::Finished(JobStatus::Succeeded));
        assert!(!block_on(store.release(&job, "a", "x", &NO_USAGE, T0, T0)).unwrap());
        assert_eq!(
            block_on(store.job(&job)).unwrap().unwrap().status,
            "succeeded"
        );
    }

    #[test]
    fn a_lost_lease_cannot_store_a_summary() {
        let (store, _, job) = store_with_job();
        block_on(store.acquire_lease(&job, "slow", T0, LEASE)).unwrap();
        block_on(store.acquire_lease(&job, "fast", T0 + LEASE + 1, LEASE)).unwrap();
        assert!(
            block_on(store.complete(&job, "fast", &completion("fast"), &NO_USAGE, T0)).unwrap()
        );
        assert!(
            !block_on(store.complete(&job, "slow", &completion("slow"), &NO_USAGE, T0)).unwrap()
        );
        assert_eq!(
            store
                .database()
                .scalar_i64("SELECT COUNT(*) FROM summaries WHERE summary = 'slow'"),
            0
        );
    }

    #[test]
    fn model_usage_adds_up_over_attempts_and_only_the_lease_holder_records_it() {
        let (store, _, job) = store_with_job();
        let usage = |calls, tokens, cost| Usage {
            model: Some("@cf/zai-org/glm-4.7-flash".into()),
            calls,
            input_tokens: tokens,
            output_tokens: tokens / 10,
            cost_usd: cost,
        };
        block_on(store.acquire_lease(&job, "a", T0, LEASE)).unwrap();
        assert!(
            block_on(store.release(&job, "a", "3040", &usage(2, 1_000, Some(0.5)), T0, T0))
                .unwrap()
        );
        block_on(store.acquire_lease(&job, "b", T0 + 1, LEASE)).unwrap();
        assert!(
            !block_on(store.fail(&job, "a", "stale", &usage(9, 9, Some(9.0)), T0)).unwrap(),
            "a lost lease records nothing"
        );
        assert!(
            block_on(store.complete(&job, "b", &completion("ok"), &usage(1, 500, Some(0.25)), T0))
                .unwrap()
        );
        let db = store.database();
        assert_eq!(
            db.scalar_i64(
                "SELECT ai_calls * 100000 + ai_input_tokens * 10 + ai_output_tokens / 10 FROM jobs"
            ),
            3 * 100_000 + 1_500 * 10 + 15
        );
        assert_eq!(
            db.scalar_i64("SELECT CAST(ai_cost_usd * 100 AS INTEGER) FROM jobs"),
            75
        );
        assert_eq!(
            db.scalar_i64("SELECT COUNT(*) FROM jobs WHERE ai_model = '@cf/zai-org/glm-4.7-flash'"),
            1
        );
    }

    #[test]
    fn an_attempt_without_model_calls_leaves_usage_empty() {
        let (store, _, job) = store_with_job();
        block_on(store.acquire_lease(&job, "a", T0, LEASE)).unwrap();
        block_on(store.complete(&job, "a", &completion("ok"), &NO_USAGE, T0)).unwrap();
        assert_eq!(
            store.database().scalar_i64(
                "SELECT COUNT(*) FROM jobs WHERE ai_calls IS NULL AND ai_cost_usd IS NULL"
            ),
            1
        );
    }

    #[test]
    fn released_job_can_be_leased_again_and_keeps_its_error() {
        let (store, _, job) = store_with_job();
        block_on(store.acquire_lease(&job, "a", T0, LEASE)).unwrap();
        assert!(block_on(store.release(&job, "a", "AI busy", &NO_USAGE, T0 + 5_000, T0)).unwrap());
        let row = block_on(store.job(&job)).unwrap().unwrap();
        assert_eq!(
            (row.status.as_str(), row.error.as_deref()),
            ("queued", Some("AI busy"))
        );
        let again = block_on(store.acquire_lease(&job, "b", T0 + 6_000, LEASE)).unwrap();
        assert!(matches!(again, LeaseOutcome::Acquired { attempt: 2, .. }));
    }

    #[test]
    fn summary_lookup_reports_pending_failed_and_missing() {
        let (store, doc, job) = store_with_job();
        assert_eq!(
            block_on(store.latest_summary(&doc)).unwrap(),
            SummaryLookup::Pending {
                job_id: job.to_string(),
                status: JobStatus::Queued
            }
        );
        block_on(store.acquire_lease(&job, "a", T0, LEASE)).unwrap();
        block_on(store.fail(&job, "a", "not valid UTF-8", &NO_USAGE, T0)).unwrap();
        assert_eq!(
            block_on(store.latest_summary(&doc)).unwrap(),
            SummaryLookup::Failed {
                job_id: job.to_string(),
                error: "not valid UTF-8".into()
            }
        );
        assert_eq!(
            block_on(store.latest_summary(&DocumentId::new())).unwrap(),
            SummaryLookup::NoSuchDocument
        );
    }

    #[test]
    fn dead_lettered_job_fails_unless_finished_or_actively_leased() {
        let (store, _, job) = store_with_job();
        block_on(store.acquire_lease(&job, "a", T0, LEASE)).unwrap();
        assert!(!block_on(store.fail_dead_lettered(&job, "gone", T0 + 1)).unwrap());
        assert!(block_on(store.fail_dead_lettered(&job, "gone", T0 + LEASE + 1)).unwrap());
        let row = block_on(store.job(&job)).unwrap().unwrap();
        assert_eq!(
            (row.status.as_str(), row.error.as_deref()),
            ("failed", Some("gone"))
        );

        let (store, _, job) = store_with_job();
        block_on(store.acquire_lease(&job, "a", T0, LEASE)).unwrap();
        block_on(store.complete(&job, "a", &completion("ok"), &NO_USAGE, T0)).unwrap();
        assert!(!block_on(store.fail_dead_lettered(&job, "gone", T0 + 10 * LEASE)).unwrap());
    }

    #[test]
    fn recording_closes_the_upload() {
        let (store, _, _) = store_with_job();
        assert_eq!(
            store.database().scalar_i64("SELECT COUNT(*) FROM uploads"),
            0
        );
    }

    #[test]
    fn upload_swept_as_orphan_records_nothing() {
        let store = Store::new(Sqlite::migrated());
        let doc = document(DocumentId::new());
        block_on(store.begin_upload(&doc.id, &doc.request_id, T0)).unwrap();
        let stale = block_on(store.stale_uploads(T0, 10)).unwrap();
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].object_key, doc.id.object_key());
        assert_eq!(
            block_on(store.forget_uploads(&[stale[0].document_id.clone()])),
            Ok(1)
        );

        assert_eq!(
            block_on(store.create_document(&doc, &JobId::new(), T0)),
            Ok(false)
        );
        let db = store.database();
        assert_eq!(db.scalar_i64("SELECT COUNT(*) FROM documents"), 0);
        assert_eq!(db.scalar_i64("SELECT COUNT(*) FROM jobs"), 0);
    }

    fn shaky_store(failures: u32, landing: bool) -> Store<ShakyWrites> {
        Store::new(ShakyWrites {
            landing,
            ..ShakyWrites::new(Sqlite::migrated(), failures)
        })
    }

    fn counts(db: &Sqlite) -> [i64; 3] {
        ["documents", "jobs", "uploads"]
            .map(|t| db.scalar_i64(&format!("SELECT COUNT(*) FROM {t}")))
    }

    #[test]
    fn recording_a_document_is_retried_while_the_database_is_locked() {
        let store = shaky_store(2, false);
        let doc = document(DocumentId::new());
        block_on(store.begin_upload(&doc.id, &doc.request_id, T0)).unwrap();
        let clock = ManualClock(Cell::new(T0));
        let recorded =
            block_on(store.create_document_retrying(&doc, &JobId::new(), &clock, &[50, 200, 800]));
        assert_eq!(recorded, Ok(true));
        assert_eq!(clock.now_ms(), T0 + 250, "slept 50 + 200 ms");
        assert_eq!(counts(&store.database().inner), [1, 1, 0]);
    }

    #[test]
    fn a_recording_whose_answer_was_lost_is_not_written_twice() {
        let store = shaky_store(1, true);
        let (doc, job) = (document(DocumentId::new()), JobId::new());
        block_on(store.begin_upload(&doc.id, &doc.request_id, T0)).unwrap();
        let clock = ManualClock(Cell::new(T0));
        assert_eq!(
            block_on(store.create_document_retrying(&doc, &job, &clock, &[50])),
            Ok(true)
        );
        assert_eq!(counts(&store.database().inner), [1, 1, 0]);
    }

    #[test]
    fn recording_gives_up_after_its_pauses() {
        let store = shaky_store(10, false);
        let doc = document(DocumentId::new());
        block_on(store.begin_upload(&doc.id, &doc.request_id, T0)).unwrap();
        let clock = ManualClock(Cell::new(T0));
        let recorded =
            block_on(store.create_document_retrying(&doc, &JobId::new(), &clock, &[50, 200]));
        assert!(matches!(recorded, Err(DbError::Failed(_))), "{recorded:?}");
        assert_eq!(
            counts(&store.database().inner),
            [0, 0, 1],
            "the upload stays open"
        );
    }

    #[test]
    fn beginning_an_upload_twice_is_harmless() {
        let store = Store::new(Sqlite::migrated());
        let doc = document(DocumentId::new());
        block_on(store.begin_upload(&doc.id, &doc.request_id, T0)).unwrap();
        assert_eq!(
            block_on(store.begin_upload(&doc.id, &doc.request_id, T0)),
            Ok(())
        );
        assert_eq!(counts(store.database()), [0, 0, 1]);
    }

    #[test]
    fn uploads_newer_than_the_cutoff_are_not_stale() {
        let store = Store::new(Sqlite::migrated());
        let doc = document(DocumentId::new());
        block_on(store.begin_upload(&doc.id, &doc.request_id, T0)).unwrap();
        assert!(
            block_on(store.stale_uploads(T0 - 1, 10))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn idempotency_key_finds_the_document_and_its_first_job_and_is_unique() {
        let store = Store::new(Sqlite::migrated());
        let mut doc = document(DocumentId::new());
        doc.idempotency_key = Some("key-1".into());
        doc.sha256 = Some("ab".repeat(32));
        let job = JobId::new();
        assert_eq!(upload(&store, &doc, &job), Ok(true));
        block_on(store.create_job(&doc.id, &JobId::new(), &doc.request_id, T0)).unwrap();

        let found = block_on(store.upload_by_idempotency_key("key-1"))
            .unwrap()
            .unwrap();
        assert_eq!(found.document_id, doc.id.to_string());
        assert_eq!(found.job_id, Some(job.to_string()));
        assert_eq!(found.sha256, doc.sha256);
        assert_eq!(found.size_bytes, 42);
        assert_eq!(block_on(store.upload_by_idempotency_key("key-2")), Ok(None));

        let mut again = document(DocumentId::new());
        again.idempotency_key = Some("key-1".into());
        let err = upload(&store, &again, &JobId::new());
        assert!(matches!(err, Err(DbError::Constraint(_))), "{err:?}");
    }

    #[test]
    fn new_job_for_a_document_only_when_none_is_unfinished() {
        let (store, doc, first) = store_with_job();
        let request = RequestId::parse("req-2").unwrap();
        assert_eq!(
            block_on(store.create_job(&doc, &JobId::new(), &request, T0)),
            Ok(NewJob::InProgress {
                job_id: first.to_string()
            })
        );
        block_on(store.acquire_lease(&first, "a", T0, LEASE)).unwrap();
        block_on(store.complete(&first, "a", &completion("one"), &NO_USAGE, T0)).unwrap();
        let second = JobId::new();
        assert_eq!(
            block_on(store.create_job(&doc, &second, &request, T0)),
            Ok(NewJob::Created)
        );
        assert_eq!(
            block_on(store.job(&second)).unwrap().unwrap().status,
            "queued"
        );
        assert_eq!(
            block_on(store.create_job(&DocumentId::new(), &JobId::new(), &request, T0)),
            Ok(NewJob::NoSuchDocument)
        );
    }

    #[test]
    fn sweep_claims_overdue_queued_and_expired_jobs_once_per_grace_period() {
        let store = Store::new(Sqlite::migrated());
        let mut jobs = Vec::new();
        for _ in 0..4 {
            let (doc, job) = (DocumentId::new(), JobId::new());
            upload(&store, &document(doc), &job).unwrap();
            jobs.push(job);
        }
        let grace = 60_000;
        // jobs[0] stays queued; jobs[1] is leased and its lease expires; jobs[2] is leased and
        // alive; jobs[3] succeeded.
        block_on(store.acquire_lease(&jobs[1], "x", T0, 1_000)).unwrap();
        block_on(store.acquire_lease(&jobs[2], "y", T0, 10 * grace)).unwrap();
        block_on(store.acquire_lease(&jobs[3], "z", T0, LEASE)).unwrap();
        block_on(store.complete(&jobs[3], "z", &completion("done"), &NO_USAGE, T0)).unwrap();

        assert!(
            block_on(store.claim_due_jobs(T0 + grace - 1, grace, 100))
                .unwrap()
                .is_empty()
        );
        let now = T0 + grace;
        let mut claimed: Vec<String> = block_on(store.claim_due_jobs(now, grace, 100))
            .unwrap()
            .into_iter()
            .map(|due| due.job_id)
            .collect();
        claimed.sort();
        let mut expected = vec![jobs[0].to_string(), jobs[1].to_string()];
        expected.sort();
        assert_eq!(claimed, expected);
        assert!(
            block_on(store.claim_due_jobs(now + grace - 1, grace, 100))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            block_on(store.claim_due_jobs(now + grace, grace, 1))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn released_job_is_not_swept_before_its_retry_is_due() {
        let (store, _, job) = store_with_job();
        block_on(store.acquire_lease(&job, "a", T0, LEASE)).unwrap();
        block_on(store.release(&job, "a", "busy", &NO_USAGE, T0 + 600_000, T0)).unwrap();
        assert!(
            block_on(store.claim_due_jobs(T0 + 600_000, 60_000, 10))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            block_on(store.claim_due_jobs(T0 + 660_000, 60_000, 10))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn unknown_job_is_not_found() {
        let (store, _, _) = store_with_job();
        assert_eq!(
            block_on(store.acquire_lease(&JobId::new(), "a", T0, LEASE)).unwrap(),
            LeaseOutcome::NotFound
        );
        assert_eq!(block_on(store.job(&JobId::new())).unwrap(), None);
    }
}
