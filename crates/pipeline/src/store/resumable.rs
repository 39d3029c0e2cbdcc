//! Resumable uploads (tus): admitting one within its tenant's quotas, its offset and parts as
//! each `PATCH` lands, and the transaction that makes the completed object a document with
//! its `queued` job.

use docpipe_jobs::{DocumentId, JobId, RequestId};
use serde::Deserialize;

use super::Store;
use super::tenants::{OverQuota, reserve_document};
use super::uploads::{NewDocument, insert_document, insert_document_where, insert_job};
use crate::auth::TenantId;
use crate::db::{DbError, Statement};
use crate::ports::Database;
use crate::quota::Quotas;
use crate::time::{Millis, Timestamp, timestamp};

/// SQL reading [`ResumableRow`]s `WHERE $condition`.
macro_rules! select_resumable {
    ($condition:literal) => {
        concat!(
            "SELECT id, job_id, tenant_id, object_key, r2_upload_id, length, upload_offset, \
             part_size, parts, filename, content_type, request_id, created_at, expires_at, \
             callback_url FROM resumable_uploads WHERE ",
            $condition
        )
    };
}

/// A resumable upload to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResumable {
    pub id: DocumentId,
    pub job: JobId,
    pub tenant: TenantId,
    pub object_key: String,
    pub r2_upload_id: String,
    pub length: u64,
    pub filename: Option<String>,
    pub content_type: String,
    pub request_id: RequestId,
    pub expires_at: Millis,
    /// Where the document's webhook events also go.
    pub callback_url: Option<String>,
}

/// A resumable upload as D1 holds it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResumableRow {
    pub id: DocumentId,
    pub job_id: JobId,
    pub tenant_id: TenantId,
    pub object_key: String,
    pub r2_upload_id: String,
    pub length: u64,
    pub upload_offset: u64,
    pub part_size: Option<u64>,
    /// JSON `[[part number, etag], …]`.
    pub parts: String,
    pub filename: Option<String>,
    pub content_type: String,
    pub request_id: RequestId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub callback_url: Option<String>,
}

impl ResumableRow {
    /// The parts stored so far, in order.
    pub fn parts(&self) -> Result<Vec<(u16, String)>, DbError> {
        serde_json::from_str(&self.parts).map_err(|e| DbError::Decode(e.to_string()))
    }
}

/// A part that landed: where the upload's offset goes from and to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandedPart {
    pub from: u64,
    pub to: u64,
    pub part_size: u64,
    pub number: u16,
    pub etag: String,
}

impl<D: Database> Store<D> {
    /// Admits a resumable upload within its tenant's quotas (a document of its whole length)
    /// and records it, in one transaction.
    pub async fn begin_resumable(
        &self,
        upload: &NewResumable,
        quotas: &Quotas,
        now: Millis,
    ) -> Result<Result<(), OverQuota>, DbError> {
        let reserve = reserve_document(&upload.tenant, now, upload.length, quotas);
        let now_text = timestamp(now);
        let record = Statement::new(
            "INSERT INTO resumable_uploads (id, job_id, tenant_id, object_key, r2_upload_id, \
             length, filename, content_type, request_id, created_at, updated_at, expires_at, \
             callback_url) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12 WHERE changes() = 1",
            vec![
                upload.id.into(),
                upload.job.into(),
                upload.tenant.as_str().into(),
                upload.object_key.clone().into(),
                upload.r2_upload_id.clone().into(),
                upload.length.into(),
                upload.filename.clone().into(),
                upload.content_type.clone().into(),
                (&upload.request_id).into(),
                now_text.into(),
                timestamp(upload.expires_at).into(),
                upload.callback_url.clone().into(),
            ],
        );
        let changes = self.db.batch(vec![reserve, record]).await?;
        if changes.last().copied().unwrap_or(0) == 1 {
            return Ok(Ok(()));
        }
        Ok(Err(self
            .over_quota(&upload.tenant, quotas, upload.length, now)
            .await?))
    }

    /// The tenant's resumable upload.
    pub async fn resumable(
        &self,
        tenant: &TenantId,
        id: &DocumentId,
    ) -> Result<Option<ResumableRow>, DbError> {
        let rows = self
            .db
            .query(Statement::new(
                select_resumable!("id = ?1 AND tenant_id = ?2"),
                vec![id.into(), tenant.as_str().into()],
            ))
            .await?;
        Ok(rows.into_iter().next())
    }

    /// Moves the upload's offset past a part that landed, if nobody moved it meanwhile, and
    /// pushes its expiry to `expires_at`.
    pub async fn record_part(
        &self,
        id: &DocumentId,
        part: &LandedPart,
        now: Millis,
        expires_at: Millis,
    ) -> Result<bool, DbError> {
        let changes = self
            .db
            .execute(Statement::new(
                "UPDATE resumable_uploads SET upload_offset = ?3, part_size = ?4, \
                 parts = json_insert(parts, '$[#]', json_array(CAST(?5 AS INTEGER), ?6)), updated_at = ?7, \
                 expires_at = ?8 WHERE id = ?1 AND upload_offset = ?2",
                vec![
                    id.into(),
                    part.from.into(),
                    part.to.into(),
                    part.part_size.into(),
                    u32::from(part.number).into(),
                    part.etag.clone().into(),
                    timestamp(now).into(),
                    timestamp(expires_at).into(),
                ],
            ))
            .await?;
        Ok(changes == 1)
    }

    /// Records the completed upload as its document with its `queued` job and forgets the
    /// upload, in one transaction. `false` when the upload was gone (terminated or expired).
    pub async fn complete_resumable(
        &self,
        document: &NewDocument,
        job: &JobId,
        now: Millis,
    ) -> Result<bool, DbError> {
        let now_text = timestamp(now);
        let insert = insert_document(
            document,
            &now_text,
            insert_document_where!("EXISTS (SELECT 1 FROM resumable_uploads WHERE id = ?1)"),
        );
        let forget = Statement::new(
            "DELETE FROM resumable_uploads WHERE id = ?1",
            vec![document.id.into()],
        );
        let changes = self
            .db
            .batch(vec![insert, insert_job(job, document, &now_text), forget])
            .await?;
        Ok(changes.first().copied().unwrap_or(0) == 1)
    }

    /// Forgets an upload that will not complete, giving back what it counted against its
    /// tenant's quotas. `false` when it was already gone.
    pub async fn forget_resumable(&self, id: &DocumentId) -> Result<bool, DbError> {
        let release = Statement::new(
            "UPDATE tenant_usage SET documents = MAX(documents - 1, 0), \
             bytes = MAX(bytes - (SELECT length FROM resumable_uploads WHERE id = ?1), 0) \
             WHERE (tenant_id, day) = (SELECT tenant_id, substr(created_at, 1, 10) \
             FROM resumable_uploads WHERE id = ?1)",
            vec![id.into()],
        );
        let forget = Statement::new(
            "DELETE FROM resumable_uploads WHERE id = ?1",
            vec![id.into()],
        );
        let changes = self.db.batch(vec![release, forget]).await?;
        Ok(changes.last().copied().unwrap_or(0) == 1)
    }

    /// Uploads that expired before `now`, oldest first.
    pub async fn expired_resumables(
        &self,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<ResumableRow>, DbError> {
        self.db
            .query(Statement::new(
                select_resumable!("expires_at <= ?1 ORDER BY expires_at LIMIT ?2"),
                vec![timestamp(now).into(), limit.into()],
            ))
            .await
    }
}
