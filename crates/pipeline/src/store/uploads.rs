//! Uploads in flight and the documents they record: the `uploads` marker, the transaction that
//! records a document with its first job, idempotency keys.

use docpipe_jobs::{DocumentId, JobId, RequestId};
use serde::Deserialize;

use super::Store;
use crate::db::{DbError, Statement, retry_failed};
use crate::ports::{Clock, Database};
use crate::time::{Millis, timestamp};

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
                    document.into(),
                    document.object_key().into(),
                    request_id.into(),
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
                vec![document.into()],
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
                document.id.into(),
                document.id.object_key().into(),
                document.filename.clone().into(),
                document.content_type.clone().into(),
                document.size_bytes.into(),
                document.sha256.clone().into(),
                document.idempotency_key.clone().into(),
                (&document.request_id).into(),
                document.upload_ms.into(),
                now.clone().into(),
            ],
        );
        let insert_job = insert_job(job_id, &document.id, &document.request_id, &now);
        let close_upload = Statement::new(
            "DELETE FROM uploads WHERE document_id = ?1",
            vec![document.id.into()],
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
                vec![job.into(), document.into()],
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
}

/// Inserts a `queued` job if its document exists (in the same transaction, the document insert
/// may have been skipped).
fn insert_job(job: &JobId, document: &DocumentId, request: &RequestId, now: &str) -> Statement {
    Statement::new(
        "INSERT INTO jobs (id, document_id, status, attempts, available_at, request_id, \
         created_at, updated_at) SELECT ?1, ?2, 'queued', 0, ?3, ?4, ?3, ?3 \
         WHERE EXISTS (SELECT 1 FROM documents WHERE id = ?2)",
        vec![job.into(), document.into(), now.into(), request.into()],
    )
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use pollster::block_on;

    use super::*;
    use crate::sqlite::{ManualClock, ShakyWrites, Sqlite};
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

    fn shaky_store(failures: u32, landing: bool) -> Store<ShakyWrites> {
        Store::new(ShakyWrites {
            landing,
            ..ShakyWrites::new(Sqlite::migrated(), failures)
        })
    }

    /// A store whose uploads begin; the new document and a clock for retries.
    fn begun<D: Database>(store: &Store<D>) -> (NewDocument, ManualClock) {
        let doc = document(DocumentId::new());
        block_on(store.begin_upload(&doc.id, &doc.request_id, T0)).unwrap();
        (doc, ManualClock(Cell::new(T0)))
    }

    fn counts(db: &Sqlite) -> [i64; 3] {
        ["documents", "jobs", "uploads"]
            .map(|t| db.scalar_i64(&format!("SELECT COUNT(*) FROM {t}")))
    }

    #[test]
    fn recording_a_document_is_retried_while_the_database_is_locked() {
        let store = shaky_store(2, false);
        let (doc, clock) = begun(&store);
        let recorded =
            block_on(store.create_document_retrying(&doc, &JobId::new(), &clock, &[50, 200, 800]));
        assert_eq!(recorded, Ok(true));
        assert_eq!(clock.now_ms(), T0 + 250, "slept 50 + 200 ms");
        assert_eq!(counts(&store.database().inner), [1, 1, 0]);
    }

    #[test]
    fn a_recording_whose_answer_was_lost_is_not_written_twice() {
        let store = shaky_store(1, true);
        let (doc, clock) = begun(&store);
        let job = JobId::new();
        assert_eq!(
            block_on(store.create_document_retrying(&doc, &job, &clock, &[50])),
            Ok(true)
        );
        assert_eq!(counts(&store.database().inner), [1, 1, 0]);
    }

    #[test]
    fn recording_gives_up_after_its_pauses() {
        let store = shaky_store(10, false);
        let (doc, clock) = begun(&store);
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
        assert_eq!(found.document_id, doc.id);
        assert_eq!(found.job_id, Some(job));
        assert_eq!(found.sha256, doc.sha256);
        assert_eq!(found.size_bytes, 42);
        assert_eq!(block_on(store.upload_by_idempotency_key("key-2")), Ok(None));

        let mut again = document(DocumentId::new());
        again.idempotency_key = Some("key-1".into());
        let err = upload(&store, &again, &JobId::new());
        assert!(matches!(err, Err(DbError::Constraint(_))), "{err:?}");
    }
}
