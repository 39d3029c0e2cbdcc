//! Reading jobs and summaries.

use docpipe_jobs::{DocumentId, JobId, RequestId};
use docpipe_pipeline::api::{ApiError, JobView, SummaryView};
use docpipe_pipeline::store::SummaryLookup;
use worker::Env;

use crate::{ApiResult, json, store, unavailable};

pub async fn job(env: &Env, id: &JobId, request_id: &RequestId) -> ApiResult {
    let job = store(env)?
        .job(id)
        .await
        .map_err(unavailable("reading a job"))?
        .ok_or(ApiError::JobNotFound)?;
    json(200, &JobView::from(job), request_id)
}

pub async fn summary(env: &Env, id: &DocumentId, request_id: &RequestId) -> ApiResult {
    let lookup = store(env)?
        .latest_summary(id)
        .await
        .map_err(unavailable("reading a summary"))?;
    match lookup {
        SummaryLookup::Ready(row) => json(200, &SummaryView::from(row), request_id),
        SummaryLookup::NoSuchDocument => Err(ApiError::DocumentNotFound),
        SummaryLookup::Pending { job_id, status } => {
            Err(ApiError::SummaryPending { job_id, status })
        }
        SummaryLookup::Failed { job_id, error } => Err(ApiError::SummaryFailed { job_id, error }),
    }
}
