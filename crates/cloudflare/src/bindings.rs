//! Finding the Worker's bindings, with one error type that names what is missing. Both Workers
//! look their bindings up here, once per request or batch.

use docpipe_pipeline::config::names;
use docpipe_pipeline::store::Store;
use worker::Env;

use crate::{D1, JobsQueue, R2Documents, R2Objects, R2Uploads};

/// A binding the Worker needs is missing or is not what the config says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} binding `{name}` is unusable: {reason}")]
pub struct BindingError {
    pub kind: &'static str,
    pub name: &'static str,
    pub reason: String,
}

fn binding<T>(
    kind: &'static str,
    name: &'static str,
    found: worker::Result<T>,
) -> Result<T, BindingError> {
    found.map_err(|e| BindingError {
        kind,
        name,
        reason: e.to_string(),
    })
}

/// D1, as the pipeline's store.
pub fn store(env: &Env) -> Result<Store<D1>, BindingError> {
    Ok(Store::new(D1(binding("D1", names::DB, env.d1(names::DB))?)))
}

fn bucket(env: &Env) -> Result<worker::Bucket, BindingError> {
    binding("R2", names::DOCUMENTS, env.bucket(names::DOCUMENTS))
}

/// The documents bucket, as the upload sink; bodies may stall for `stall_ms` at most.
pub fn uploads(env: &Env, stall_ms: u64) -> Result<R2Uploads, BindingError> {
    Ok(R2Uploads {
        bucket: bucket(env)?,
        stall_ms,
    })
}

/// The documents bucket, as the processing source.
pub fn documents(env: &Env) -> Result<R2Documents, BindingError> {
    Ok(R2Documents(bucket(env)?))
}

/// The documents bucket, for the sweep's deletions.
pub fn objects(env: &Env) -> Result<R2Objects, BindingError> {
    Ok(R2Objects(bucket(env)?))
}

/// The webhooks queue's producer binding.
pub fn webhooks_queue(env: &Env) -> Result<crate::WebhooksQueue, BindingError> {
    Ok(crate::WebhooksQueue(binding(
        "Queue",
        names::WEBHOOKS,
        env.queue(names::WEBHOOKS),
    )?))
}

/// The jobs queue's producer binding.
pub fn jobs_queue(env: &Env) -> Result<JobsQueue, BindingError> {
    Ok(JobsQueue(binding(
        "Queue",
        names::JOBS,
        env.queue(names::JOBS),
    )?))
}
