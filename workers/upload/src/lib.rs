//! # docpipe upload Worker
//!
//! The HTTP API v1. A thin adapter: it reads a request into the types of `docpipe-pipeline`,
//! runs the operation against R2, D1 and the jobs queue, and writes the result back as JSON.
//!
//! ## Layout
//! - this file: the fetch handler, routing, responses.
//! - [`documents`]: `POST /v1/documents`, `POST /v1/documents/{id}/reprocess`, and
//!   `DELETE /v1/documents/{id}`.
//! - [`reads`]: `GET /v1/jobs/{id}`, `GET /v1/documents/{id}`, `…/summary` and `…/text`, and
//!   the listings `GET /v1/documents` and `GET /v1/jobs`, and `GET /v1/search`.
//! - [`resumable`]: resumable uploads (tus 1.0.0) at `/v1/uploads`.
//! - [`webhooks`]: webhook endpoints, the signing secret, deliveries and redelivery.
//!
//! The web page at `/` (`web/`: HTML, CSS, one module) is served by Workers static assets
//! before this Worker runs; every other request comes here.
//!
//! Every `/v1` route needs `Authorization: Bearer <key>`; the key's tenant scopes everything
//! the request reads or writes. Browsers may call from this API's own origin and those in
//! `CORS_ALLOWED_ORIGINS`; a request from any other origin is refused.
//! - [`sweeping`]: the scheduled sweep (cron trigger) that re-enqueues jobs whose message was
//!   lost and deletes the objects of uploads that never finished.

mod documents;
mod reads;
mod resumable;
mod sweeping;
mod webhooks;

use std::future::Future;
use std::pin::Pin;

use docpipe_cloudflare::{BindingError, WorkerClock, bindings, log_usage, logging, vars};
use docpipe_jobs::RequestId;
use docpipe_pipeline::api::{ApiError, Route};
use docpipe_pipeline::auth::{Principal, Scope, bearer_key, key_hash};
use docpipe_pipeline::config::UploadConfig;
use docpipe_pipeline::cors::{self, Origin};
use docpipe_pipeline::db::retry_failed;
use docpipe_pipeline::ingest::{Idempotency, REQUEST_PAUSES_MS, unavailable};
use docpipe_pipeline::ports::Clock;
use docpipe_pipeline::upload;
use docpipe_pipeline::usage::metered;
use serde::Serialize;
use tracing::{Instrument, Span, error, info, warn};
use worker::{Context, Env, Request, Response, Result, event};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    logging::init_from(&env);
    let header = req.headers().get("X-Request-Id").ok().flatten();
    let request_id = match docpipe_pipeline::upload::request_id(header.as_deref()) {
        Ok(id) => id,
        Err(e) => return error_response(&e, &RequestId::generate(), None),
    };
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.path(),
        tenant = tracing::field::Empty,
        key_id = tracing::field::Empty,
    );
    // Counted per request: a job's message carries what its request spent.
    let request = metered(async move {
        let config = match UploadConfig::from_vars(vars(&env)) {
            Ok(config) => config,
            Err(e) => {
                error!(error = %e, "invalid configuration");
                return error_response(&ApiError::Internal, &request_id, None);
            }
        };
        let origin = origin(&req, &config);
        let allowed_origin = match &origin {
            Origin::Allowed(origin) => Some(origin.as_str()),
            _ => None,
        };
        let answer = match &origin {
            Origin::Refused(origin) => Err(ApiError::OriginNotAllowed {
                origin: origin.clone(),
            }),
            _ if req.method() == worker::Method::Options => preflight(&req, &config, &request_id),
            _ => handle(req, &env, &ctx, &config, &request_id).await,
        };
        log_usage!(debug, "request done");
        match answer {
            Ok(mut response) => {
                allow_origin(&mut response, allowed_origin);
                Ok(response)
            }
            Err(e) => {
                if e.status() >= 500 {
                    error!(status = e.status(), code = e.code(), "request failed");
                } else {
                    info!(status = e.status(), code = e.code(), reason = %e, "request rejected");
                }
                error_response(&e, &request_id, allowed_origin)
            }
        }
    });
    request.instrument(span).await.0
}

type ApiResult = std::result::Result<Response, ApiError>;

async fn handle(
    req: Request,
    env: &Env,
    ctx: &Context,
    config: &UploadConfig,
    request_id: &RequestId,
) -> ApiResult {
    let route = Route::parse(req.method().as_ref(), &req.path())?;
    let Some(scope) = route.scope() else {
        return json(200, &serde_json::json!({ "status": "ok" }), request_id);
    };
    // An upload's Idempotency-Key is looked up with its caller's key, in one round trip. An
    // invalid one is looked up nowhere: an upload of the document's bytes refuses it (a form
    // upload ignores the header).
    let idempotency_key = match route {
        Route::CreateDocument => {
            let header = req.headers().get("Idempotency-Key").ok().flatten();
            upload::idempotency_key(header.as_deref()).ok().flatten()
        }
        _ => None,
    };
    let (caller, idempotency) = authenticate(&req, env, ctx, scope, idempotency_key).await?;
    // Each route's handling is a future of its own, polled through a pointer, so the compiler
    // keeps each route's code a function apart instead of inlining every route into this one
    // (V8 compiles a hot WebAssembly function again with its optimizing compiler, whose memory
    // grows with the function).
    let handling: Pin<Box<dyn Future<Output = ApiResult> + '_>> = match &route {
        Route::Health => return json(200, &serde_json::json!({ "status": "ok" }), request_id),
        Route::CreateDocument => Box::pin(documents::create(
            &req,
            env,
            ctx,
            config,
            &caller,
            idempotency,
            request_id,
        )),
        Route::Reprocess(id) => {
            Box::pin(documents::reprocess(env, config, &caller, id, request_id))
        }
        Route::ListDocuments => Box::pin(reads::documents(&req, env, &caller, request_id)),
        Route::ListJobs => Box::pin(reads::jobs(&req, env, &caller, request_id)),
        Route::Search => Box::pin(reads::search(&req, env, &caller, request_id)),
        Route::GetJob(id) => Box::pin(reads::job(env, &caller, id, request_id)),
        Route::GetDocument(id) => Box::pin(reads::document(env, &caller, id, request_id)),
        Route::DeleteDocument(id) => Box::pin(documents::delete(env, &caller, id, request_id)),
        Route::GetSummary(id) => Box::pin(reads::summary(env, &caller, id, request_id)),
        Route::GetText(id) => Box::pin(reads::text(&req, env, &caller, id, request_id)),
        Route::CreateUpload => Box::pin(resumable::create(&req, env, config, &caller, request_id)),
        Route::Upload(id) => match req.method() {
            worker::Method::Head => Box::pin(resumable::head(env, config, &caller, id, request_id)),
            worker::Method::Patch => {
                Box::pin(resumable::patch(&req, env, config, &caller, id, request_id))
            }
            _ => Box::pin(resumable::terminate(env, config, &caller, id, request_id)),
        },
        Route::CreateWebhook => Box::pin(webhooks::create(&req, env, config, &caller, request_id)),
        Route::ListWebhooks => Box::pin(webhooks::list(env, &caller, request_id)),
        Route::WebhookSecret => Box::pin(webhooks::secret(env, &caller, request_id)),
        Route::Webhook(receiver) => {
            Box::pin(webhooks::endpoint(&req, env, &caller, receiver, request_id))
        }
        Route::Deliveries(receiver) => Box::pin(webhooks::deliveries(
            &req, env, &caller, receiver, request_id,
        )),
        Route::Redeliver(receiver, delivery) => Box::pin(webhooks::redeliver(
            env, &caller, receiver, *delivery, request_id,
        )),
    };
    handling.await
}

/// The caller of a request, by its `Authorization: Bearer` key, if the key grants `scope`;
/// with an upload's `idempotency_key`, also what that key names in the caller's tenant (in the
/// same statement). The key's last use is noted after the response is sent.
async fn authenticate(
    req: &Request,
    env: &Env,
    ctx: &Context,
    scope: Scope,
    idempotency_key: Option<String>,
) -> std::result::Result<(Principal, Option<Idempotency>), ApiError> {
    let header = req.headers().get("Authorization").ok().flatten();
    let key = bearer_key(header.as_deref())?;
    let store = bindings::store(env).map_err(internal)?;
    let hash = key_hash(key);
    let (caller, original) = retry_failed(&WorkerClock, &REQUEST_PAUSES_MS, |_| {
        store.authenticate(&hash, idempotency_key.as_deref())
    })
    .await
    .map_err(unavailable("authenticating"))?
    .ok_or(ApiError::InvalidApiKey)?;
    let idempotency = idempotency_key.map(|key| Idempotency { key, original });
    let span = Span::current();
    span.record("tenant", caller.tenant.as_str());
    span.record("key_id", caller.key_id.as_str());
    caller.require(scope)?;
    if !caller.needs_touch(WorkerClock.now_ms()) {
        return Ok((caller, idempotency));
    }
    let key_id = caller.key_id.clone();
    ctx.wait_until(
        async move {
            if let Err(e) = store.touch_key(&key_id, WorkerClock.now_ms()).await {
                warn!(error = %e, "could not note the key's last use");
            }
        }
        .instrument(span),
    );
    Ok((caller, idempotency))
}

/// The request's `Origin`, judged against this API's own and the allowed ones.
fn origin(req: &Request, config: &UploadConfig) -> Origin {
    let origin = req.headers().get("Origin").ok().flatten();
    let own = req
        .url()
        .map(|url| url.origin().ascii_serialization())
        .unwrap_or_default();
    cors::check(origin.as_deref(), &own, &config.allowed_origins)
}

/// A browser's preflight from an allowed origin: what it may send.
fn preflight(req: &Request, config: &UploadConfig, request_id: &RequestId) -> ApiResult {
    // The route must exist; its method is checked when the real request comes.
    match Route::parse("GET", &req.path()) {
        Ok(_) | Err(ApiError::MethodNotAllowed { .. }) => {}
        Err(e) => return Err(e),
    }
    let mut response = Response::empty()
        .map_err(platform("building a response"))?
        .with_status(204);
    set_header(
        &mut response,
        "Access-Control-Allow-Methods",
        cors::ALLOWED_METHODS,
    );
    set_header(
        &mut response,
        "Access-Control-Allow-Headers",
        cors::ALLOWED_HEADERS,
    );
    set_header(
        &mut response,
        "Access-Control-Max-Age",
        &cors::MAX_AGE_SECONDS.to_string(),
    );
    set_header(&mut response, "X-Request-Id", request_id.as_str());
    if req.path().starts_with("/v1/uploads") {
        resumable::discovery(&mut response, config);
    }
    Ok(response)
}

/// Lets the page at `origin` read the response.
fn allow_origin(response: &mut Response, origin: Option<&str>) {
    if let Some(origin) = origin {
        set_header(response, "Access-Control-Allow-Origin", origin);
        set_header(
            response,
            "Access-Control-Expose-Headers",
            cors::EXPOSED_HEADERS,
        );
        set_header(response, "Vary", "Origin");
    }
}

/// Logs why a binding is unusable and answers `500`.
fn internal(e: BindingError) -> ApiError {
    error!(error = %e, "binding unavailable");
    ApiError::Internal
}

/// Logs why the platform failed to build a response and answers `500`.
fn platform(what: &'static str) -> impl Fn(worker::Error) -> ApiError {
    move |e| {
        error!(error = %e, what, "the runtime refused");
        ApiError::Internal
    }
}

fn json<T: Serialize>(status: u16, body: &T, request_id: &RequestId) -> ApiResult {
    let mut response = Response::from_json(body)
        .map_err(platform("serializing the response"))?
        .with_status(status);
    set_header(&mut response, "X-Request-Id", request_id.as_str());
    set_header(&mut response, "Cache-Control", "no-store");
    Ok(response)
}

/// `204 No Content`, for a deletion.
fn no_content(request_id: &RequestId) -> ApiResult {
    let mut response = Response::empty()
        .map_err(platform("building a response"))?
        .with_status(204);
    set_header(&mut response, "X-Request-Id", request_id.as_str());
    Ok(response)
}

fn set_header(response: &mut Response, name: &str, value: &str) {
    if let Err(e) = response.headers_mut().set(name, value) {
        warn!(error = %e, name, "could not set a response header");
    }
}

fn error_response(
    error: &ApiError,
    request_id: &RequestId,
    origin: Option<&str>,
) -> Result<Response> {
    let mut response =
        Response::from_json(&error.body(request_id.as_str()))?.with_status(error.status());
    set_header(&mut response, "X-Request-Id", request_id.as_str());
    set_header(&mut response, "Cache-Control", "no-store");
    if let Some(allowed) = error.allow() {
        set_header(&mut response, "Allow", allowed);
    }
    if let Some(seconds) = error.retry_after_seconds() {
        set_header(&mut response, "Retry-After", &seconds.to_string());
    }
    if matches!(error, ApiError::TusVersion) {
        set_header(&mut response, "Tus-Version", "1.0.0");
    }
    if let Some(challenge) = error.www_authenticate() {
        set_header(&mut response, "WWW-Authenticate", &challenge);
    }
    allow_origin(&mut response, origin);
    Ok(response)
}
