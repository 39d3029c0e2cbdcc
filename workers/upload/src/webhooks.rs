//! Webhooks: `POST/GET /v1/webhooks`, `GET/DELETE /v1/webhooks/{id}`, the signing secret, and
//! each receiver's deliveries with their attempts and redelivery. The caller's tenant's only.

use docpipe_cloudflare::{D1, WorkerClock, bindings, stream};
use docpipe_jobs::RequestId;
use docpipe_pipeline::api::{ApiError, Receiver};
use docpipe_pipeline::auth::Principal;
use docpipe_pipeline::config::UploadConfig;
use docpipe_pipeline::ingest::unavailable;
use docpipe_pipeline::ports::Clock;
use docpipe_pipeline::store::webhooks::MAX_ENDPOINTS;
use docpipe_pipeline::store::{EndpointRow, Store};
use docpipe_pipeline::webhooks::{self, MAX_REQUEST_BYTES};
use tracing::{error, info};
use worker::{Env, Request};

use crate::reads::query_pairs;
use crate::{ApiResult, internal, json};

fn no_secret(e: String) -> ApiError {
    error!(error = %e, "could not make a signing secret");
    ApiError::Internal
}

/// `POST /v1/webhooks`: registers an endpoint; the answer carries the signing secret.
pub async fn create(
    req: &Request,
    env: &Env,
    config: &UploadConfig,
    caller: &Principal,
    request_id: &RequestId,
) -> ApiResult {
    let body = req.inner().body().ok_or_else(|| ApiError::InvalidWebhook {
        reason: "the body is empty".into(),
    })?;
    let bytes = stream::read_small(body, MAX_REQUEST_BYTES as u64)
        .await
        .map_err(|reason| ApiError::InvalidWebhook { reason })?;
    let endpoint = webhooks::endpoint_request(&bytes, &config.fetch.allowed_hosts)?;
    let store = bindings::store(env).map_err(internal)?;
    let now = WorkerClock.now_ms();
    let secret = store
        .signing_secret(
            &caller.tenant,
            &webhooks::new_secret().map_err(no_secret)?,
            now,
        )
        .await
        .map_err(unavailable("reading the signing secret"))?;
    let created = store
        .create_endpoint(&caller.tenant, &endpoint, now)
        .await
        .map_err(unavailable("registering a webhook"))?
        .ok_or(ApiError::TooManyWebhooks {
            limit: MAX_ENDPOINTS,
        })?;
    info!(webhook_id = %created.id, url = %created.url, "webhook registered");
    let mut body = serde_json::to_value(&created).unwrap_or_default();
    body["secret"] = secret.into();
    json(201, &body, request_id)
}

/// `GET /v1/webhooks`: the caller's endpoints.
pub async fn list(env: &Env, caller: &Principal, request_id: &RequestId) -> ApiResult {
    let endpoints = bindings::store(env)
        .map_err(internal)?
        .endpoints(&caller.tenant)
        .await
        .map_err(unavailable("listing webhooks"))?;
    json(
        200,
        &serde_json::json!({ "webhooks": endpoints }),
        request_id,
    )
}

/// `GET /v1/webhooks/secret`: the secret events are signed with (made on first use).
pub async fn secret(env: &Env, caller: &Principal, request_id: &RequestId) -> ApiResult {
    let secret = bindings::store(env)
        .map_err(internal)?
        .signing_secret(
            &caller.tenant,
            &webhooks::new_secret().map_err(no_secret)?,
            WorkerClock.now_ms(),
        )
        .await
        .map_err(unavailable("reading the signing secret"))?;
    json(200, &serde_json::json!({ "secret": secret }), request_id)
}

/// `GET` or `DELETE /v1/webhooks/{id}`.
pub async fn endpoint(
    req: &Request,
    env: &Env,
    caller: &Principal,
    receiver: &Receiver,
    request_id: &RequestId,
) -> ApiResult {
    let id = receiver.endpoint().ok_or(ApiError::WebhookNotFound)?;
    let store = bindings::store(env).map_err(internal)?;
    if req.method() == worker::Method::Delete {
        let existed = store
            .delete_endpoint(&caller.tenant, id)
            .await
            .map_err(unavailable("deleting a webhook"))?;
        info!(webhook_id = id, existed, "webhook deleted");
        return crate::no_content(request_id);
    }
    json(200, &endpoint_of(&store, caller, id).await?, request_id)
}

/// `GET /v1/webhooks/{id}/deliveries`: newest first, each with its attempts.
pub async fn deliveries(
    req: &Request,
    env: &Env,
    caller: &Principal,
    receiver: &Receiver,
    request_id: &RequestId,
) -> ApiResult {
    let query = webhooks::deliveries_query(&query_pairs(req))?;
    let store = bindings::store(env).map_err(internal)?;
    // Deliveries to callback URLs need no endpoint.
    if let Some(id) = receiver.endpoint() {
        endpoint_of(&store, caller, id).await?;
    }
    let rows = store
        .deliveries(
            &caller.tenant,
            receiver.endpoint(),
            query.before,
            query.limit,
        )
        .await
        .map_err(unavailable("listing deliveries"))?;
    let (deliveries, next_cursor) = webhooks::deliveries_page(rows, query.limit);
    json(
        200,
        &serde_json::json!({ "deliveries": deliveries, "next_cursor": next_cursor }),
        request_id,
    )
}

/// `POST /v1/webhooks/{id}/deliveries/{delivery}/redeliver`: the event again, as a new
/// delivery.
pub async fn redeliver(
    env: &Env,
    caller: &Principal,
    receiver: &Receiver,
    delivery: i64,
    request_id: &RequestId,
) -> ApiResult {
    let store = bindings::store(env).map_err(internal)?;
    let queue = bindings::webhooks_queue(env).map_err(internal)?;
    let id = store
        .redeliver(
            &caller.tenant,
            receiver.endpoint(),
            delivery,
            WorkerClock.now_ms(),
        )
        .await
        .map_err(unavailable("redelivering"))?
        .ok_or(ApiError::DeliveryNotFound)?;
    // If the message is lost, the sweep sends it once it is overdue.
    webhooks::send(&queue, &[id]).await;
    info!(delivery_id = id, of = delivery, "redelivery requested");
    let row = store
        .delivery(&caller.tenant, id)
        .await
        .map_err(unavailable("reading a delivery"))?
        .ok_or(ApiError::DeliveryNotFound)?;
    json(202, &row, request_id)
}

/// The caller's endpoint `id`.
async fn endpoint_of(
    store: &Store<D1>,
    caller: &Principal,
    id: &str,
) -> Result<EndpointRow, ApiError> {
    store
        .endpoint(&caller.tenant, id)
        .await
        .map_err(unavailable("reading a webhook"))?
        .ok_or(ApiError::WebhookNotFound)
}
