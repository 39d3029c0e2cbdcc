//! # docpipe upload Worker
//!
//! The HTTP API v1. A thin adapter: it reads a request into the types of `docpipe-pipeline`,
//! runs the operation against R2, D1 and the jobs queue, and writes the result back as JSON.
//!
//! ## Layout
//! - this file: the fetch handler, routing, responses.
//! - [`documents`]: `POST /v1/documents` and `POST /v1/documents/{id}/reprocess`.
//! - [`reads`]: `GET /v1/jobs/{id}`, `GET /v1/documents/{id}/summary` and `…/text`.
//! - [`sweeping`]: the scheduled sweep (cron trigger) that re-enqueues jobs whose message was
//!   lost and deletes the objects of uploads that never finished.

mod documents;
mod reads;
mod sweeping;

use docpipe_cloudflare::{BindingError, logging};
use docpipe_jobs::RequestId;
use docpipe_pipeline::api::{ApiError, Route};
use serde::Serialize;
use tracing::{Instrument, error, info, warn};
use worker::{Context, Env, Request, Response, Result, event};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    logging::init_from(&env);
    let header = req.headers().get("X-Request-Id").ok().flatten();
    let request_id = match docpipe_pipeline::upload::request_id(header.as_deref()) {
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
        match handle(req, &env, &request_id).await {
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

type ApiResult = std::result::Result<Response, ApiError>;

async fn handle(req: Request, env: &Env, request_id: &RequestId) -> ApiResult {
    match Route::parse(req.method().as_ref(), &req.path())? {
        Route::Health => json(200, &serde_json::json!({ "status": "ok" }), request_id),
        Route::CreateDocument => documents::create(&req, env, request_id).await,
        Route::Reprocess(id) => documents::reprocess(env, &id, request_id).await,
        Route::GetJob(id) => reads::job(env, &id, request_id).await,
        Route::GetSummary(id) => reads::summary(env, &id, request_id).await,
        Route::GetText(id) => reads::text(env, &id, request_id).await,
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
    if let Some(seconds) = error.retry_after_seconds() {
        set_header(&mut response, "Retry-After", &seconds.to_string());
    }
    Ok(response)
}
