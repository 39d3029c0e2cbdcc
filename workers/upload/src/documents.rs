//! Accepting documents.
//!
//! `POST /v1/documents`, in order, so that nothing is stored half-way and nothing accepted is
//! lost:
//! 1. Headers are checked (length, type, name, idempotency key) before a byte is read.
//! 2. A retry under a known `Idempotency-Key` only hashes the body and answers as the first
//!    time (or `422` for a different body).
//! 3. An `uploads` row marks the upload as under way; the body streams into R2 while its
//!    SHA-256 is computed. If the Worker dies from here on, the scheduled sweep finds the row
//!    and deletes the object.
//! 4. One D1 transaction records the document and its `queued` job and closes the upload.
//!    On any failure before this point the object is deleted.
//! 5. The job is enqueued. If that fails, the job is `queued` in D1 and the sweep enqueues it.

use docpipe_cloudflare::stream::{StreamError, hash_only, put_hashed};
use docpipe_cloudflare::{D1, JobsQueue, WorkerClock, vars};
use docpipe_jobs::{DocumentId, JobId, JobMessage, RequestId};
use docpipe_pipeline::api::{ApiError, UploadAccepted};
use docpipe_pipeline::config::{UploadConfig, names};
use docpipe_pipeline::db::{DbError, retry_failed};
use docpipe_pipeline::store::{NewDocument, NewJob, Store};
use docpipe_pipeline::time::Clock;
use docpipe_pipeline::upload::{self, UploadHeaders, ValidUpload};
use tracing::{error, info, warn};
use worker::{Bucket, Env, HttpMetadata, Request};

use crate::{ApiResult, internal, json, set_header, store, unavailable};

/// Pauses between tries of a D1 write that fails (a locked or unreachable database) while the
/// client waits: about a second in all before it gets `503`.
const WRITE_PAUSES_MS: [u64; 3] = [50, 200, 800];

pub async fn create(req: &Request, env: &Env, request_id: &RequestId) -> ApiResult {
    let config = UploadConfig::from_vars(vars(env)).map_err(|e| {
        error!(error = %e, "invalid configuration");
        ApiError::Internal
    })?;
    let headers = req.headers();
    let header = |name: &str| headers.get(name).ok().flatten();
    let (length, content_type, disposition, idempotency_key) = (
        header("Content-Length"),
        header("Content-Type"),
        header("Content-Disposition"),
        header("Idempotency-Key"),
    );
    let filename_param = req.url().ok().and_then(|url| {
        url.query_pairs()
            .find(|(key, _)| key == "filename")
            .map(|(_, value)| value.into_owned())
    });
    let upload = upload::validate(
        &UploadHeaders {
            content_length: length.as_deref(),
            content_type: content_type.as_deref(),
            content_disposition: disposition.as_deref(),
            filename_param: filename_param.as_deref(),
        },
        config.max_upload_bytes,
    )?;
    let idempotency_key = upload::idempotency_key(idempotency_key.as_deref())?;
    let body = req.inner().body().ok_or(ApiError::EmptyBody)?;
    let store = store(env)?;

    if let Some(key) = &idempotency_key {
        let original = store
            .upload_by_idempotency_key(key)
            .await
            .map_err(unavailable("looking up an idempotency key"))?;
        if let Some(original) = original {
            let sha256 = hash_only(body, upload.size).await.map_err(body_error)?;
            let accepted = upload::replay(&original, &sha256, upload.size)?;
            info!(document_id = %accepted.document_id, "idempotent retry answered");
            return accepted_response(&accepted, true, request_id);
        }
    }

    let document_id = DocumentId::new();
    let job_id = JobId::new();
    let bucket = env
        .bucket(names::DOCUMENTS)
        .map_err(internal("R2 binding"))?;
    let key = document_id.object_key();
    retry_failed(&WorkerClock, &WRITE_PAUSES_MS, |_| {
        store.begin_upload(&document_id, request_id, WorkerClock.now_ms())
    })
    .await
    .map_err(unavailable("recording the upload"))?;

    let started = WorkerClock.now_ms();
    let metadata = HttpMetadata {
        content_type: Some(upload.content_type.header_value()),
        ..HttpMetadata::default()
    };
    let (object, sha256) = match put_hashed(&bucket, &key, body, upload.size, metadata).await {
        Ok(stored) => stored,
        Err(e) => {
            warn!(error = %e, key, "storing the body failed");
            discard(&store, &bucket, &document_id).await;
            return Err(body_error(e));
        }
    };
    let upload_ms = WorkerClock.now_ms() - started;
    if object.size() != upload.size {
        warn!(
            stored = object.size(),
            expected = upload.size,
            "stored object has the wrong size"
        );
        discard(&store, &bucket, &document_id).await;
        return Err(ApiError::IncompleteBody {
            reason: format!("expected {} bytes, stored {}", upload.size, object.size()),
        });
    }

    let record = NewDocument {
        id: document_id,
        filename: upload.filename.clone(),
        content_type: upload.content_type.header_value(),
        size_bytes: upload.size,
        sha256: Some(sha256.clone()),
        idempotency_key: idempotency_key.clone(),
        request_id: request_id.clone(),
        upload_ms: Some(upload_ms),
    };
    match store
        .create_document_retrying(&record, &job_id, &WorkerClock, &WRITE_PAUSES_MS)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            error!("the upload outlived ORPHAN_UPLOAD_SECONDS and was cleaned up");
            discard(&store, &bucket, &document_id).await;
            return Err(ApiError::Unavailable);
        }
        Err(DbError::Constraint(reason)) if idempotency_key.is_some() => {
            // A concurrent request with the same key recorded its document first.
            info!(%reason, "lost an idempotency race; answering as the winner");
            discard(&store, &bucket, &document_id).await;
            return replay_winner(
                &store,
                idempotency_key.as_deref(),
                &sha256,
                &upload,
                request_id,
            )
            .await;
        }
        Err(e) => {
            error!(error = %e, "recording the document failed");
            discard(&store, &bucket, &document_id).await;
            return Err(ApiError::Unavailable);
        }
    }

    enqueue(
        env,
        &JobMessage::new(job_id, document_id, request_id.clone()),
    )
    .await;
    info!(
        %document_id,
        %job_id,
        size_bytes = upload.size,
        content_type = %upload.content_type.header_value(),
        sha256,
        upload_ms,
        "document accepted"
    );
    accepted_response(
        &UploadAccepted::new(&document_id, &job_id),
        false,
        request_id,
    )
}

async fn replay_winner(
    store: &Store<D1>,
    key: Option<&str>,
    sha256: &str,
    upload: &ValidUpload,
    request_id: &RequestId,
) -> ApiResult {
    let original = match key {
        Some(key) => store
            .upload_by_idempotency_key(key)
            .await
            .map_err(unavailable("looking up an idempotency key"))?,
        None => None,
    };
    let original = original.ok_or(ApiError::Unavailable)?;
    let accepted = upload::replay(&original, sha256, upload.size)?;
    accepted_response(&accepted, true, request_id)
}

pub async fn reprocess(env: &Env, document: &DocumentId, request_id: &RequestId) -> ApiResult {
    let job_id = JobId::new();
    let created = store(env)?
        .create_job(document, &job_id, request_id, WorkerClock.now_ms())
        .await
        .map_err(unavailable("creating a job"))?;
    match created {
        NewJob::Created => {}
        NewJob::NoSuchDocument => return Err(ApiError::DocumentNotFound),
        NewJob::InProgress { job_id } => return Err(ApiError::JobInProgress { job_id }),
    }
    enqueue(env, &JobMessage::new(job_id, *document, request_id.clone())).await;
    info!(document_id = %document, %job_id, "document queued for reprocessing");
    accepted_response(&UploadAccepted::new(document, &job_id), false, request_id)
}

/// Sends the job's message. A failure is logged, not returned: the job is `queued` in D1 and
/// the sweep will enqueue it.
async fn enqueue(env: &Env, message: &JobMessage) {
    let sent = match env.queue(names::JOBS) {
        Ok(queue) => JobsQueue(queue)
            .send(message)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = sent {
        warn!(error = %e, job_id = %message.job_id, "enqueue failed; the sweep will enqueue the job");
    }
}

fn accepted_response(
    accepted: &UploadAccepted,
    replayed: bool,
    request_id: &RequestId,
) -> ApiResult {
    let mut response = json(202, accepted, request_id)?;
    set_header(&mut response, "Location", &accepted.status_url);
    if replayed {
        set_header(&mut response, "Idempotent-Replayed", "true");
    }
    Ok(response)
}

fn body_error(e: StreamError) -> ApiError {
    match e {
        StreamError::Body(reason) => ApiError::IncompleteBody { reason },
        StreamError::Storage(_) => ApiError::Unavailable,
    }
}

/// Deletes the object of an upload that will not be recorded, then its `uploads` row. If
/// either step fails the row stays, and the sweep finishes the job later.
async fn discard(store: &Store<D1>, bucket: &Bucket, document: &DocumentId) {
    let key = document.object_key();
    if let Err(e) = bucket.delete(&key).await {
        error!(error = %e, key, "could not delete the object of a failed upload");
        return;
    }
    if let Err(e) = store.abandon_upload(document).await {
        warn!(error = %e, "could not forget a failed upload; the sweep will");
    }
}
