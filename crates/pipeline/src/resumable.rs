//! Resumable uploads past the request size limit: the tus 1.0.0 protocol (core, creation,
//! creation-with-upload, termination, expiration) at `/v1/uploads`.
//!
//! Each `PATCH` is one part of an R2 multipart upload, streamed, its offset kept in D1. R2
//! wants every part but the last of one size, at least 5 MiB: the first `PATCH` that does not
//! finish the upload sets that size, and every later one but the last must carry exactly it
//! (tus clients that send fixed chunks, such as `tus-js-client` with `chunkSize`, do). A
//! `PATCH` whose body breaks off stores nothing; the client asks the offset with `HEAD` and
//! sends that part again. The last byte completes the object, which becomes a document (the
//! upload's id) with its `queued` job, exactly as an upload would. An upload that is not
//! finished by its `Upload-Expires` is aborted by the sweep and leaves nothing.

use std::collections::BTreeMap;

use base64::Engine;
use docpipe_jobs::{DocumentId, JobId, JobMessage, RequestId};
use tracing::{info, warn};

use crate::api::{ApiError, UploadAccepted};
use crate::auth::TenantId;
use crate::ingest::{body_error, quota_error, unavailable};
use crate::objects::document_key;
use crate::ports::{Clock, Database, JobQueue, MultipartStore};
use crate::quota::Quotas;
use crate::store::{LandedPart, NewDocument, NewResumable, ResumableRow, Store};
use crate::time::Millis;
use crate::upload::{self, ValidUpload};

/// The protocol version spoken.
pub const TUS_VERSION: &str = "1.0.0";
/// The extensions supported.
pub const TUS_EXTENSIONS: &str = "creation,creation-with-upload,termination,expiration,checksum";
/// The checksum algorithms a `PATCH` may carry (`Upload-Checksum`).
pub const TUS_CHECKSUM_ALGORITHMS: &str = "sha1,sha256";
/// R2's smallest part (but the last).
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
/// R2's largest part.
pub const MAX_PART_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// R2's most parts.
const MAX_PARTS: u64 = 10_000;

/// The media type of a `PATCH` body.
pub const OFFSET_STREAM: &str = "application/offset+octet-stream";

/// The length of the part a request carries (a `PATCH`, or a creation with upload): its body
/// must be [`OFFSET_STREAM`] with a `Content-Length`, since each part is stored as one.
pub fn part_length(headers: &TusHeaders<'_>) -> Result<u64, ApiError> {
    if !upload::essence_is(headers.content_type, OFFSET_STREAM) {
        return Err(ApiError::UnsupportedMediaType {
            reason: format!(
                "a PATCH body is `{OFFSET_STREAM}`, not `{}`",
                upload::essence(headers.content_type).unwrap_or("(none)")
            ),
            accepted: OFFSET_STREAM.into(),
        });
    }
    match number("Content-Length", headers.content_length)? {
        None => Err(invalid(
            "a PATCH needs Content-Length (each PATCH is one stored part)",
        )),
        Some(0) => Err(ApiError::EmptyBody),
        Some(length) => Ok(length),
    }
}

/// Whether a creation request carries a first part.
pub fn creation_has_part(headers: &TusHeaders<'_>) -> bool {
    !matches!(headers.content_length.map(str::trim), None | Some("0"))
}

/// A `PATCH`'s `Upload-Offset`.
pub fn patch_offset(headers: &TusHeaders<'_>) -> Result<u64, ApiError> {
    number("Upload-Offset", headers.upload_offset)?
        .ok_or_else(|| invalid("Upload-Offset is missing"))
}

/// A time as `Upload-Expires` writes it (RFC 9110 HTTP-date).
pub fn http_date(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|at| at.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .unwrap_or_default()
}

/// The tus request headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct TusHeaders<'a> {
    pub tus_resumable: Option<&'a str>,
    pub upload_length: Option<&'a str>,
    pub upload_defer_length: Option<&'a str>,
    pub upload_offset: Option<&'a str>,
    pub upload_metadata: Option<&'a str>,
    pub upload_checksum: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub content_length: Option<&'a str>,
}

/// A `PATCH` body's expected digest (`Upload-Checksum: sha256 <base64>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    /// The Web Crypto name of the algorithm.
    pub algorithm: &'static str,
    pub digest: Vec<u8>,
}

/// `Upload-Checksum`, if the request has one.
pub fn checksum(headers: &TusHeaders<'_>) -> Result<Option<Checksum>, ApiError> {
    let Some(raw) = headers.upload_checksum else {
        return Ok(None);
    };
    let (name, value) = raw.trim().split_once(' ').unwrap_or((raw.trim(), ""));
    let algorithm = match name.to_ascii_lowercase().as_str() {
        "sha1" => "SHA-1",
        "sha256" => "SHA-256",
        other => {
            return Err(invalid(format!(
                "Upload-Checksum algorithm `{other}` is not supported: use {TUS_CHECKSUM_ALGORITHMS}"
            )));
        }
    };
    let digest = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| invalid("Upload-Checksum: the digest is not base64"))?;
    Ok(Some(Checksum { algorithm, digest }))
}

fn invalid(reason: impl Into<String>) -> ApiError {
    ApiError::InvalidTusRequest {
        reason: reason.into(),
    }
}

/// `Tus-Resumable` must name the version spoken.
pub fn check_version(headers: &TusHeaders<'_>) -> Result<(), ApiError> {
    match headers.tus_resumable.map(str::trim) {
        Some(TUS_VERSION) => Ok(()),
        _ => Err(ApiError::TusVersion),
    }
}

fn number(name: &str, value: Option<&str>) -> Result<Option<u64>, ApiError> {
    value
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| invalid(format!("{name} must be a non-negative integer")))
        })
        .transpose()
}

/// `Upload-Metadata`: comma-separated `key base64value` pairs (the value may be absent).
pub fn metadata(raw: Option<&str>) -> Result<BTreeMap<String, String>, ApiError> {
    let mut pairs = BTreeMap::new();
    for pair in raw.unwrap_or("").split(',').map(str::trim) {
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| invalid(format!("Upload-Metadata `{key}` is not base64")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| invalid(format!("Upload-Metadata `{key}` is not UTF-8")))?;
        if pairs.insert(key.to_owned(), text).is_some() {
            return Err(invalid(format!("Upload-Metadata names `{key}` twice")));
        }
    }
    Ok(pairs)
}

/// A creation request that passed: the upload's length, name and media type (from the
/// metadata's `filename` and `filetype`, or `content_type`).
pub fn creation(headers: &TusHeaders<'_>, max_bytes: u64) -> Result<(u64, ValidUpload), ApiError> {
    check_version(headers)?;
    if headers.upload_defer_length.is_some() {
        return Err(invalid(
            "Upload-Defer-Length is not supported: declare Upload-Length",
        ));
    }
    let length = number("Upload-Length", headers.upload_length)?
        .ok_or_else(|| invalid("Upload-Length is missing"))?;
    if length == 0 {
        return Err(ApiError::EmptyBody);
    }
    let most = max_bytes.min(MAX_PART_BYTES.saturating_mul(MAX_PARTS));
    if length > most {
        return Err(ApiError::PayloadTooLarge {
            size: length,
            limit: most,
        });
    }
    let meta = metadata(headers.upload_metadata)?;
    let media = meta
        .get("filetype")
        .or_else(|| meta.get("content_type"))
        .map(String::as_str);
    let filename = meta.get("filename").map(String::as_str);
    let valid = upload::validate_part(filename, media, length)?;
    Ok((length, valid))
}

/// The callback URL a creation request's metadata names (`callback_url`), if events may be
/// sent there.
pub fn callback_url(
    headers: &TusHeaders<'_>,
    allowed: &crate::remote::AllowedHosts,
) -> Result<Option<String>, ApiError> {
    metadata(headers.upload_metadata)?
        .get("callback_url")
        .map(|raw| crate::webhooks::check_url(raw, allowed))
        .transpose()
}

/// Where a `PATCH` of `length` bytes at `offset` goes: its part number and the upload's part
/// size after it.
pub fn place_part(row: &ResumableRow, offset: u64, length: u64) -> Result<(u16, u64), ApiError> {
    if offset != row.upload_offset {
        return Err(ApiError::UploadOffsetMismatch {
            given: offset,
            offset: row.upload_offset,
        });
    }
    let left = row.length - row.upload_offset;
    if length == 0 {
        return Err(invalid("the PATCH carries no bytes"));
    }
    if length > left {
        return Err(invalid(format!(
            "the PATCH carries {length} bytes, {left} are left of Upload-Length"
        )));
    }
    let last = length == left;
    let part_size = match row.part_size {
        None if last => length,
        None if length < MIN_PART_BYTES => {
            return Err(invalid(format!(
                "each PATCH but the last must carry at least {MIN_PART_BYTES} bytes (5 MiB)"
            )));
        }
        None => length,
        Some(size) if last && length <= size => size,
        Some(size) if length == size => size,
        Some(size) => {
            return Err(invalid(format!(
                "each PATCH but the last must carry {size} bytes, as the first did (R2 parts \
                 are all of one size); the last may carry less"
            )));
        }
    };
    let offset_parts = row.upload_offset.checked_div(part_size).unwrap_or(0);
    let number = u16::try_from(offset_parts + 1)
        .ok()
        .filter(|n| u64::from(*n) <= MAX_PARTS)
        .ok_or_else(|| invalid("the upload has more than 10000 parts"))?;
    Ok((number, part_size))
}

/// What a `PATCH` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub offset: u64,
    /// `Upload-Length`.
    pub length: u64,
    pub expires_at: Millis,
    /// The document and job, once the last byte arrived.
    pub finished: Option<UploadAccepted>,
}

/// What resumable uploads need.
#[derive(Debug)]
pub struct Resumable<'a, D, M, Q, C> {
    pub store: &'a Store<D>,
    pub parts: &'a M,
    pub queue: &'a Q,
    pub clock: &'a C,
    pub quotas: &'a Quotas,
    /// How long an upload may go without a `PATCH` before it expires.
    pub expiry_ms: i64,
}

impl<D, M, Q, C> Resumable<'_, D, M, Q, C>
where
    D: Database,
    M: MultipartStore,
    Q: JobQueue,
    C: Clock,
{
    /// Creates an upload: an R2 multipart upload and its row, within the tenant's quotas.
    pub async fn create(
        &self,
        tenant: &TenantId,
        length: u64,
        valid: ValidUpload,
        callback_url: Option<String>,
        request_id: &RequestId,
    ) -> Result<NewResumable, ApiError> {
        let id = DocumentId::new();
        let key = document_key(tenant, &id);
        let content_type = valid.content_type.header_value();
        let r2_upload_id = self.parts.begin(&key, &content_type).await.map_err(|e| {
            warn!(error = %e, "could not start a multipart upload");
            ApiError::Unavailable
        })?;
        let now = self.clock.now_ms();
        let upload = NewResumable {
            id,
            job: JobId::new(),
            tenant: tenant.clone(),
            object_key: key,
            r2_upload_id,
            length,
            filename: valid.filename,
            content_type,
            request_id: request_id.clone(),
            expires_at: now + self.expiry_ms,
            callback_url,
        };
        let begun = self
            .store
            .begin_resumable(&upload, self.quotas, now)
            .await
            .map_err(unavailable("recording a resumable upload"));
        let refused = match begun {
            Ok(Ok(())) => {
                info!(upload_id = %id, length, "resumable upload created");
                return Ok(upload);
            }
            Ok(Err(over)) => quota_error(over, now),
            Err(e) => e,
        };
        if let Err(e) = self
            .parts
            .abort(&upload.object_key, &upload.r2_upload_id)
            .await
        {
            warn!(error = %e, "could not abort the multipart upload of a refused creation");
        }
        Err(refused)
    }

    /// The tenant's upload, unless it expired.
    pub async fn find(&self, tenant: &TenantId, id: &DocumentId) -> Result<ResumableRow, ApiError> {
        let row = self
            .store
            .resumable(tenant, id)
            .await
            .map_err(unavailable("reading a resumable upload"))?
            .ok_or(ApiError::UploadNotFound)?;
        if row.expires_at.0 <= self.clock.now_ms() {
            return Err(ApiError::UploadNotFound);
        }
        Ok(row)
    }

    /// Appends `length` bytes at `offset` as the upload's next part; the last part completes
    /// the document and enqueues its job.
    pub async fn append(
        &self,
        tenant: &TenantId,
        id: &DocumentId,
        offset: u64,
        length: u64,
        body: M::Body,
        checksum: Option<&Checksum>,
    ) -> Result<Appended, ApiError> {
        let row = self.find(tenant, id).await?;
        if row.upload_offset == row.length {
            // Every part landed but the completion did not: complete it now.
            return self.standing(&row).await;
        }
        let (number, part_size) = place_part(&row, offset, length)?;
        let algorithm = checksum.map(|c| c.algorithm);
        let (etag, digest) = self
            .parts
            .put_part(
                &row.object_key,
                &row.r2_upload_id,
                number,
                body,
                length,
                algorithm,
            )
            .await
            .map_err(|e| {
                warn!(error = %e, "storing a part failed");
                body_error(e)
            })?;
        if let Some(expected) = checksum
            && digest.as_deref() != Some(expected.digest.as_slice())
        {
            // The part stays unrecorded; the next PATCH at this offset overwrites it.
            return Err(ApiError::ChecksumMismatch);
        }
        let now = self.clock.now_ms();
        let expires_at = now + self.expiry_ms;
        let part = LandedPart {
            from: offset,
            to: offset + length,
            part_size,
            number,
            etag,
        };
        let moved = self
            .store
            .record_part(id, &part, now, expires_at)
            .await
            .map_err(unavailable("recording a part"))?;
        if !moved {
            // A concurrent PATCH for the same offset won; this part was the same bytes.
            let current = self.find(tenant, id).await?;
            return Err(ApiError::UploadOffsetMismatch {
                given: offset,
                offset: current.upload_offset,
            });
        }
        let finished = if part.to < row.length {
            None
        } else {
            let mut parts = row.parts().map_err(unavailable("reading the parts"))?;
            parts.push((number, part.etag));
            Some(self.finish(&row, &parts).await?)
        };
        Ok(Appended {
            offset: part.to,
            length: row.length,
            expires_at,
            finished,
        })
    }

    /// Where the upload stands (`HEAD`).
    pub async fn status(&self, tenant: &TenantId, id: &DocumentId) -> Result<Appended, ApiError> {
        let row = self.find(tenant, id).await?;
        self.standing(&row).await
    }

    /// Where `row` stands. One whose parts all landed, but whose completion failed, is
    /// completed here.
    async fn standing(&self, row: &ResumableRow) -> Result<Appended, ApiError> {
        let finished = if row.upload_offset == row.length {
            let parts = row.parts().map_err(unavailable("reading the parts"))?;
            Some(self.finish(row, &parts).await?)
        } else {
            None
        };
        Ok(Appended {
            offset: row.upload_offset,
            length: row.length,
            expires_at: row.expires_at.0,
            finished,
        })
    }

    async fn finish(
        &self,
        row: &ResumableRow,
        parts: &[(u16, String)],
    ) -> Result<UploadAccepted, ApiError> {
        self.parts
            .complete(&row.object_key, &row.r2_upload_id, parts)
            .await
            .map_err(|e| {
                warn!(error = %e, "completing the multipart upload failed");
                ApiError::Unavailable
            })?;
        let document = NewDocument {
            id: row.id,
            tenant: row.tenant_id.clone(),
            object_key: row.object_key.clone(),
            filename: row.filename.clone(),
            content_type: row.content_type.clone(),
            size_bytes: row.length,
            sha256: None,
            idempotency_key: None,
            request_id: row.request_id.clone(),
            upload_ms: Some(self.clock.now_ms() - row.created_at.0),
            source_url: None,
            callback_url: row.callback_url.clone(),
        };
        let recorded = self
            .store
            .complete_resumable(&document, &row.job_id, self.clock.now_ms())
            .await
            .map_err(unavailable("recording a completed upload"))?;
        if !recorded {
            return Err(ApiError::UploadNotFound);
        }
        let message =
            crate::usage::carried_by(JobMessage::new(row.job_id, row.id, row.request_id.clone()));
        if let Err(e) = self.queue.send(&message).await {
            warn!(error = %e, "enqueue failed; the sweep will enqueue the job");
        }
        info!(document_id = %row.id, job_id = %row.job_id, size_bytes = row.length, "resumable upload completed");
        Ok(UploadAccepted::new(row.id, row.job_id))
    }

    /// Terminates the upload: its parts are dropped and its row forgotten.
    pub async fn terminate(&self, tenant: &TenantId, id: &DocumentId) -> Result<(), ApiError> {
        let row = self.find(tenant, id).await?;
        self.drop_upload(&row).await
    }

    async fn drop_upload(&self, row: &ResumableRow) -> Result<(), ApiError> {
        self.parts
            .abort(&row.object_key, &row.r2_upload_id)
            .await
            .map_err(|e| {
                warn!(error = %e, "aborting a multipart upload failed");
                ApiError::Unavailable
            })?;
        self.store
            .forget_resumable(&row.id)
            .await
            .map_err(unavailable("forgetting a resumable upload"))?;
        Ok(())
    }

    /// Aborts up to `limit` expired uploads; returns how many, and the problems met.
    pub async fn sweep_expired(&self, limit: u32) -> (usize, Vec<String>) {
        let expired = match self
            .store
            .expired_resumables(self.clock.now_ms(), limit)
            .await
        {
            Ok(expired) => expired,
            Err(e) => return (0, vec![format!("finding expired uploads: {e}")]),
        };
        let mut errors = Vec::new();
        let mut removed = 0;
        for row in &expired {
            match self.drop_upload(row).await {
                Ok(()) => removed += 1,
                Err(e) => errors.push(format!("aborting upload {}: {e}", row.id)),
            }
        }
        (removed, errors)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use docpipe_jobs::JobStatus;
    use pollster::block_on;

    use super::*;
    use crate::sqlite::{ManualClock, Sqlite};
    use crate::store::fixtures::{T0, tenant};
    use crate::testing::{MemoryMultipart, MemoryQueue, TestBody};

    const MIB: u64 = 1024 * 1024;

    struct Fixture {
        store: Store<Sqlite>,
        parts: MemoryMultipart,
        queue: MemoryQueue,
        clock: ManualClock,
        quotas: Quotas,
    }

    impl Fixture {
        fn new() -> Self {
            Self {
                store: Store::new(Sqlite::migrated()),
                parts: MemoryMultipart::default(),
                queue: MemoryQueue::default(),
                clock: ManualClock(Cell::new(T0)),
                quotas: Quotas::default(),
            }
        }

        fn tus(&self) -> Resumable<'_, Sqlite, MemoryMultipart, MemoryQueue, ManualClock> {
            Resumable {
                store: &self.store,
                parts: &self.parts,
                queue: &self.queue,
                clock: &self.clock,
                quotas: &self.quotas,
                expiry_ms: 3_600_000,
            }
        }

        fn create(&self, length: u64) -> NewResumable {
            let headers = TusHeaders {
                tus_resumable: Some("1.0.0"),
                upload_length: Some(&length.to_string()),
                // filename "big.txt", filetype "text/plain"
                upload_metadata: Some("filename YmlnLnR4dA==,filetype dGV4dC9wbGFpbg=="),
                ..TusHeaders::default()
            };
            let (length, valid) = creation(&headers, u64::MAX).unwrap();
            let request = RequestId::parse("req-tus").unwrap();
            block_on(self.tus().create(&tenant(), length, valid, None, &request)).unwrap()
        }

        fn patch(&self, id: &DocumentId, offset: u64, bytes: &[u8]) -> Result<Appended, ApiError> {
            let body = TestBody::whole(bytes);
            block_on(
                self.tus()
                    .append(&tenant(), id, offset, bytes.len() as u64, body, None),
            )
        }
    }

    fn bytes(n: u64, fill: u8) -> Vec<u8> {
        vec![fill; usize::try_from(n).unwrap()]
    }

    #[test]
    fn parts_of_one_size_then_a_shorter_last_make_one_document_and_job() {
        let f = Fixture::new();
        let upload = f.create(12 * MIB);
        let first = f.patch(&upload.id, 0, &bytes(5 * MIB, b'a')).unwrap();
        assert_eq!((first.offset, first.finished.clone()), (5 * MIB, None));
        // A part of another size breaks R2's rule, and is refused before it is stored.
        let err = f
            .patch(&upload.id, 5 * MIB, &bytes(6 * MIB, b'x'))
            .unwrap_err();
        assert_eq!(err.code(), "invalid_tus_request");
        assert_eq!(
            f.patch(&upload.id, 0, &bytes(5 * MIB, b'b')).unwrap_err(),
            ApiError::UploadOffsetMismatch {
                given: 0,
                offset: 5 * MIB
            }
        );
        f.patch(&upload.id, 5 * MIB, &bytes(5 * MIB, b'b')).unwrap();
        let last = f
            .patch(&upload.id, 10 * MIB, &bytes(2 * MIB, b'c'))
            .unwrap();
        let done = last.finished.unwrap();
        assert_eq!((done.document_id, done.job_id), (upload.id, upload.job));
        let object = f.parts.objects.get(&upload.object_key).unwrap();
        assert_eq!(object.bytes.len() as u64, 12 * MIB);
        assert_eq!(
            &object.bytes[5 * MIB as usize..5 * MIB as usize + 3],
            b"bbb"
        );
        let job = block_on(f.store.job(&tenant(), &upload.job))
            .unwrap()
            .unwrap();
        assert_eq!(job.status, JobStatus::Queued);
        assert_eq!(f.queue.sent.borrow()[0].job_id, upload.job);
        let db = f.store.database();
        assert_eq!(db.scalar_i64("SELECT COUNT(*) FROM resumable_uploads"), 0);
        assert_eq!(
            db.scalar_text("SELECT filename || ' ' || content_type FROM documents"),
            "big.txt text/plain"
        );
        assert_eq!(
            f.patch(&upload.id, 12 * MIB, b"more").unwrap_err(),
            ApiError::UploadNotFound
        );
    }

    #[test]
    fn a_body_that_breaks_off_stores_nothing_and_the_part_is_sent_again() {
        let f = Fixture::new();
        let upload = f.create(10 * MIB);
        let broken = TestBody {
            bytes: bytes(MIB, b'a'),
            breaks_after: Some(MIB as usize),
        };
        let err = block_on(
            f.tus()
                .append(&tenant(), &upload.id, 0, 5 * MIB, broken, None),
        )
        .unwrap_err();
        assert_eq!(err.code(), "incomplete_body");
        let row = block_on(f.tus().find(&tenant(), &upload.id)).unwrap();
        assert_eq!((row.upload_offset, row.part_size), (0, None));
        f.patch(&upload.id, 0, &bytes(5 * MIB, b'a')).unwrap();
        let done = f.patch(&upload.id, 5 * MIB, &bytes(5 * MIB, b'b')).unwrap();
        assert!(done.finished.is_some());
    }

    #[test]
    fn a_completion_that_failed_is_completed_by_the_next_head() {
        let f = Fixture::new();
        let upload = f.create(100);
        f.parts.fail_complete.set(true);
        let err = f.patch(&upload.id, 0, &bytes(100, b'a')).unwrap_err();
        assert_eq!(err, ApiError::Unavailable);
        f.parts.fail_complete.set(false);
        let status = block_on(f.tus().status(&tenant(), &upload.id)).unwrap();
        assert_eq!(status.offset, 100);
        assert_eq!(status.finished.unwrap().job_id, upload.job);
        assert_eq!(f.queue.sent.borrow().len(), 1);
        assert_eq!(
            f.parts.objects.get(&upload.object_key).unwrap().bytes.len(),
            100
        );
    }

    #[test]
    fn a_part_that_does_not_match_its_checksum_is_not_recorded() {
        use sha2::{Digest, Sha256};
        let f = Fixture::new();
        let upload = f.create(100);
        let body = bytes(100, b'a');
        let header = |bytes: &[u8]| {
            format!(
                "sha256 {}",
                base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
            )
        };
        let append = |checksum: &str| {
            let headers = TusHeaders {
                upload_checksum: Some(checksum),
                ..TusHeaders::default()
            };
            let checksum = super::checksum(&headers).unwrap();
            block_on(f.tus().append(
                &tenant(),
                &upload.id,
                0,
                100,
                TestBody::whole(&body),
                checksum.as_ref(),
            ))
        };
        assert_eq!(
            append(&header(b"other bytes")),
            Err(ApiError::ChecksumMismatch)
        );
        assert_eq!(ApiError::ChecksumMismatch.status(), 460);
        let row = block_on(f.tus().find(&tenant(), &upload.id)).unwrap();
        assert_eq!(row.upload_offset, 0);
        assert!(append(&header(&body)).unwrap().finished.is_some());
        let unsupported = TusHeaders {
            upload_checksum: Some("md5 AAAA"),
            ..TusHeaders::default()
        };
        assert_eq!(checksum(&unsupported).unwrap_err().status(), 400);
    }

    #[test]
    fn small_parts_are_refused_unless_they_finish_the_upload() {
        let f = Fixture::new();
        let small = f.create(100);
        assert_eq!(
            f.patch(&small.id, 0, &bytes(40, b'a')).unwrap_err().code(),
            "invalid_tus_request"
        );
        assert!(
            f.patch(&small.id, 0, &bytes(100, b'a'))
                .unwrap()
                .finished
                .is_some()
        );
    }

    #[test]
    fn termination_and_expiry_abort_the_parts_and_give_the_quota_back() {
        let f = Fixture::new();
        let terminated = f.create(10 * MIB);
        f.patch(&terminated.id, 0, &bytes(5 * MIB, b'a')).unwrap();
        block_on(f.tus().terminate(&tenant(), &terminated.id)).unwrap();
        let expiring = f.create(10 * MIB);
        f.clock.0.set(T0 + 3_600_001);
        assert_eq!(
            f.patch(&expiring.id, 0, &bytes(5 * MIB, b'a')).unwrap_err(),
            ApiError::UploadNotFound
        );
        assert_eq!(block_on(f.tus().sweep_expired(10)), (1, Vec::new()));
        assert_eq!(
            *f.parts.aborted.borrow(),
            vec![terminated.r2_upload_id, expiring.r2_upload_id]
        );
        let db = f.store.database();
        assert_eq!(db.scalar_i64("SELECT COUNT(*) FROM resumable_uploads"), 0);
        assert_eq!(
            db.scalar_i64("SELECT documents + bytes FROM tenant_usage"),
            0,
            "both uploads' reservations given back"
        );
        assert!(f.parts.objects.keys().is_empty());
    }

    #[test]
    fn a_part_is_an_offset_stream_of_declared_length_at_a_declared_offset() {
        let h = |content_type, length, offset| TusHeaders {
            content_type,
            content_length: length,
            upload_offset: offset,
            ..TusHeaders::default()
        };
        let stream = Some("application/offset+octet-stream");
        assert_eq!(part_length(&h(stream, Some("10"), None)), Ok(10));
        assert_eq!(
            part_length(&h(Some("text/plain"), Some("10"), None))
                .unwrap_err()
                .status(),
            415
        );
        assert_eq!(
            part_length(&h(stream, None, None)).unwrap_err().status(),
            400
        );
        assert_eq!(
            part_length(&h(stream, Some("0"), None)),
            Err(ApiError::EmptyBody)
        );
        assert_eq!(patch_offset(&h(None, None, Some(" 42 "))), Ok(42));
        assert_eq!(
            patch_offset(&h(None, None, Some("-1")))
                .unwrap_err()
                .status(),
            400
        );
        assert!(patch_offset(&h(None, None, None)).is_err());
        assert!(!creation_has_part(&h(None, Some("0"), None)));
        assert!(creation_has_part(&h(stream, Some("5"), None)));
    }

    #[test]
    fn expiry_is_an_http_date() {
        assert_eq!(http_date(T0), "Sun, 22 Nov 2026 21:06:00 GMT");
    }

    #[test]
    fn creation_checks_version_length_and_metadata() {
        let h = |version, length, metadata| TusHeaders {
            tus_resumable: version,
            upload_length: length,
            upload_metadata: metadata,
            ..TusHeaders::default()
        };
        let code = |headers: TusHeaders<'_>| creation(&headers, 1_000).unwrap_err().code();
        assert_eq!(code(h(None, Some("10"), None)), "tus_version");
        assert_eq!(code(h(Some("0.2.2"), Some("10"), None)), "tus_version");
        assert_eq!(code(h(Some("1.0.0"), None, None)), "invalid_tus_request");
        assert_eq!(
            code(h(Some("1.0.0"), Some("-1"), None)),
            "invalid_tus_request"
        );
        assert_eq!(
            code(h(Some("1.0.0"), Some("1001"), None)),
            "payload_too_large"
        );
        assert_eq!(
            code(h(Some("1.0.0"), Some("10"), Some("filename !!"))),
            "invalid_tus_request"
        );
        // A callback URL in the metadata follows the receivers' address rules.
        let allowed = crate::remote::AllowedHosts::default();
        let hook = h(
            Some("1.0.0"),
            Some("10"),
            Some("callback_url aHR0cHM6Ly9ob29rcy5leGFtcGxlLmNvbS9pbg=="),
        );
        assert_eq!(
            callback_url(&hook, &allowed).unwrap().as_deref(),
            Some("https://hooks.example.com/in")
        );
        let private = h(
            Some("1.0.0"),
            Some("10"),
            Some("callback_url aHR0cDovLzEwLjAuMC4xLw=="),
        );
        assert_eq!(
            callback_url(&private, &allowed).unwrap_err().code(),
            "invalid_callback_url"
        );
        assert_eq!(
            callback_url(&h(Some("1.0.0"), Some("10"), None), &allowed),
            Ok(None)
        );
        // A key without a value is an empty name: no name.
        let (_, valid) = creation(&h(Some("1.0.0"), Some("10"), Some("filename")), 1_000).unwrap();
        assert_eq!(valid.filename, None);
        let (length, valid) = creation(&h(Some("1.0.0"), Some("10"), None), 1_000).unwrap();
        assert_eq!(length, 10);
        assert_eq!(
            valid.content_type.header_value(),
            "application/octet-stream"
        );
    }
}
