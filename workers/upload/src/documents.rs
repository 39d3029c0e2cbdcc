//! `POST /v1/documents` and `POST /v1/documents/{id}/reprocess`: the request read into the
//! pipeline's types, the upload protocol (`docpipe_pipeline::ingest`) run over R2, D1 and the
//! jobs queue, and its answer written back.

use docpipe_cloudflare::form::FormParts;
use docpipe_cloudflare::stream;
use docpipe_cloudflare::{D1, JobsQueue, R2Uploads, WorkerClock, bindings};
use docpipe_jobs::{DocumentId, RequestId};
use docpipe_pipeline::api::{ApiError, FormAccepted, FormResult, UploadAccepted};
use docpipe_pipeline::auth::Principal;
use docpipe_pipeline::config::UploadConfig;
use docpipe_pipeline::ingest::{Accepted, Idempotency, Ingest, Upload};
use docpipe_pipeline::objects::remove_document;
use docpipe_pipeline::store::Store;
use docpipe_pipeline::upload::{self, UploadHeaders};
use docpipe_pipeline::webhooks;
use futures_channel::oneshot;
use tracing::{Instrument, Span, info, warn};
use worker::{Context, Env, Request};

use crate::{ApiResult, internal, json, set_header};

/// What an upload or a reprocess needs.
struct Ports {
    store: Store<D1>,
    sink: R2Uploads,
    queue: JobsQueue,
}

impl Ports {
    fn from_env(env: &Env, config: &UploadConfig) -> Result<Self, ApiError> {
        Ok(Self {
            store: bindings::store(env).map_err(internal)?,
            sink: bindings::uploads(env, config.body_stall_ms).map_err(internal)?,
            queue: bindings::jobs_queue(env).map_err(internal)?,
        })
    }

    fn ingest<'a>(
        &'a self,
        config: &'a UploadConfig,
    ) -> Ingest<'a, D1, R2Uploads, JobsQueue, WorkerClock> {
        Ingest {
            store: &self.store,
            sink: &self.sink,
            queue: &self.queue,
            clock: &WorkerClock,
            quotas: &config.quotas,
            heartbeat_ms: config.sweep.heartbeat_ms(),
        }
    }
}

/// `POST /v1/documents`. `idempotency` is the request's `Idempotency-Key` with what it names,
/// looked up with the caller's key (none when the header is absent or invalid).
pub async fn create(
    req: &Request,
    env: &Env,
    ctx: &Context,
    config: &UploadConfig,
    caller: &Principal,
    idempotency: Option<Idempotency>,
    request_id: &RequestId,
) -> ApiResult {
    let headers = req.headers();
    let header = |name: &str| headers.get(name).ok().flatten();
    let (length, content_type, disposition, idempotency_key) = (
        header("Content-Length"),
        header("Content-Type"),
        header("Content-Disposition"),
        header("Idempotency-Key"),
    );
    let param = |name: &str| {
        req.url().ok().and_then(|url| {
            url.query_pairs()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
        })
    };
    let callback_url = param("callback_url")
        .map(|raw| webhooks::check_url(&raw, &config.fetch.allowed_hosts))
        .transpose()?;
    if upload::is_form(content_type.as_deref()) {
        let content_type = content_type.unwrap_or_default();
        let form_upload = FormUpload {
            content_type: &content_type,
            callback_url,
        };
        return form(req, env, ctx, config, caller, request_id, form_upload).await;
    }
    let filename_param = param("filename");
    let valid = upload::validate(
        &UploadHeaders {
            content_length: length.as_deref(),
            content_type: content_type.as_deref(),
            content_disposition: disposition.as_deref(),
            filename_param: filename_param.as_deref(),
        },
        config.max_upload_bytes,
    )?;
    // An invalid key is refused here; a valid one was looked up already.
    upload::idempotency_key(idempotency_key.as_deref())?;
    let mut body = req.inner().body().ok_or(ApiError::EmptyBody)?;
    let ports = Ports::from_env(env, config)?;
    // A small JSON body may name a URL to fetch instead of being the document.
    if upload::may_be_url_request(content_type.as_deref(), length.as_deref()) {
        let bytes = stream::read_small(body, upload::MAX_URL_REQUEST_BYTES)
            .await
            .map_err(|reason| ApiError::IncompleteBody { reason })?;
        if let Some(request) = upload::url_request(&bytes) {
            let mut request = request?;
            if request.callback_url.is_none() {
                request.callback_url = callback_url;
            }
            let answer = ports
                .ingest(config)
                .accept_url(
                    &caller.tenant,
                    request,
                    idempotency.as_ref().map(|i| i.key.as_str()),
                    &config.fetch.allowed_hosts,
                    request_id,
                )
                .await?;
            let replayed = false;
            return accepted_response(&Accepted { answer, replayed }, request_id);
        }
        body = stream::stream_of(bytes).map_err(|e| {
            tracing::error!(error = %e, "could not replay a small body");
            ApiError::Internal
        })?;
    }
    let upload = Upload {
        tenant: caller.tenant.clone(),
        valid,
        idempotency,
        request_id: request_id.clone(),
        callback_url,
        body,
    };
    // The upload runs to its end even when the client goes away mid-body: the body then fails,
    // and the upload's own failure path deletes what was stored and gives the quota back.
    // The client is answered once the upload is recorded; the job's message is sent after
    // (a job whose message is never sent is queued in D1, and the sweep sends it).
    let config = config.clone();
    let accepted = outliving_the_client(ctx, |reply| async move {
        let ingest = ports.ingest(&config);
        match ingest.record(upload).await {
            Ok((accepted, message)) => {
                reply.send(Ok(accepted));
                if let Some(message) = message {
                    ingest.enqueue(&message).await;
                }
            }
            Err(e) => reply.send(Err(e)),
        }
    })
    .await??;
    accepted_response(&accepted, request_id)
}

/// The answer of work that outlives its client.
struct Reply<T>(oneshot::Sender<T>);

impl<T> Reply<T> {
    fn send(self, answer: T) {
        if self.0.send(answer).is_err() {
            info!("the client left before it was answered");
        }
    }
}

/// Runs `work` under `ctx.waitUntil`, so that it goes on to its end when the client leaves
/// (its failure paths then clean up), and waits for the answer it sends, which may come
/// before its end.
async fn outliving_the_client<T: 'static, F>(
    ctx: &Context,
    work: impl FnOnce(Reply<T>) -> F,
) -> Result<T, ApiError>
where
    F: std::future::Future<Output = ()> + 'static,
{
    let (answer, answered) = oneshot::channel();
    // Made here, the work keeps counting from its request's count.
    let work = docpipe_pipeline::usage::metered(work(Reply(answer)));
    ctx.wait_until(
        async move {
            work.await;
        }
        .instrument(Span::current()),
    );
    answered.await.map_err(|_| ApiError::Internal)
}

/// What a form upload was declared with.
struct FormUpload<'a> {
    content_type: &'a str,
    /// Where each of its documents' webhook events also go.
    callback_url: Option<String>,
}

/// A `multipart/form-data` upload: each file part becomes a document, streamed as the form is
/// parsed, and the answer lists one result per file part. Other fields are ignored.
async fn form(
    req: &Request,
    env: &Env,
    ctx: &Context,
    config: &UploadConfig,
    caller: &Principal,
    request_id: &RequestId,
    form_upload: FormUpload<'_>,
) -> ApiResult {
    let FormUpload {
        content_type,
        callback_url,
    } = form_upload;
    let body = req.inner().body().ok_or(ApiError::EmptyBody)?;
    let mut parts =
        FormParts::new(body, content_type).map_err(|reason| ApiError::MalformedForm { reason })?;
    let ports = Ports::from_env(env, config)?;
    let (tenant, request_id_owned) = (caller.tenant.clone(), request_id.clone());
    let config = config.clone();
    // As for a single upload: the work outlives a client that leaves.
    let (results, ended) = outliving_the_client(ctx, |reply| async move {
        let ingest = ports.ingest(&config);
        let mut results = Vec::new();
        let ended = loop {
            let part = match parts.next_file().await {
                Ok(Some(part)) => part,
                Ok(None) => break Ok(()),
                Err(reason) => break Err(ApiError::MalformedForm { reason }),
            };
            let valid = match upload::validate_part(
                Some(&part.filename),
                part.content_type.as_deref(),
                config.max_upload_bytes,
            ) {
                Ok(valid) => valid,
                Err(e) => {
                    let _ = wasm_bindgen_futures::JsFuture::from(part.body.cancel()).await;
                    results.push((Some(part.filename), Err(e)));
                    continue;
                }
            };
            let filename = valid.filename.clone();
            let accepted = ingest
                .accept(Upload {
                    tenant: tenant.clone(),
                    valid,
                    idempotency: None,
                    request_id: request_id_owned.clone(),
                    callback_url: callback_url.clone(),
                    body: part.body,
                })
                .await;
            results.push((filename, accepted.map(|accepted| accepted.answer)));
        };
        reply.send((results, ended));
    })
    .await?;
    if results.is_empty() {
        ended?;
        return Err(ApiError::NoFileInForm);
    }
    if let Err(e) = ended {
        warn!(error = %e, "the form ended badly after some of its files");
    }
    // Not one document: the first file's error, as any failed upload answers.
    if !results.iter().any(|(_, result)| result.is_ok()) {
        let first = results.into_iter().find_map(|(_, result)| result.err());
        return Err(first.unwrap_or(ApiError::NoFileInForm));
    }
    let documents = results
        .into_iter()
        .map(|(filename, result)| match result {
            Ok(accepted) => FormResult::Accepted { filename, accepted },
            Err(e) => FormResult::refused(filename, &e),
        })
        .collect();
    json(202, &FormAccepted { documents }, request_id)
}

pub async fn reprocess(
    env: &Env,
    config: &UploadConfig,
    caller: &Principal,
    document: &DocumentId,
    request_id: &RequestId,
) -> ApiResult {
    let answer = Ports::from_env(env, config)?
        .ingest(config)
        .reprocess(&caller.tenant, document, request_id)
        .await?;
    accepted_response(
        &Accepted {
            answer,
            replayed: false,
        },
        request_id,
    )
}

fn accepted_response(accepted: &Accepted, request_id: &RequestId) -> ApiResult {
    let answer: &UploadAccepted = &accepted.answer;
    let mut response = json(202, answer, request_id)?;
    set_header(&mut response, "Location", &answer.status_url);
    if accepted.replayed {
        set_header(&mut response, "Idempotent-Replayed", "true");
    }
    Ok(response)
}

/// `DELETE /v1/documents/{id}`: the document's rows, then its original and extracted text
/// (`objects::remove_document`). A job running meanwhile finds its rows gone, writes nothing,
/// and deletes what it stored.
pub async fn delete(
    env: &Env,
    caller: &Principal,
    document: &DocumentId,
    request_id: &RequestId,
) -> ApiResult {
    let store = bindings::store(env).map_err(internal)?;
    let objects = bindings::objects(env).map_err(internal)?;
    let existed = remove_document(&store, &objects, &caller.tenant, document)
        .await
        .map_err(|e| {
            warn!(error = %e, "could not remove a document; removing it again finishes it");
            ApiError::Unavailable
        })?;
    info!(document_id = %document, existed, "document deleted");
    crate::no_content(request_id)
}
