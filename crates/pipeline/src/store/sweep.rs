//! What the scheduled sweep asks of D1: jobs whose message may be lost, and uploads that never
//! recorded their document.

use docpipe_jobs::{DocumentId, JobId, JobMessage, RequestId};
use serde::Deserialize;

use super::Store;
use crate::db::{DbError, Statement};
use crate::ports::Database;
use crate::time::{Millis, timestamp};

/// A job the sweep re-enqueues.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DueJob {
    pub job_id: JobId,
    pub document_id: DocumentId,
    /// As stored: a request id is only carried into logs, so one written by hand that does
    /// not parse is replaced rather than allowed to stop the sweep.
    pub request_id: String,
}

impl DueJob {
    /// The message that re-enqueues the job.
    pub fn message(&self) -> JobMessage {
        JobMessage::new(self.job_id, self.document_id, self.request())
    }

    /// The message that re-enqueues a job still in its fetching stage.
    pub fn fetch_message(&self) -> JobMessage {
        JobMessage::to_fetch(self.job_id, self.document_id, self.request())
    }

    fn request(&self) -> RequestId {
        RequestId::parse(&self.request_id).unwrap_or_else(|_| RequestId::generate())
    }
}

/// A document past its tenant's retention.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExpiredDocument {
    pub id: DocumentId,
    pub tenant_id: crate::auth::TenantId,
}

/// An upload that never finished: its object (if any) is an orphan.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StaleUpload {
    pub document_id: DocumentId,
    pub object_key: String,
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
        self.claim(
            "UPDATE jobs SET available_at = ?1 WHERE id IN (SELECT id FROM jobs \
             WHERE (status = 'queued' AND available_at <= ?2) \
             OR (status = 'processing' AND lease_expires_at <= ?1 AND available_at <= ?2) \
             ORDER BY available_at LIMIT ?3) \
             RETURNING id AS job_id, document_id, request_id",
            now,
            grace_ms,
            limit,
        )
        .await
    }

    /// [`Store::claim_due_jobs`] for jobs still in their fetching stage.
    pub async fn claim_due_fetches(
        &self,
        now: Millis,
        grace_ms: i64,
        limit: u32,
    ) -> Result<Vec<DueJob>, DbError> {
        self.claim(
            "UPDATE fetches SET available_at = ?1 WHERE job_id IN (SELECT job_id FROM fetches \
             WHERE (status = 'queued' AND available_at <= ?2) \
             OR (status = 'fetching' AND lease_expires_at <= ?1 AND available_at <= ?2) \
             ORDER BY available_at LIMIT ?3) \
             RETURNING job_id, document_id, request_id",
            now,
            grace_ms,
            limit,
        )
        .await
    }

    /// Runs a claiming `sql` whose `?1` is now, `?2` the grace cutoff and `?3` the limit.
    async fn claim(
        &self,
        sql: &'static str,
        now: Millis,
        grace_ms: i64,
        limit: u32,
    ) -> Result<Vec<DueJob>, DbError> {
        self.db
            .query(Statement::new(
                sql,
                vec![
                    timestamp(now).into(),
                    timestamp(now - grace_ms).into(),
                    limit.into(),
                ],
            ))
            .await
    }

    /// Up to `limit` documents older than their tenant's retention (`default_days` where the
    /// tenant sets none; 0 keeps documents), oldest first.
    pub async fn expired_documents(
        &self,
        now: Millis,
        default_days: u32,
        limit: u32,
    ) -> Result<Vec<ExpiredDocument>, DbError> {
        self.db
            .query(Statement::new(
                "SELECT d.id, d.tenant_id FROM documents d LEFT JOIN tenants t ON t.id = d.tenant_id \
                 WHERE COALESCE(t.retention_days, ?2) > 0 AND d.created_at < \
                 strftime('%Y-%m-%dT%H:%M:%fZ', ?1, '-' || COALESCE(t.retention_days, ?2) || ' days') \
                 ORDER BY d.id LIMIT ?3",
                vec![timestamp(now).into(), default_days.into(), limit.into()],
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
                "SELECT document_id, object_key FROM uploads \
                 WHERE COALESCE(alive_at, created_at) <= ?1 ORDER BY created_at LIMIT ?2",
                vec![timestamp(cutoff).into(), limit.into()],
            ))
            .await
    }

    /// Forgets uploads whose objects are gone, giving back what they counted against their
    /// tenants' quotas.
    pub async fn forget_uploads(&self, documents: &[DocumentId]) -> Result<u64, DbError> {
        let ids = serde_json::to_string(documents).map_err(|e| DbError::Decode(e.to_string()))?;
        let release = Statement::new(
            "UPDATE tenant_usage SET documents = MAX(documents - gone.n, 0), \
             bytes = MAX(bytes - gone.b, 0) \
             FROM (SELECT tenant_id, substr(created_at, 1, 10) AS day, COUNT(*) AS n, \
             SUM(size_bytes) AS b FROM uploads \
             WHERE document_id IN (SELECT value FROM json_each(?1)) GROUP BY 1, 2) AS gone \
             WHERE tenant_usage.tenant_id = gone.tenant_id AND tenant_usage.day = gone.day",
            vec![ids.clone().into()],
        );
        let forget = Statement::new(
            "DELETE FROM uploads WHERE document_id IN (SELECT value FROM json_each(?1))",
            vec![ids.into()],
        );
        let changes = self.db.batch(vec![release, forget]).await?;
        Ok(changes.last().copied().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use pollster::block_on;

    use super::*;
    use crate::sqlite::Sqlite;
    use crate::store::fixtures::*;

    #[test]
    fn upload_swept_as_orphan_records_nothing() {
        let store = Store::new(Sqlite::migrated());
        let doc = document(DocumentId::new());
        begin(&store, &doc);
        let stale = block_on(store.stale_uploads(T0, 10)).unwrap();
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].object_key, doc.object_key);
        assert_eq!(
            block_on(store.forget_uploads(&[stale[0].document_id])),
            Ok(1)
        );
        assert_eq!(
            store
                .database()
                .scalar_i64("SELECT documents + bytes FROM tenant_usage"),
            0,
            "the orphan's reservation is given back"
        );

        assert_eq!(
            block_on(store.create_document(&doc, &JobId::new(), T0)),
            Ok(false)
        );
        let db = store.database();
        assert_eq!(db.scalar_i64("SELECT COUNT(*) FROM documents"), 0);
        assert_eq!(db.scalar_i64("SELECT COUNT(*) FROM jobs"), 0);
    }

    #[test]
    fn an_upload_is_stale_once_it_has_not_been_heard_of_since_the_cutoff() {
        let store = Store::new(Sqlite::migrated());
        let (alive, silent) = (document(DocumentId::new()), document(DocumentId::new()));
        begin(&store, &alive);
        begin(&store, &silent);
        block_on(store.upload_alive(&alive.id, T0 + 100_000)).unwrap();
        let stale = block_on(store.stale_uploads(T0 + 50_000, 10)).unwrap();
        assert_eq!(
            stale.iter().map(|u| u.document_id).collect::<Vec<_>>(),
            [silent.id],
            "begun before the cutoff, but the alive one spoke since"
        );
        let stale = block_on(store.stale_uploads(T0 + 100_000, 10)).unwrap();
        assert_eq!(stale.len(), 2);
    }

    #[test]
    fn uploads_newer_than_the_cutoff_are_not_stale() {
        let store = Store::new(Sqlite::migrated());
        begin(&store, &document(DocumentId::new()));
        assert!(
            block_on(store.stale_uploads(T0 - 1, 10))
                .unwrap()
                .is_empty()
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
        let mut claimed: Vec<JobId> = block_on(store.claim_due_jobs(now, grace, 100))
            .unwrap()
            .into_iter()
            .map(|due| due.job_id)
            .collect();
        claimed.sort();
        let mut expected = vec![jobs[0], jobs[1]];
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
}
