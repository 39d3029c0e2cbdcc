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

use super::tenants::{OverQuota, in_flight, limit, quota_params};
use super::{Store, webhooks};
use crate::auth::TenantId;
use crate::db::{DbError, SqlValue, Statement};
use crate::ports::Database;
use crate::quota::{self, Quotas};
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
    /// `fetching` while the job's document is fetched from its URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
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
    /// The document's last job was created less than the reprocess interval ago.
    TooSoon {
        retry_after_seconds: u32,
    },
    /// The tenant is at a quota (jobs in flight, or model tokens today).
    OverQuota(OverQuota),
}

/// The outcome of trying to take a job's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// This consumer now holds the lease.
    Acquired(LeasedJob),
    /// Another consumer holds an unexpired lease.
    Held {
        until: Timestamp,
    },
    /// The job is already `succeeded` or `failed`.
    Finished(JobStatus),
    NotFound,
}

/// `UPDATE jobs` taking the lease `$lease_id` (SQL: `?1`, the lease id, or an expression of
/// it) until `?2`, at the time `?3` of the UTC day `?4`, of the jobs `id $jobs` (`?5`) that
/// are queued or whose lease expired; returns what processing needs to know of each
/// ([`LeasedJob`]).
macro_rules! lease_jobs {
    ($lease_id:literal, $jobs:literal) => {
        concat!(
            "UPDATE jobs SET status = 'processing', lease_id = ",
            $lease_id,
            ", lease_expires_at = ?2, attempts = attempts + 1, started_at = ?3, updated_at = ?3 \
             WHERE id ",
            $jobs,
            " AND (status = 'queued' OR (status = 'processing' AND lease_expires_at < ?3)) \
             RETURNING id AS job_id, lease_id, document_id, attempts, tenant_id, \
             (SELECT size_bytes FROM documents WHERE documents.id = jobs.document_id) AS size_bytes, \
             (SELECT object_key FROM documents WHERE documents.id = jobs.document_id) AS object_key, \
             COALESCE((SELECT tokens FROM tenant_usage \
             WHERE tenant_usage.tenant_id = jobs.tenant_id AND day = ?4), 0) AS tokens_today, \
             (SELECT max_tokens_per_day FROM tenants WHERE tenants.id = jobs.tenant_id) \
             AS max_tokens_per_day, \
             (SELECT COUNT(*) FROM jobs AS same WHERE same.document_id = jobs.document_id) \
             AS document_jobs"
        )
    };
}

/// Takes `job`'s lease as `lease_id` until `now + lease_ms`.
fn lease_statement(job: &JobId, lease_id: &str, now: Millis, lease_ms: i64) -> Statement {
    Statement::new(
        lease_jobs!("?1", "= ?5"),
        lease_params(lease_id, now, lease_ms, job.into()),
    )
}

/// Takes the leases of `jobs` until `now + lease_ms`, each as `{lease_id}:{job id}`.
fn leases_statement(jobs: &[JobId], lease_id: &str, now: Millis, lease_ms: i64) -> Statement {
    let ids = serde_json::Value::from(jobs.iter().map(JobId::to_string).collect::<Vec<_>>());
    Statement::new(
        lease_jobs!("?1 || ':' || id", "IN (SELECT value FROM json_each(?5))"),
        lease_params(lease_id, now, lease_ms, ids.to_string().into()),
    )
}

fn lease_params(lease_id: &str, now: Millis, lease_ms: i64, jobs: SqlValue) -> Vec<SqlValue> {
    vec![
        lease_id.into(),
        timestamp(now.saturating_add(lease_ms)).into(),
        timestamp(now).into(),
        quota::day(now).into(),
        jobs,
    ]
}

/// A job this consumer holds the lease of, with what processing it needs to know.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LeasedJob {
    pub job_id: JobId,
    /// The lease this consumer holds: what finishing the job must name.
    pub lease_id: String,
    pub document_id: DocumentId,
    /// Counts from 1.
    #[serde(rename = "attempts")]
    pub attempt: u32,
    #[serde(default)]
    pub size_bytes: Option<u64>,
    /// Where the document's bytes are.
    pub object_key: String,
    pub tenant_id: TenantId,
    /// Model tokens the tenant used today, and its override of the daily limit.
    pub tokens_today: u64,
    pub max_tokens_per_day: Option<u64>,
    /// Jobs the document has had, this one included.
    #[serde(default)]
    pub document_jobs: u32,
}

impl LeasedJob {
    /// Whether this is the first attempt of the document's only job: nothing was processed
    /// for the document before, so it has no text copy yet.
    pub fn first_run(&self) -> bool {
        self.attempt == 1 && self.document_jobs == 1
    }
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
pub(super) fn record_usage(
    job: &JobId,
    lease_id: &str,
    usage: &Usage,
    now: Millis,
) -> Vec<Statement> {
    if usage.calls == 0 {
        return Vec::new();
    }
    vec![
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
        ),
        // The tenant's tokens today, for its daily quota.
        Statement::new(
            "INSERT INTO tenant_usage (tenant_id, day, tokens) SELECT tenant_id, ?3, ?4 FROM jobs \
             WHERE id = ?1 AND status = 'processing' AND lease_id = ?2 \
             ON CONFLICT (tenant_id, day) DO UPDATE SET tokens = tokens + excluded.tokens",
            vec![
                job.into(),
                lease_id.into(),
                quota::day(now).into(),
                usage
                    .input_tokens
                    .saturating_add(usage.output_tokens)
                    .into(),
            ],
        ),
    ]
}

impl<D: Database> Store<D> {
    /// Adds a `queued` job for the tenant's document, unless one is already unfinished or the
    /// tenant is at its jobs-in-flight or model-token quota.
    pub async fn create_job(
        &self,
        tenant: &TenantId,
        document: &DocumentId,
        job: &JobId,
        request_id: &RequestId,
        quotas: &Quotas,
        now: Millis,
    ) -> Result<NewJob, DbError> {
        let mut params = quota_params(tenant, now, 0, quotas);
        let interval_ms = i64::try_from(quotas.reprocess_interval_seconds)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000);
        let recent_after = timestamp(now.saturating_sub(interval_ms));
        params.extend([
            job.into(),
            timestamp(now).into(),
            request_id.into(),
            document.into(),
            recent_after.clone().into(),
        ]);
        let changes = self
            .db
            .execute(Statement::new(
                concat!(
                    "INSERT INTO jobs (id, document_id, status, attempts, available_at, \
                     request_id, created_at, updated_at, tenant_id) \
                     SELECT ?8, id, 'queued', 0, ?9, ?10, ?9, ?9, ?1 FROM documents \
                     WHERE id = ?11 AND tenant_id = ?1 \
                     AND NOT EXISTS (SELECT 1 FROM jobs WHERE document_id = ?11 \
                     AND status IN ('queued', 'processing')) \
                     AND NOT EXISTS (SELECT 1 FROM jobs WHERE document_id = ?11 \
                     AND created_at > ?12) AND ",
                    in_flight!(),
                    " < ",
                    limit!(in_flight),
                    " AND COALESCE((SELECT tokens FROM tenant_usage WHERE tenant_id = ?1 \
                     AND day = ?2), 0) < ",
                    limit!(tokens),
                ),
                params,
            ))
            .await?;
        if changes == 1 {
            return Ok(NewJob::Created);
        }
        #[derive(Deserialize)]
        struct Found {
            unfinished: Option<JobId>,
            last_created: Option<Timestamp>,
        }
        let found: Vec<Found> = self
            .db
            .query(Statement::new(
                "SELECT (SELECT id FROM jobs WHERE document_id = d.id \
                 AND status IN ('queued', 'processing') ORDER BY id LIMIT 1) AS unfinished, \
                 (SELECT MAX(created_at) FROM jobs WHERE document_id = d.id) AS last_created \
                 FROM documents d WHERE d.id = ?1 AND d.tenant_id = ?2",
                vec![document.into(), tenant.as_str().into()],
            ))
            .await?;
        Ok(match found.into_iter().next() {
            None => NewJob::NoSuchDocument,
            Some(Found {
                unfinished: Some(job_id),
                ..
            }) => NewJob::InProgress { job_id },
            Some(Found {
                last_created: Some(Timestamp(last)),
                ..
            }) if last.saturating_add(interval_ms) > now => {
                let wait_ms = last.saturating_add(interval_ms) - now;
                NewJob::TooSoon {
                    retry_after_seconds: u32::try_from((wait_ms + 999) / 1_000).unwrap_or(u32::MAX),
                }
            }
            Some(_) => NewJob::OverQuota(self.over_quota(tenant, quotas, 0, now).await?),
        })
    }

    /// The tenant's job.
    pub async fn job(&self, tenant: &TenantId, id: &JobId) -> Result<Option<JobRow>, DbError> {
        let rows = self
            .db
            .query(Statement::new(
                "SELECT id, document_id, status, attempts, error, request_id, created_at, \
                 updated_at, started_at, finished_at FROM jobs WHERE id = ?1 AND tenant_id = ?2",
                vec![id.into(), tenant.as_str().into()],
            ))
            .await?;
        if let Some(row) = rows.into_iter().next() {
            return Ok(Some(row));
        }
        // A job in its fetching stage has no row yet: its fetch stands for it.
        let rows = self
            .db
            .query(Statement::new(
                "SELECT job_id AS id, document_id, CASE status WHEN 'fetching' THEN 'processing' \
                 ELSE status END AS status, attempts, error, request_id, created_at, updated_at, \
                 NULL AS started_at, finished_at, 'fetching' AS stage FROM fetches \
                 WHERE job_id = ?1 AND tenant_id = ?2 AND status != 'fetched'",
                vec![id.into(), tenant.as_str().into()],
            ))
            .await?;
        Ok(rows.into_iter().next())
    }

    /// A page of the tenant's jobs, newest first: at most `query.limit + 1`, so the caller can
    /// tell whether another page follows.
    pub async fn list_jobs(
        &self,
        tenant: &TenantId,
        query: &crate::listing::ListQuery,
    ) -> Result<Vec<JobRow>, DbError> {
        self.db
            .query(Statement::new(
                "SELECT id, document_id, status, attempts, error, request_id, created_at, \
                 updated_at, started_at, finished_at FROM jobs \
                 WHERE tenant_id = ?1 AND (?2 IS NULL OR id < ?2) \
                 AND (?3 IS NULL OR status = ?3) \
                 AND (?4 IS NULL OR created_at >= ?4) AND (?5 IS NULL OR created_at < ?5) \
                 AND (?6 IS NULL OR document_id = ?6) ORDER BY id DESC LIMIT ?7",
                vec![
                    tenant.as_str().into(),
                    query.before.clone().into(),
                    query.status.map(|s| s.as_str()).into(),
                    query.created_after.clone().into(),
                    query.created_before.clone().into(),
                    query.document_id.as_ref().into(),
                    (query.limit + 1).into(),
                ],
            ))
            .await
    }

    /// Whether the job still exists (it goes with its deleted document).
    pub async fn job_exists(&self, job: &JobId) -> Result<bool, DbError> {
        let rows: Vec<serde_json::Value> = self
            .db
            .query(Statement::new(
                "SELECT 1 AS found FROM jobs WHERE id = ?1 \
                 UNION ALL SELECT 1 FROM fetches WHERE job_id = ?1",
                vec![job.into()],
            ))
            .await?;
        Ok(!rows.is_empty())
    }

    /// Takes the job's processing lease until `now + lease_ms`, if nobody holds it.
    pub async fn acquire_lease(
        &self,
        job: &JobId,
        lease_id: &str,
        now: Millis,
        lease_ms: i64,
    ) -> Result<LeaseOutcome, DbError> {
        let rows: Vec<LeasedJob> = self
            .db
            .query(lease_statement(job, lease_id, now, lease_ms))
            .await?;
        if let Some(row) = rows.into_iter().next() {
            return Ok(LeaseOutcome::Acquired(row));
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

    /// Takes the leases of `jobs` (distinct) in one statement, as [`Store::acquire_lease`]
    /// takes one, each job under its own lease id ([`LeasedJob::lease_id`]) made from
    /// `lease_id`. Returns the jobs whose lease was taken; any other is held, finished or gone,
    /// which [`Store::acquire_lease`] tells apart.
    pub async fn acquire_leases(
        &self,
        jobs: &[JobId],
        lease_id: &str,
        now: Millis,
        lease_ms: i64,
    ) -> Result<Vec<LeasedJob>, DbError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        self.db
            .query(leases_statement(jobs, lease_id, now, lease_ms))
            .await
    }

    /// Runs `finish` (a statement that ends the attempt) after recording the attempt's model
    /// usage, in one transaction; returns whether `finish` changed the job.
    /// `announce`: the job ends there, and its webhook event is recorded with it.
    async fn finish_with_usage(
        &self,
        job: &JobId,
        lease_id: &str,
        usage: &Usage,
        finish: Statement,
        now: Millis,
        announce: bool,
    ) -> Result<bool, DbError> {
        let mut statements = record_usage(job, lease_id, usage, now);
        let at = statements.len();
        statements.push(finish);
        if announce {
            statements.extend(webhooks::job_event(job, now));
        }
        if statements.len() == 1 {
            return Ok(self.db.execute(statements.remove(0)).await? == 1);
        }
        let changes = self.db.batch(statements).await?;
        Ok(changes.get(at).copied().unwrap_or(0) == 1)
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
        self.finish_with_usage(job, lease_id, usage, finish, now, true)
            .await
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
        self.finish_with_usage(job, lease_id, usage, finish, now, false)
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
        let mut events = webhooks::job_event(job, now);
        events.extend(webhooks::fetch_event(job, now));
        let now = timestamp(now);
        let fail_job = Statement::new(
            fail_job_where!(
                "(status = 'queued' OR (status = 'processing' AND lease_expires_at < ?2))"
            ),
            vec![reason.into(), now.clone().into(), job.into()],
        );
        // A job still in its fetching stage has a fetch row and no job row yet.
        let release_fetch = Statement::new(
            "UPDATE tenant_usage SET documents = MAX(documents - 1, 0) \
             WHERE (tenant_id, day) = (SELECT tenant_id, substr(created_at, 1, 10) FROM fetches \
             WHERE job_id = ?1 AND (status = 'queued' \
             OR (status = 'fetching' AND lease_expires_at < ?2)))",
            vec![job.into(), now.clone().into()],
        );
        let fail_fetch = Statement::new(
            "UPDATE fetches SET status = 'failed', error = ?2, lease_expires_at = NULL, \
             updated_at = ?3, finished_at = ?3 WHERE job_id = ?1 AND (status = 'queued' \
             OR (status = 'fetching' AND lease_expires_at < ?3))",
            vec![job.into(), reason.into(), now.into()],
        );
        let mut statements = vec![fail_job, release_fetch, fail_fetch];
        statements.extend(events);
        let changes = self.db.batch(statements).await?;
        Ok(changes.first() == Some(&1) || changes.get(2) == Some(&1))
    }
}

#[cfg(test)]
mod tests {
    use pollster::block_on;

    use super::*;
    use crate::objects::document_key;
    use crate::store::fixtures::*;

    #[test]
    fn new_job_is_queued_with_no_attempts() {
        let (store, doc, job) = store_with_job();
        let row = block_on(store.job(&tenant(), &job)).unwrap().unwrap();
        assert_eq!(row.status, JobStatus::Queued);
        assert_eq!(row.attempts, 0);
        assert_eq!(row.document_id, doc);
        assert_eq!(row.created_at, Timestamp(T0));
        assert_eq!(row.created_at.to_string(), "2026-11-22T21:06:00.000Z");
    }

    #[test]
    fn a_lease_finds_its_jobs_by_key_however_many_jobs_there_are() {
        let db = crate::sqlite::Sqlite::migrated();
        let jobs = [JobId::new(), JobId::new()];
        for statement in [
            lease_statement(&jobs[0], "l", T0, LEASE),
            leases_statement(&jobs, "l", T0, LEASE),
        ] {
            let plan = db.query_plan(&statement);
            assert!(
                plan.iter()
                    .any(|step| step.starts_with("SEARCH jobs USING INDEX")),
                "{plan:?}"
            );
            assert!(
                plan.iter()
                    .all(|step| !step.starts_with("SCAN") || step.starts_with("SCAN json_each")),
                "{plan:?}"
            );
        }
    }

    #[test]
    fn leases_taken_together_are_each_jobs_own_and_skip_jobs_not_free() {
        let store = Store::new(crate::sqlite::Sqlite::migrated());
        let jobs: Vec<JobId> = (0..4).map(|_| JobId::new()).collect();
        for job in &jobs {
            assert_eq!(upload(&store, &document(DocumentId::new()), job), Ok(true));
        }
        // One held by another consumer, one finished.
        leased(block_on(store.acquire_lease(&jobs[1], "other", T0, LEASE)).unwrap());
        leased(block_on(store.acquire_lease(&jobs[2], "done", T0, LEASE)).unwrap());
        let finished = block_on(store.complete(
            &jobs[2],
            "done",
            &completion("Done."),
            &Usage::default(),
            T0,
        ));
        assert_eq!(finished, Ok(true));

        let missing = JobId::new();
        let asked = [jobs[0], jobs[1], jobs[2], jobs[3], missing];
        let taken = block_on(store.acquire_leases(&asked, "batch", T0 + 1, LEASE)).unwrap();
        let mut ids: Vec<JobId> = taken.iter().map(|leased| leased.job_id).collect();
        ids.sort_by_key(JobId::to_string);
        let mut free = vec![jobs[0], jobs[3]];
        free.sort_by_key(JobId::to_string);
        assert_eq!(ids, free, "only the queued jobs");
        assert!(
            taken
                .iter()
                .all(|leased| leased.attempt == 1 && leased.first_run())
        );
        let db = store.database();
        for (job, lease) in [
            (jobs[0], format!("batch:{}", jobs[0])),
            (jobs[1], "other".to_owned()),
            (jobs[3], format!("batch:{}", jobs[3])),
        ] {
            let held = db.scalar_text(&format!("SELECT lease_id FROM jobs WHERE id = '{job}'"));
            assert_eq!(held, lease);
        }
        // Each lease is its job's own: finishing one under another's id does nothing.
        let done = |job: &JobId, lease: &str| {
            block_on(store.complete(job, lease, &completion("S."), &Usage::default(), T0 + 2))
        };
        assert_eq!(done(&jobs[0], &format!("batch:{}", jobs[3])), Ok(false));
        assert_eq!(done(&jobs[0], &format!("batch:{}", jobs[0])), Ok(true));
    }

    #[test]
    fn lease_is_exclusive_until_it_expires() {
        let (store, doc, job) = store_with_job();
        let first = leased(block_on(store.acquire_lease(&job, "a", T0, LEASE)).unwrap());
        assert_eq!(
            first,
            LeasedJob {
                job_id: job,
                lease_id: "a".into(),
                document_id: doc,
                attempt: 1,
                size_bytes: Some(42),
                object_key: document_key(&tenant(), &doc),
                tenant_id: tenant(),
                tokens_today: 0,
                max_tokens_per_day: None,
                document_jobs: 1,
            }
        );
        assert!(first.first_run());
        let second = block_on(store.acquire_lease(&job, "b", T0 + 1_000, LEASE)).unwrap();
        assert_eq!(
            second,
            LeaseOutcome::Held {
                until: Timestamp(T0 + LEASE)
            }
        );
        let takeover =
            leased(block_on(store.acquire_lease(&job, "c", T0 + LEASE + 1, LEASE)).unwrap());
        assert_eq!((takeover.document_id, takeover.attempt), (doc, 2));
        assert!(
            !takeover.first_run(),
            "the first attempt may have stored a text"
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
            block_on(store.job(&tenant(), &job))
                .unwrap()
                .unwrap()
                .status,
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
        let row = block_on(store.job(&tenant(), &job)).unwrap().unwrap();
        assert_eq!(
            (row.status, row.error.as_deref()),
            (JobStatus::Queued, Some("AI busy"))
        );
        let again = block_on(store.acquire_lease(&job, "b", T0 + 6_000, LEASE)).unwrap();
        assert_eq!(leased(again).attempt, 2);
    }

    #[test]
    fn dead_lettered_job_fails_unless_finished_or_actively_leased() {
        let (store, _, job) = store_with_job();
        block_on(store.acquire_lease(&job, "a", T0, LEASE)).unwrap();
        assert!(!block_on(store.fail_dead_lettered(&job, "gone", T0 + 1)).unwrap());
        assert!(block_on(store.fail_dead_lettered(&job, "gone", T0 + LEASE + 1)).unwrap());
        let row = block_on(store.job(&tenant(), &job)).unwrap().unwrap();
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
            block_on(store.create_job(
                &tenant(),
                &doc,
                &JobId::new(),
                &request,
                &Quotas::default(),
                T0
            )),
            Ok(NewJob::InProgress { job_id: first })
        );
        block_on(store.acquire_lease(&first, "a", T0, LEASE)).unwrap();
        block_on(store.complete(&first, "a", &completion("one"), &NO_USAGE, T0)).unwrap();
        let second = JobId::new();
        assert_eq!(
            block_on(store.create_job(&tenant(), &doc, &second, &request, &Quotas::default(), T0)),
            Ok(NewJob::TooSoon {
                retry_after_seconds: 60
            })
        );
        let later = T0 + 60_000;
        assert_eq!(
            block_on(store.create_job(
                &tenant(),
                &doc,
                &second,
                &request,
                &Quotas::default(),
                later
            )),
            Ok(NewJob::Created)
        );
        assert_eq!(
            block_on(store.job(&tenant(), &second))
                .unwrap()
                .unwrap()
                .status,
            JobStatus::Queued
        );
        let reprocessing =
            leased(block_on(store.acquire_lease(&second, "b", later, LEASE)).unwrap());
        assert_eq!((reprocessing.attempt, reprocessing.document_jobs), (1, 2));
        assert!(!reprocessing.first_run(), "the first job stored a text");
        assert_eq!(
            block_on(store.create_job(
                &tenant(),
                &DocumentId::new(),
                &JobId::new(),
                &request,
                &Quotas::default(),
                T0
            )),
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
        assert_eq!(block_on(store.job(&tenant(), &JobId::new())).unwrap(), None);
    }
}
