//! Uploads in flight and the documents they record: admitting an upload within its tenant's
//! quotas (the `uploads` marker), the transaction that records a document with its first job,
//! idempotency keys (unique per tenant).

use docpipe_jobs::{DocumentId, JobId, RequestId};
use serde::Deserialize;

use super::Store;
use super::tenants::{OverQuota, release_reservation, reserve_document};
use crate::auth::TenantId;
use crate::db::{DbError, Statement, retry_failed};
use crate::ports::{Clock, Database};
use crate::quota::Quotas;
use crate::time::{Millis, timestamp};

/// SQL inserting a document row (parameters as [`insert_document`] binds them) if `$guard`
/// holds, where `?1` is the document's id.
macro_rules! insert_document_where {
    ($guard:literal) => {
        concat!(
            "INSERT INTO documents (id, object_key, filename, content_type, size_bytes, sha256, \
             request_id, upload_ms, created_at, tenant_id, source_url, callback_url) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12 WHERE ",
            $guard
        )
    };
}
pub(super) use insert_document_where;

/// An upload about to stream its body into storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUpload {
    pub tenant: TenantId,
    pub document: DocumentId,
    pub object_key: String,
    pub request_id: RequestId,
    /// Bytes the upload declares; counted against the tenant's bytes per day.
    pub size: u64,
}

/// A document row to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDocument {
    pub id: DocumentId,
    pub tenant: TenantId,
    pub object_key: String,
    pub filename: Option<String>,
    pub content_type: String,
    pub size_bytes: u64,
    pub sha256: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_id: RequestId,
    pub upload_ms: Option<i64>,
    /// The URL a fetched document came from.
    pub source_url: Option<String>,
    /// Where the document's webhook events also go.
    pub callback_url: Option<String>,
}

/// A document found by its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IdempotentUpload {
    pub document_id: DocumentId,
    /// The document's first job; `None` only for a row written by hand.
    pub job_id: Option<JobId>,
    pub sha256: Option<String>,
    pub size_bytes: u64,
}

impl<D: Database> Store<D> {
    /// Admits an upload within its tenant's quotas and notes that it is under way, before its
    /// bytes go to storage: the quota counters and the `uploads` row change in one transaction,
    /// so concurrent uploads at the edge of a quota cannot both get in. Until
    /// [`Store::create_document`] records the document, the row marks a possible orphan object.
    pub async fn begin_upload(
        &self,
        upload: &NewUpload,
        quotas: &Quotas,
        now: Millis,
    ) -> Result<Result<(), OverQuota>, DbError> {
        let reserve = reserve_document(&upload.tenant, now, upload.size, quotas);
        // Only when the reservation changed a row (`changes()` is the statement before's).
        let mark = Statement::new(
            "INSERT INTO uploads (document_id, object_key, request_id, created_at, tenant_id, \
             size_bytes) SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE changes() = 1",
            vec![
                upload.document.into(),
                upload.object_key.clone().into(),
                (&upload.request_id).into(),
                timestamp(now).into(),
                upload.tenant.as_str().into(),
                upload.size.into(),
            ],
        );
        let changes = self.db.batch(vec![reserve, mark]).await?;
        if changes.last().copied().unwrap_or(0) == 1 {
            return Ok(Ok(()));
        }
        Ok(Err(self
            .over_quota(&upload.tenant, quotas, upload.size, now)
            .await?))
    }

    /// [`Store::begin_upload`], tried again after each pause in `pauses_ms` while the database
    /// fails. A try after a failed one first checks whether that one landed.
    pub async fn begin_upload_retrying<C: Clock>(
        &self,
        upload: &NewUpload,
        quotas: &Quotas,
        clock: &C,
        pauses_ms: &[u64],
    ) -> Result<Result<(), OverQuota>, DbError> {
        retry_failed(clock, pauses_ms, |try_number| async move {
            if try_number > 0 && self.upload_begun(&upload.document).await? {
                return Ok(Ok(()));
            }
            self.begin_upload(upload, quotas, clock.now_ms()).await
        })
        .await
    }

    async fn upload_begun(&self, document: &DocumentId) -> Result<bool, DbError> {
        let rows: Vec<serde_json::Value> = self
            .db
            .query(Statement::new(
                "SELECT 1 AS found FROM uploads WHERE document_id = ?1",
                vec![document.into()],
            ))
            .await?;
        Ok(!rows.is_empty())
    }

    /// Forgets an upload that failed after its object was deleted, and gives back what it
    /// counted against its tenant's quotas.
    /// Turns an upload's reservation of `reserved` bytes into the `size` that arrived: the
    /// difference goes back to (or, never more than reserved, comes from) the tenant's day.
    pub async fn settle_upload_size(
        &self,
        document: &DocumentId,
        reserved: u64,
        size: u64,
    ) -> Result<(), DbError> {
        let give_back = Statement::new(
            "UPDATE tenant_usage SET bytes = MAX(bytes - ?2 + ?3, 0) \
             WHERE (tenant_id, day) = (SELECT tenant_id, substr(created_at, 1, 10) FROM uploads \
             WHERE document_id = ?1) \
             AND (SELECT size_bytes FROM uploads WHERE document_id = ?1) = ?2",
            vec![document.into(), reserved.into(), size.into()],
        );
        let resize = Statement::new(
            "UPDATE uploads SET size_bytes = ?2 WHERE document_id = ?1",
            vec![document.into(), size.into()],
        );
        self.db.batch(vec![give_back, resize]).await?;
        Ok(())
    }

    /// Notes that an upload is still streaming, so the sweep leaves it alone.
    pub async fn upload_alive(&self, document: &DocumentId, now: Millis) -> Result<(), DbError> {
        self.db
            .execute(Statement::new(
                "UPDATE uploads SET alive_at = ?2 WHERE document_id = ?1",
                vec![document.into(), timestamp(now).into()],
            ))
            .await?;
        Ok(())
    }

    pub async fn abandon_upload(&self, document: &DocumentId) -> Result<(), DbError> {
        let forget = Statement::new(
            "DELETE FROM uploads WHERE document_id = ?1",
            vec![document.into()],
        );
        self.db
            .batch(vec![release_reservation(document), forget])
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
        let insert_document = insert_document(
            document,
            &now,
            insert_document_where!("EXISTS (SELECT 1 FROM uploads WHERE document_id = ?1)"),
        );
        let mut statements = vec![insert_document];
        if let Some(key) = &document.idempotency_key {
            statements.push(Statement::new(
                "INSERT INTO idempotency_keys (tenant_id, key, document_id) \
                 SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM documents WHERE id = ?3)",
                vec![
                    document.tenant.as_str().into(),
                    key.clone().into(),
                    document.id.into(),
                ],
            ));
        }
        statements.push(insert_job(job_id, document, &now));
        statements.push(Statement::new(
            "DELETE FROM uploads WHERE document_id = ?1",
            vec![document.id.into()],
        ));
        let changes = self.db.batch(statements).await?;
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
                vec![job.into(), document.into()],
            ))
            .await?;
        Ok(!rows.is_empty())
    }

    /// The tenant's document recorded under an idempotency key, with its first job.
    pub async fn upload_by_idempotency_key(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<Option<IdempotentUpload>, DbError> {
        let rows = self
            .db
            .query(Statement::new(
                "SELECT d.id AS document_id, \
                 (SELECT j.id FROM jobs j WHERE j.document_id = d.id ORDER BY j.id LIMIT 1) AS job_id, \
                 d.sha256, d.size_bytes FROM idempotency_keys k JOIN documents d ON d.id = k.document_id \
                 WHERE k.tenant_id = ?1 AND k.key = ?2",
                vec![tenant.as_str().into(), key.into()],
            ))
            .await?;
        Ok(rows.into_iter().next())
    }
}

/// A document row, inserted by `sql` (from [`insert_document_where`]).
pub(super) fn insert_document(document: &NewDocument, now: &str, sql: &'static str) -> Statement {
    Statement::new(
        sql,
        vec![
            document.id.into(),
            document.object_key.clone().into(),
            document.filename.clone().into(),
            document.content_type.clone().into(),
            document.size_bytes.into(),
            document.sha256.clone().into(),
            (&document.request_id).into(),
            document.upload_ms.into(),
            now.into(),
            document.tenant.as_str().into(),
            document.source_url.clone().into(),
            document.callback_url.clone().into(),
        ],
    )
}

/// Inserts a `queued` job if its document exists (in the same transaction, the document insert
/// may have been skipped).
pub(super) fn insert_job(job: &JobId, document: &NewDocument, now: &str) -> Statement {
    Statement::new(
        "INSERT INTO jobs (id, document_id, status, attempts, available_at, request_id, \
         created_at, updated_at, tenant_id) SELECT ?1, ?2, 'queued', 0, ?3, ?4, ?3, ?3, ?5 \
         WHERE EXISTS (SELECT 1 FROM documents WHERE id = ?2)",
        vec![
            job.into(),
            document.id.into(),
            now.into(),
            (&document.request_id).into(),
            document.tenant.as_str().into(),
        ],
    )
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use pollster::block_on;

    use super::*;
    use crate::auth::TenantId;
    use crate::quota::Quota;
    use crate::sqlite::{ManualClock, ShakyWrites, Sqlite};
    use crate::store::OverQuota;
    use crate::store::fixtures::*;

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
    fn recording_closes_the_upload() {
        let (store, _, _) = store_with_job();
        assert_eq!(
            store.database().scalar_i64("SELECT COUNT(*) FROM uploads"),
            0
        );
    }

    /// An upload that has begun, then a database whose next `failures` transactions fail
    /// (after committing, with `landing`); and a clock for retries.
    fn begun_then_shaky(
        failures: u32,
        landing: bool,
    ) -> (Store<ShakyWrites>, NewDocument, ManualClock) {
        let store = Store::new(Sqlite::migrated());
        let doc = document(DocumentId::new());
        begin(&store, &doc);
        let db = ShakyWrites {
            landing,
            ..ShakyWrites::new(store.into_database(), failures)
        };
        (Store::new(db), doc, ManualClock(Cell::new(T0)))
    }

    fn counts(db: &Sqlite) -> [i64; 3] {
        ["documents", "jobs", "uploads"]
            .map(|t| db.scalar_i64(&format!("SELECT COUNT(*) FROM {t}")))
    }

    #[test]
    fn recording_a_document_is_retried_while_the_database_is_locked() {
        let (store, doc, clock) = begun_then_shaky(2, false);
        let recorded =
            block_on(store.create_document_retrying(&doc, &JobId::new(), &clock, &[50, 200, 800]));
        assert_eq!(recorded, Ok(true));
        assert_eq!(clock.now_ms(), T0 + 250, "slept 50 + 200 ms");
        assert_eq!(counts(&store.database().inner), [1, 1, 0]);
    }

    #[test]
    fn a_recording_whose_answer_was_lost_is_not_written_twice() {
        let (store, doc, clock) = begun_then_shaky(1, true);
        let job = JobId::new();
        assert_eq!(
            block_on(store.create_document_retrying(&doc, &job, &clock, &[50])),
            Ok(true)
        );
        assert_eq!(counts(&store.database().inner), [1, 1, 0]);
    }

    #[test]
    fn recording_gives_up_after_its_pauses() {
        let (store, doc, clock) = begun_then_shaky(10, false);
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
    fn a_begun_upload_whose_answer_was_lost_is_begun_and_counted_once() {
        let store = Store::new(ShakyWrites {
            landing: true,
            ..ShakyWrites::new(Sqlite::migrated(), 1)
        });
        let doc = document(DocumentId::new());
        let clock = ManualClock(Cell::new(T0));
        let begun = block_on(store.begin_upload_retrying(
            &new_upload(&doc),
            &Quotas::default(),
            &clock,
            &[50],
        ));
        assert_eq!(begun, Ok(Ok(())));
        let db = &store.database().inner;
        assert_eq!(counts(db), [0, 0, 1]);
        assert_eq!(db.scalar_i64("SELECT documents FROM tenant_usage"), 1);
    }

    fn quotas(documents_per_day: u64, bytes_per_day: u64, jobs_in_flight: u64) -> Quotas {
        Quotas {
            documents_per_day,
            bytes_per_day,
            jobs_in_flight,
            tokens_per_day: 1_000,
            ..Quotas::default()
        }
    }

    fn begin_new(store: &Store<Sqlite>, limits: &Quotas) -> Result<(), OverQuota> {
        let doc = document(DocumentId::new());
        block_on(store.begin_upload(&new_upload(&doc), limits, T0)).unwrap()
    }

    #[test]
    fn uploads_are_admitted_up_to_the_documents_and_bytes_of_the_day() {
        let store = Store::new(Sqlite::migrated());
        let limits = quotas(2, 1_000, 100);
        assert_eq!(begin_new(&store, &limits), Ok(()));
        assert_eq!(begin_new(&store, &limits), Ok(()));
        assert_eq!(
            begin_new(&store, &limits),
            Err(OverQuota {
                quota: Quota::DocumentsPerDay,
                used: 2,
                limit: 2
            })
        );
        assert_eq!(
            counts(store.database()),
            [0, 0, 2],
            "the refused one left nothing"
        );
        let bytes = quotas(10, 100, 100);
        let other = Store::new(Sqlite::migrated());
        assert_eq!(begin_new(&other, &bytes), Ok(()), "42 bytes");
        assert_eq!(begin_new(&other, &bytes), Ok(()), "84 bytes");
        assert_eq!(
            begin_new(&other, &bytes).map_err(|e| e.quota),
            Err(Quota::BytesPerDay)
        );
    }

    #[test]
    fn jobs_and_uploads_in_flight_count_against_their_quota() {
        let store = Store::new(Sqlite::migrated());
        let limits = quotas(100, 100_000, 2);
        let (_, job) = (DocumentId::new(), JobId::new());
        assert_eq!(upload(&store, &document(DocumentId::new()), &job), Ok(true));
        assert_eq!(begin_new(&store, &limits), Ok(()), "one job and one upload");
        assert_eq!(
            begin_new(&store, &limits).map_err(|e| e.quota),
            Err(Quota::JobsInFlight)
        );
        store
            .database()
            .run_sql("UPDATE jobs SET status = 'succeeded'");
        assert_eq!(
            begin_new(&store, &limits),
            Ok(()),
            "a finished job frees its place"
        );
    }

    #[test]
    fn a_tenants_own_limit_overrides_the_default() {
        let store = Store::new(Sqlite::migrated());
        block_on(store.set_quotas(&tenant(), Some(1), None, None, None)).unwrap();
        let generous = quotas(100, 100_000, 100);
        assert_eq!(begin_new(&store, &generous), Ok(()));
        assert_eq!(
            begin_new(&store, &generous),
            Err(OverQuota {
                quota: Quota::DocumentsPerDay,
                used: 1,
                limit: 1
            })
        );
    }

    #[test]
    fn an_abandoned_upload_gives_its_reservation_back() {
        let store = Store::new(Sqlite::migrated());
        let limits = quotas(1, 1_000, 100);
        let doc = document(DocumentId::new());
        assert_eq!(
            block_on(store.begin_upload(&new_upload(&doc), &limits, T0)).unwrap(),
            Ok(())
        );
        block_on(store.abandon_upload(&doc.id)).unwrap();
        let db = store.database();
        assert_eq!(
            db.scalar_i64("SELECT documents + bytes FROM tenant_usage"),
            0
        );
        assert_eq!(begin_new(&store, &limits), Ok(()), "room again");
    }

    #[test]
    fn idempotency_key_finds_the_document_and_its_first_job_and_is_unique() {
        let store = Store::new(Sqlite::migrated());
        let mut doc = document(DocumentId::new());
        doc.idempotency_key = Some("key-1".into());
        doc.sha256 = Some("ab".repeat(32));
        let job = JobId::new();
        assert_eq!(upload(&store, &doc, &job), Ok(true));
        block_on(store.create_job(
            &tenant(),
            &doc.id,
            &JobId::new(),
            &doc.request_id,
            &Quotas::default(),
            T0,
        ))
        .unwrap();

        let found = block_on(store.upload_by_idempotency_key(&tenant(), "key-1"))
            .unwrap()
            .unwrap();
        assert_eq!(found.document_id, doc.id);
        assert_eq!(found.job_id, Some(job));
        assert_eq!(found.sha256, doc.sha256);
        assert_eq!(found.size_bytes, 42);
        assert_eq!(
            block_on(store.upload_by_idempotency_key(&tenant(), "key-2")),
            Ok(None)
        );

        let mut again = document(DocumentId::new());
        again.idempotency_key = Some("key-1".into());
        let err = upload(&store, &again, &JobId::new());
        assert!(matches!(err, Err(DbError::Constraint(_))), "{err:?}");
    }

    #[test]
    fn an_upload_key_is_authenticated_with_what_its_idempotency_key_names() {
        use crate::auth::{Scope, key_from_bytes, key_hash};
        let store = Store::new(Sqlite::migrated());
        let acme = TenantId::parse("acme").unwrap();
        let (ours, theirs) = (key_from_bytes(&[1; 32]), key_from_bytes(&[2; 32]));
        let our_id = block_on(store.create_key(&tenant(), "ours", &ours, "write", T0)).unwrap();
        block_on(store.create_key(&acme, "theirs", &theirs, "read", T0)).unwrap();
        let mut doc = document(DocumentId::new());
        doc.idempotency_key = Some("key-1".into());
        doc.sha256 = Some("cd".repeat(32));
        let job = JobId::new();
        assert_eq!(upload(&store, &doc, &job), Ok(true));

        let (caller, original) = block_on(store.authenticate(&key_hash(&ours), Some("key-1")))
            .unwrap()
            .unwrap();
        assert_eq!(
            (caller.key_id.as_str(), &caller.tenant),
            (our_id.as_str(), &tenant())
        );
        assert!(caller.scopes.allows(Scope::Write));
        let looked_up = block_on(store.upload_by_idempotency_key(&tenant(), "key-1")).unwrap();
        assert_eq!(
            original, looked_up,
            "the same answer as the lookup on its own"
        );
        assert_eq!(
            original.map(|o| (o.document_id, o.job_id)),
            Some((doc.id, Some(job)))
        );

        // A key nobody used yet, another tenant's key, an unknown or revoked API key.
        let fresh = block_on(store.authenticate(&key_hash(&ours), Some("key-2"))).unwrap();
        assert_eq!(
            fresh.map(|(caller, original)| (caller.tenant, original)),
            Some((tenant(), None))
        );
        let other = block_on(store.authenticate(&key_hash(&theirs), Some("key-1"))).unwrap();
        assert_eq!(
            other.map(|(caller, original)| (caller.tenant, original)),
            Some((acme, None))
        );
        let unknown = key_hash(&key_from_bytes(&[3; 32]));
        assert_eq!(
            block_on(store.authenticate(&unknown, Some("key-1"))),
            Ok(None)
        );
        assert!(block_on(store.revoke_key(&our_id, T0)).unwrap());
        assert_eq!(
            block_on(store.authenticate(&key_hash(&ours), Some("key-1"))),
            Ok(None)
        );
    }

    #[test]
    fn another_tenant_cannot_see_or_reuse_a_tenants_rows() {
        let store = Store::new(Sqlite::migrated());
        let acme = TenantId::parse("acme").unwrap();
        let mut doc = document(DocumentId::new());
        doc.idempotency_key = Some("invoice-2026-0001".into());
        let job = JobId::new();
        assert_eq!(upload(&store, &doc, &job), Ok(true));

        assert_eq!(block_on(store.job(&acme, &job)), Ok(None));
        assert_eq!(
            block_on(store.latest_summary(&acme, &doc.id)),
            Ok(crate::store::SummaryLookup::NoSuchDocument)
        );
        assert_eq!(block_on(store.document(&acme, &doc.id)), Ok(None));
        assert_eq!(
            block_on(store.upload_by_idempotency_key(&acme, "invoice-2026-0001")),
            Ok(None),
            "a guessed key reveals nothing of another tenant"
        );
        let refused = block_on(store.create_job(
            &acme,
            &doc.id,
            &JobId::new(),
            &doc.request_id,
            &Quotas::default(),
            T0,
        ));
        assert_eq!(refused, Ok(crate::store::NewJob::NoSuchDocument));

        // The same key is free in another tenant.
        let mut theirs = document(DocumentId::new());
        theirs.tenant = acme.clone();
        theirs.idempotency_key = Some("invoice-2026-0001".into());
        assert_eq!(upload(&store, &theirs, &JobId::new()), Ok(true));
        let found = block_on(store.upload_by_idempotency_key(&acme, "invoice-2026-0001"))
            .unwrap()
            .unwrap();
        assert_eq!(found.document_id, theirs.id);
        assert_eq!(
            store
                .database()
                .scalar_i64("SELECT COUNT(DISTINCT tenant_id) FROM jobs"),
            2
        );
    }
}
