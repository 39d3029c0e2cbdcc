//! Resumable uploads (tus 1.0.0) at `/v1/uploads`: the requests read into
//! `docpipe_pipeline::resumable`, run over D1, R2 multipart uploads and the jobs queue, and
//! answered with tus headers.

use docpipe_cloudflare::{D1, JobsQueue, R2Uploads, WorkerClock, bindings};
use docpipe_jobs::{DocumentId, RequestId};
use docpipe_pipeline::api::ApiError;
use docpipe_pipeline::auth::Principal;
use docpipe_pipeline::config::UploadConfig;
use docpipe_pipeline::resumable::{
    self, Appended, Resumable, TUS_CHECKSUM_ALGORITHMS, TUS_EXTENSIONS, TUS_VERSION, TusHeaders,
    http_date,
};
use docpipe_pipeline::store::Store;
use tracing::warn;
use worker::worker_sys::web_sys::ReadableStream;
use worker::{Env, Request, Response};

use crate::{ApiResult, internal, platform, set_header};

struct Ports {
    store: Store<D1>,
    parts: R2Uploads,
    queue: JobsQueue,
}

impl Ports {
    fn from_env(env: &Env, config: &UploadConfig) -> Result<Self, ApiError> {
        Ok(Self {
            store: bindings::store(env).map_err(internal)?,
            parts: bindings::uploads(env, config.body_stall_ms).map_err(internal)?,
            queue: bindings::jobs_queue(env).map_err(internal)?,
        })
    }

    fn tus<'a>(
        &'a self,
        config: &'a UploadConfig,
    ) -> Resumable<'a, D1, R2Uploads, JobsQueue, WorkerClock> {
        Resumable {
            store: &self.store,
            parts: &self.parts,
            queue: &self.queue,
            clock: &WorkerClock,
            quotas: &config.quotas,
            expiry_ms: config.resumable_expiry_ms,
        }
    }
}

/// The request's tus headers, owned.
struct Headers(Vec<Option<String>>);

impl Headers {
    const NAMES: [&'static str; 8] = [
        "Tus-Resumable",
        "Upload-Length",
        "Upload-Defer-Length",
        "Upload-Offset",
        "Upload-Metadata",
        "Content-Type",
        "Content-Length",
        "Upload-Checksum",
    ];

    fn of(req: &Request) -> Self {
        let headers = req.headers();
        Self(
            Self::NAMES
                .iter()
                .map(|name| headers.get(name).ok().flatten())
                .collect(),
        )
    }

    fn tus(&self) -> TusHeaders<'_> {
        let at = |i: usize| self.0.get(i).and_then(|v| v.as_deref());
        TusHeaders {
            tus_resumable: at(0),
            upload_length: at(1),
            upload_defer_length: at(2),
            upload_offset: at(3),
            upload_metadata: at(4),
            content_type: at(5),
            content_length: at(6),
            upload_checksum: at(7),
        }
    }
}

/// A tus answer: no body, `Tus-Resumable`, `Cache-Control: no-store`.
fn answer(status: u16, request_id: &RequestId) -> ApiResult {
    let mut response = Response::empty()
        .map_err(platform("building a response"))?
        .with_status(status);
    set_header(&mut response, "Tus-Resumable", TUS_VERSION);
    set_header(&mut response, "Cache-Control", "no-store");
    set_header(&mut response, "X-Request-Id", request_id.as_str());
    Ok(response)
}

/// What a server speaking tus says of itself (`OPTIONS`).
pub fn discovery(response: &mut Response, config: &UploadConfig) {
    set_header(response, "Tus-Resumable", TUS_VERSION);
    set_header(response, "Tus-Version", TUS_VERSION);
    set_header(response, "Tus-Extension", TUS_EXTENSIONS);
    set_header(response, "Tus-Checksum-Algorithm", TUS_CHECKSUM_ALGORITHMS);
    set_header(
        response,
        "Tus-Max-Size",
        &config.resumable_max_bytes.to_string(),
    );
}

/// The part a request carries: its length (checked by `resumable::part_length`) and body.
fn part(req: &Request, headers: &TusHeaders<'_>) -> Result<(u64, ReadableStream), ApiError> {
    let length = resumable::part_length(headers)?;
    let body = req.inner().body().ok_or(ApiError::EmptyBody)?;
    Ok((length, body))
}

fn appended(response: &mut Response, appended: &Appended) {
    set_header(response, "Upload-Offset", &appended.offset.to_string());
    set_header(response, "Upload-Length", &appended.length.to_string());
    set_header(response, "Upload-Expires", &http_date(appended.expires_at));
    if let Some(done) = &appended.finished {
        set_header(
            response,
            "Docpipe-Document-Id",
            &done.document_id.to_string(),
        );
        set_header(response, "Docpipe-Job-Id", &done.job_id.to_string());
    }
}

/// `POST /v1/uploads`: creates an upload (and stores its first part, if the request has one).
pub async fn create(
    req: &Request,
    env: &Env,
    config: &UploadConfig,
    caller: &Principal,
    request_id: &RequestId,
) -> ApiResult {
    let headers = Headers::of(req);
    let tus_headers = headers.tus();
    let (length, valid) = resumable::creation(&tus_headers, config.resumable_max_bytes)?;
    let callback_url = resumable::callback_url(&tus_headers, &config.fetch.allowed_hosts)?;
    let checksum = resumable::checksum(&tus_headers)?;
    let first = resumable::creation_has_part(&tus_headers)
        .then(|| part(req, &tus_headers))
        .transpose()?;
    let ports = Ports::from_env(env, config)?;
    let tus = ports.tus(config);
    let upload = tus
        .create(&caller.tenant, length, valid, callback_url, request_id)
        .await?;
    let mut response = answer(201, request_id)?;
    set_header(
        &mut response,
        "Location",
        &format!("/v1/uploads/{}", upload.id),
    );
    set_header(&mut response, "Docpipe-Document-Id", &upload.id.to_string());
    set_header(&mut response, "Docpipe-Job-Id", &upload.job.to_string());
    set_header(
        &mut response,
        "Upload-Expires",
        &http_date(upload.expires_at),
    );
    if let Some((part_length, body)) = first {
        // creation-with-upload: a first part that fails leaves the upload at offset 0.
        match tus
            .append(
                &caller.tenant,
                &upload.id,
                0,
                part_length,
                body,
                checksum.as_ref(),
            )
            .await
        {
            Ok(done) => appended(&mut response, &done),
            Err(e) => {
                warn!(error = %e, "the creation's first part was not stored");
                set_header(&mut response, "Upload-Offset", "0");
            }
        }
    }
    Ok(response)
}

/// `HEAD /v1/uploads/{id}`: where the upload stands (completing one whose parts all landed).
pub async fn head(
    env: &Env,
    config: &UploadConfig,
    caller: &Principal,
    id: &DocumentId,
    request_id: &RequestId,
) -> ApiResult {
    let ports = Ports::from_env(env, config)?;
    let status = ports.tus(config).status(&caller.tenant, id).await?;
    let mut response = answer(200, request_id)?;
    appended(&mut response, &status);
    Ok(response)
}

/// `PATCH /v1/uploads/{id}`: the next part.
pub async fn patch(
    req: &Request,
    env: &Env,
    config: &UploadConfig,
    caller: &Principal,
    id: &DocumentId,
    request_id: &RequestId,
) -> ApiResult {
    let headers = Headers::of(req);
    let tus_headers = headers.tus();
    resumable::check_version(&tus_headers)?;
    let offset = resumable::patch_offset(&tus_headers)?;
    let checksum = resumable::checksum(&tus_headers)?;
    let (length, body) = part(req, &tus_headers)?;
    let ports = Ports::from_env(env, config)?;
    let done = ports
        .tus(config)
        .append(&caller.tenant, id, offset, length, body, checksum.as_ref())
        .await?;
    let mut response = answer(204, request_id)?;
    appended(&mut response, &done);
    Ok(response)
}

/// `DELETE /v1/uploads/{id}`: terminates the upload.
pub async fn terminate(
    env: &Env,
    config: &UploadConfig,
    caller: &Principal,
    id: &DocumentId,
    request_id: &RequestId,
) -> ApiResult {
    let ports = Ports::from_env(env, config)?;
    ports.tus(config).terminate(&caller.tenant, id).await?;
    answer(204, request_id)
}

/// Expired uploads, for the sweep: aborted, with their rows and quotas given back.
pub async fn sweep_expired(
    env: &Env,
    config: &UploadConfig,
) -> Result<(usize, Vec<String>), String> {
    let ports = Ports::from_env(env, config).map_err(|e| e.to_string())?;
    Ok(ports.tus(config).sweep_expired(config.sweep.batch).await)
}
