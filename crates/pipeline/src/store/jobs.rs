//! The job state machine. State only moves through conditional updates, so concurrent
//! consumers and redelivered messages cannot corrupt it:
//! - `queued → processing` takes a lease (an id and an expiry) and counts an attempt; a job
//!   whose lease expired may be taken over.
//! - Only the lease holder may finish the job (`succeeded`/`failed`) or hand it back
//!   (`queued`, for a retry). Finishing twice, or after losing the lease, changes nothing.
//! - An attempt's model usage is added to the job's totals in the transaction that ends it.

use docpipe_docproc::summarize::Usage;
use docpipe_jobs::{DocumentId, JobId, JobStatus, RequestId};
use serde::{Deserialize, Serialize};

use super::Store;
use crate::db::{DbError, Statement};
use crate::ports::Database;
use crate::time::{Millis, Timestamp, timestamp};

/// A job as D1 holds it and `GET /v1/jobs/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRow {
    #[serde(rename(serialize = "job_id"))]
    pub id: JobId,
    pub document_id: DocumentId,
    pub status: JobStatus,
    pub attempts: u32,
    pub error: Option<String>,
    pub request_id: RequestId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

/// What adding a job to an existing document did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewJob {
    Created,
    NoSuchDocument,
    /// The document already has an unfinished job.
    InProgress {
        job_id: JobId,
    },
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
        until: Timestamp,
    },
    /// The job is already `succeeded` or `failed`.
    Finished(JobStatus),
    NotFound,
}

#[derive(Deserialize)]
struct Acquired {
    document_id: DocumentId,
    attempts: u32,
    size_bytes: Option<u64>,
}

#[derive(Deserialize)]
struct JobIdRow {
    id: JobId,
}

#[derive(Deserialize)]
struct StatusRow {
    status: JobStatus,
    lease_expires_at: Option<Timestamp>,
}

/// `UPDATE jobs` to `failed` with the error `?1` at the time `?2`, for the job `?3`, under a
/// further condition: the one way a job fails, whoever fails it.
macro_rules! fail_job_where {
    ($condition:literal) => {
        concat!(
            "UPDATE jobs SET status = 'failed', error = ?1, lease_id = NULL, \
             lease_expires_at = NULL, finished_at = ?2, updated_at = ?2 WHERE id = ?3 AND ",
            $condition
        )
    };
}

/// Adds an attempt's model usage to the job's totals, if the attempt called a model and still
/// holds the lease. `COALESCE(a + b, a, b)` adds to a total that may still be NULL.
pub(super) fn record_usage(job: &JobId, lease_id: &str, usage: &Usage) -> Option<Statement> {
    (usage.calls > 0).then(|| {
        Statement::new(
            "UPDATE jobs SET ai_model = COALESCE(ai_model, ?3), \
             ai_calls = COALESCE(ai_calls + ?4, ai_calls, ?4), \
             ai_input_tokens = COALESCE(ai_input_tokens + ?5, ai_input_tokens, ?5), \
             ai_output_tokens = COALESCE(ai_output_tokens + ?6, ai_output_tokens, ?6), \
             ai_cost_usd = COALESCE(ai_cost_usd + ?7, ai_cost_usd, ?7) \
             WHERE id = ?1 AND status = 'processing' AND lease_id = ?2",
            vec![
                job.into(),
                lease_id.into(),
                usage.model.clone().into(),
                usage.calls.into(),
                usage.input_tokens.into(),
                usage.output_tokens.into(),
                usage.cost_usd.into(),
            ],
        )
    })
}

impl<D: Database> Store<D> {
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
                    job.into(),
                    document.into(),
                    timestamp(now).into(),
                    request_id.into(),
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
                vec![document.into()],
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
                vec![id.into()],
            ))
            .await?;
        Ok(rows.into_iter().next())
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
                    job.into(),
                ],
            ))
            .await?;
        if let Some(row) = rows.into_iter().next() {
            return Ok(LeaseOutcome::Acquired {
                document_id: row.document_id,
                attempt: row.attempts,
                size_bytes: row.size_bytes.unwrap_or(0),
            });
        }

        let rows: Vec<StatusRow> = self
            .db
            .query(Statement::new(
                "SELECT status, lease_expires_at FROM jobs WHERE id = ?1",
                vec![job.into()],
            ))
            .await?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(LeaseOutcome::NotFound);
        };
        Ok(match row.status {
            status if status.is_terminal() => LeaseOutcome::Finished(status),
            // `processing` always has an expiry; without one the lease reads as expired.
            _ => LeaseOutcome::Held {
                until: row.lease_expires_at.unwrap_or(Timestamp(0)),
            },
        })
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
            fail_job_where!("status = 'processing' AND lease_id = ?4"),
            vec![
                error.into(),
                timestamp(now).into(),
                job.into(),
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
                job.into(),
                lease_id.into(),
            ],
        );
        self.finish_with_usage(job, lease_id, usage, finish).await
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
                fail_job_where!(
                    "(status = 'queued' OR (status = 'processing' AND lease_expires_at < ?2))"
                ),
                vec![reason.into(), now.into(), job.into()],
            ))
            .await?;
        Ok(changes == 1)
    }
}

#[cfg(test)]
mod tests {
    use pollster::block_on;

    use super::*;
    use crate::store::fixtures::*;

    #[test]
    fn new_job_is_queued_with_no_attempts() {
        let (store, doc, job) = store_with_job();
        let row = block_on(store.job(&job)).unwrap().unwrap();
        assert_eq!(row.status, JobStatus::Queued);
        assert_eq!(row.attempts, 0);
        assert_eq!(row.document_id, doc);
        assert_eq!(row.created_at, Timestamp(T0));
        assert_eq!(row.created_at.to_string(), "2026-11-22T21:06:00.000Z");
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
                until: Timestamp(T0 + LEASE)
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
    fn succeeded_job_never_moves_back() {
        let (store, _, job) = store_with_job();
        block_on(store.acquire_lease(&job, "a", T0, LEASE)).unwrap();
        block_on(store.complete(&job, "a", &completion("done"), &NO_USAGE, T0)).unwrap();
        let later = block_on(store.acquire_lease(&job, "b", T0 + 10 * LEASE, LEASE)).unwrap();
        assert_eq!(later, LeaseOutcome::Finished(JobStatus::Succeeded));
        assert!(!block_on(store.release(&job, "a", "x", &NO_USAGE, T0, T0)).unwrap());
        assert_eq!(
            block_on(store.job(&job)).unwrap().unwrap().status,
            JobStatus::Succeeded
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
            (row.status, row.error.as_deref()),
            (JobStatus::Queued, Some("AI busy"))
        );
        let again = block_on(store.acquire_lease(&job, "b", T0 + 6_000, LEASE)).unwrap();
        assert!(matches!(again, LeaseOutcome::Acquired { attempt: 2, .. }));
    }

    #[test]
    fn dead_lettered_job_fails_unless_finished_or_actively_leased() {
        let (store, _, job) = store_with_job();
        block_on(store.acquire_lease(&job, "a", T0, LEASE)).unwrap();
        assert!(!block_on(store.fail_dead_lettered(&job, "gone", T0 + 1)).unwrap());
        assert!(block_on(store.fail_dead_lettered(&job, "gone", T0 + LEASE + 1)).unwrap());
        let row = block_on(store.job(&job)).unwrap().unwrap();
        assert_eq!(
            (row.status, row.error.as_deref()),
            (JobStatus::Failed, Some("gone"))
        );

        let (store, _, job) = store_with_job();
        block_on(store.acquire_lease(&job, "a", T0, LEASE)).unwrap();
        block_on(store.complete(&job, "a", &completion("ok"), &NO_USAGE, T0)).unwrap();
        assert!(!block_on(store.fail_dead_lettered(&job, "gone", T0 + 10 * LEASE)).unwrap());
    }

    #[test]
    fn new_job_for_a_document_only_when_none_is_unfinished() {
        let (store, doc, first) = store_with_job();
        let request = RequestId::parse("req-2").unwrap();
        assert_eq!(
            block_on(store.create_job(&doc, &JobId::new(), &request, T0)),
            Ok(NewJob::InProgress { job_id: first })
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
            JobStatus::Queued
        );
        assert_eq!(
            block_on(store.create_job(&DocumentId::new(), &JobId::new(), &request, T0)),
            Ok(NewJob::NoSuchDocument)
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
