//! # docpipe upload Worker
//!
//! The HTTP API v1. A thin adapter: it reads a request into the types of `docpipe-pipeline`,
//! runs the operation against R2, D1 and the jobs queue, and writes the result back as JSON.
//!
//! `POST /v1/documents` streams the body straight into R2 (never buffered here), then records
//! the document and its `queued` job in one D1 transaction, then enqueues the job. Any failure
//! before the D1 write removes the object, so nothing is stored half-way; a failed enqueue
//! leaves a `queued` job that the summarizer's scheduled sweep re-enqueues.

use docpipe_cloudflare::{D1, WorkerClock, logging, vars};
use docpipe_jobs::{DocumentId, JobId, JobMessage, RequestId};
use docpipe_pipeline::api::{ApiError, JobView, Route, SummaryView, UploadAccepted};
use docpipe_pipeline::config::{UploadConfig, names};
use docpipe_pipeline::store::{NewDocument, Store, SummaryLookup};
use docpipe_pipeline::time::Clock;
use docpipe_pipeline::upload::{self, UploadHeaders, ValidUpload};
use serde::Serialize;
use tracing::{Instrument, error, info, warn};
use worker::{Context, Data, Env, HttpMetadata, Request, Response, Result, event};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    logging::init(vars(&env)(names::LOG_LEVEL));
    let header = req.headers().get("X-Request-Id").ok().flatten();
    let request_id = match upload::request_id(header.as_deref()) {
        Ok(id) => id,
        Err(e) => return error_response(&e, &RequestId::generate()),
    };
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.path(),
    );
    async move {
        let result = handle(req, &env, &request_id).await;
        match result {
            Ok(response) => Ok(response),
            Err(e) => {
                if e.status() >= 500 {
                    error!(status = e.status(), code = e.code(), "request failed");
                } else {
                    info!(status = e.status(), code = e.code(), reason = %e, "request rejected");
                }
                error_response(&e, &request_id)
            }
        }
    }
    .instrument(span)
    .await
}

async fn handle(
    req: Request,
    env: &Env,
    request_id: &RequestId,
) -> std::result::Result<Response, ApiError> {
    let route = Route::parse(req.method().as_ref(), &req.path())?;
    match route {
        Route::Health => json(200, &serde_json::json!({ "status": "ok" }), request_id),
        Route::CreateDocument => create_document(&req, env, request_id).await,
        Route::GetJob(id) => get_job(env, &id, request_id).await,
        Route::GetSummary(id) => get_summary(env, &id, request_id).await,
    }
}

/// Logs an internal failure with its cause and hides it from the client.
fn internal(what: &'static str) -> impl Fn(worker::Error) -> ApiError {
    move |e| {
        error!(error = %e, what, "binding unavailable");
        ApiError::Internal
    }
}

fn store(env: &Env) -> std::result::Result<Store<D1>, ApiError> {
    Ok(Store::new(D1(env
        .d1(names::DB)
        .map_err(internal("D1 binding"))?)))
}

async fn create_document(
    req: &Request,
    env: &Env,
    request_id: &RequestId,
) -> std::result::Result<Response, ApiError> {
    let config = UploadConfig::from_vars(vars(env)).map_err(|e| {
        error!(error = %e, "invalid configuration");
        ApiError::Internal
    })?;
    let headers = req.headers();
    let header = |name: &str| headers.get(name).ok().flatten();
    let (length, content_type, disposition) = (
        header("Content-Length"),
        header("Content-Type"),
        header("Content-Disposition"),
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
    let body = req.inner().body().ok_or(ApiError::EmptyBody)?;

    let document_id = DocumentId::new();
    let job_id = JobId::new();
    let bucket = env
        .bucket(names::DOCUMENTS)
        .map_err(internal("R2 binding"))?;
    let key = document_id.object_key();
    let started = WorkerClock.now_ms();
    let stored = bucket
        .put(&key, Data::ReadableStream(body))
        .http_metadata(HttpMetadata {
            content_type: Some(upload.content_type.header_value()),
            ..HttpMetadata::default()
        })
        .execute()
        .await;
    let upload_ms = WorkerClock.now_ms() - started;
    match stored {
        Ok(Some(object)) if object.size() == upload.size => {}
        Ok(object) => {
            let stored_size = object.map(|o| o.size());
            warn!(
                ?stored_size,
                expected = upload.size,
                "stored object has the wrong size"
            );
            delete_object(&bucket, &key).await;
            return Err(ApiError::IncompleteBody {
                reason: format!("expected {} bytes", upload.size),
            });
        }
        Err(e) => {
            error!(error = %e, key, "R2 put failed");
            delete_object(&bucket, &key).await;
            return Err(ApiError::Unavailable);
        }
    }

    let store = store(env)?;
    let record = new_document(document_id, &upload, request_id, upload_ms);
    if let Err(e) = store
        .create_document(&record, &job_id, WorkerClock.now_ms())
        .await
    {
        error!(error = %e, "recording the document failed");
        delete_object(&bucket, &key).await;
        return Err(ApiError::Unavailable);
    }

    let message = JobMessage::new(job_id, document_id, request_id.clone());
    match env.queue(names::JOBS) {
        Ok(queue) => {
            if let Err(e) = queue.send(&message).await {
                warn!(error = %e, %job_id, "enqueue failed; the sweep will re-enqueue the job");
            }
        }
        Err(e) => warn!(error = %e, "queue binding unavailable; the sweep will enqueue the job"),
    }

    info!(
        %document_id,
        %job_id,
        size_bytes = upload.size,
        content_type = %upload.content_type.header_value(),
        upload_ms,
        "document accepted"
    );
    let accepted = UploadAccepted::new(&document_id, &job_id);
    let mut response = json(202, &accepted, request_id)?;
    set_header(&mut response, "Location", &accepted.status_url);
    Ok(response)
}

fn new_document(
    id: DocumentId,
    upload: &ValidUpload,
    request_id: &RequestId,
    upload_ms: i64,
) -> NewDocument {
    NewDocument {
        id,
        filename: upload.filename.clone(),
        content_type: upload.content_type.header_value(),
        size_bytes: upload.size,
        sha256: None,
        idempotency_key: None,
        request_id: request_id.clone(),
        upload_ms: Some(upload_ms),
    }
}

async fn delete_object(bucket: &worker::Bucket, key: &str) {
    if let Err(e) = bucket.delete(key).await {
        error!(error = %e, key, "could not delete the object of a failed upload");
    }
}

async fn get_job(
    env: &Env,
    id: &JobId,
    request_id: &RequestId,
) -> std::result::Result<Response, ApiError> {
    let job = store(env)?.job(id).await.map_err(|e| {
        error!(error = %e, "reading the job failed");
        ApiError::Unavailable
    })?;
    let job = job.ok_or(ApiError::JobNotFound)?;
    json(200, &JobView::from(job), request_id)
}

async fn get_summary(
    env: &Env,
    id: &DocumentId,
    request_id: &RequestId,
) -> std::result::Result<Response, ApiError> {
    let lookup = store(env)?.latest_summary(id).await.map_err(|e| {
        error!(error = %e, "reading the summary failed");
        ApiError::Unavailable
    })?;
    match lookup {
        SummaryLookup::Ready(row) => json(200, &SummaryView::from(row), request_id),
        SummaryLookup::NoSuchDocument => Err(ApiError::DocumentNotFound),
        SummaryLookup::Pending { job_id, status } => {
            Err(ApiError::SummaryPending { job_id, status })
        }
        SummaryLookup::Failed { job_id, error } => Err(ApiError::SummaryFailed { job_id, error }),
    }
}

fn json<T: Serialize>(
    status: u16,
    body: &T,
    request_id: &RequestId,
) -> std::result::Result<Response, ApiError> {
    let mut response = Response::from_json(body)
        .map_err(internal("serializing the response"))?
        .with_status(status);
    set_header(&mut response, "X-Request-Id", request_id.as_str());
    set_header(&mut response, "Cache-Control", "no-store");
    Ok(response)
}

fn set_header(response: &mut Response, name: &str, value: &str) {
    if let Err(e) = response.headers_mut().set(name, value) {
        warn!(error = %e, name, "could not set a response header");
    }
}

fn error_response(error: &ApiError, request_id: &RequestId) -> Result<Response> {
    let mut response =
        Response::from_json(&error.body(request_id.as_str()))?.with_status(error.status());
    set_header(&mut response, "X-Request-Id", request_id.as_str());
    if let ApiError::MethodNotAllowed { allowed } = error {
        set_header(&mut response, "Allow", allowed);
    }
    Ok(response)
}
