//! # docpipe summarizer Worker
//!
//! Consumes the jobs queue and its dead-letter queue. A thin
//! adapter: each message is decoded on its own, handed to
//! `docpipe_pipeline::process::Processor` with R2, D1 and the summarizer plugged in, and acked
//! or retried according to the outcome. The messages of a batch run concurrently, within a
//! shared memory budget. The handler always returns `Ok(())`: returning an error would make
//! workers-rs retry the whole batch.
//!
//! Its only HTTP surface is `/healthz` and, when enabled for `scripts/bench`, the timing
//! endpoints in [`bench`].

mod bench;

use std::time::Duration;

use docpipe_cloudflare::{AiBinding, D1, FetchClient, R2Documents, WorkerClock, logging, vars};
use docpipe_docproc::summarize::mapreduce::{MapReduce, Model};
use docpipe_docproc::summarize::openai::OpenAiChat;
use docpipe_docproc::summarize::workers_ai::WorkersAi;
use docpipe_docproc::{Backend, ExtractiveSummarizer};
use docpipe_jobs::{DecodeError, JobMessage};
use docpipe_pipeline::budget::MemoryBudget;
use docpipe_pipeline::config::{BackendChoice, SummarizerConfig, names};
use docpipe_pipeline::process::{Action, Outcome, Processor, new_lease_id};
use docpipe_pipeline::store::Store;
use docpipe_pipeline::time::Clock;
use futures_util::StreamExt;
use tracing::{Instrument, error, info, warn};
use wasm_bindgen::JsValue;
use worker::{
    Context, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, RawMessage, Result, event,
};

/// How long to hold back messages when the Worker itself is misconfigured.
const MISCONFIGURED_RETRY_SECONDS: u32 = 300;

#[event(queue)]
async fn queue(batch: MessageBatch<serde_json::Value>, env: Env, _ctx: Context) -> Result<()> {
    logging::init(vars(&env)(names::LOG_LEVEL));
    let queue = batch.queue();
    let span = tracing::info_span!("batch", queue = %queue);
    async {
        match queue.as_str() {
            names::JOBS_QUEUE => consume_jobs(&batch, &env).await,
            names::JOBS_DLQ => consume_dead_letters(&batch, &env).await,
            other => {
                error!(
                    queue = other,
                    "batch from a queue this Worker does not consume; retrying it"
                );
                batch.retry_all_with_options(&delay(MISCONFIGURED_RETRY_SECONDS));
            }
        }
    }
    .instrument(span)
    .await;
    Ok(())
}

fn delay(seconds: u32) -> worker::QueueRetryOptions {
    QueueRetryOptionsBuilder::new()
        .with_delay_seconds(seconds)
        .build()
}

/// The message body as JSON text. Producers send JSON objects; a string body is taken as
/// JSON text itself.
fn body_json(body: &JsValue) -> String {
    if let Some(text) = body.as_string() {
        return text;
    }
    js_sys::JSON::stringify(body)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default()
}

type Summarizer = Backend<AiBinding, FetchClient>;

struct Bindings {
    store: Store<D1>,
    documents: R2Documents,
    summarizer: Summarizer,
    config: SummarizerConfig,
}

fn bindings(env: &Env) -> std::result::Result<Bindings, String> {
    let config = SummarizerConfig::from_vars(vars(env)).map_err(|e| e.to_string())?;
    let db = env.d1(names::DB).map_err(|e| format!("D1 binding: {e}"))?;
    let bucket = env
        .bucket(names::DOCUMENTS)
        .map_err(|e| format!("R2 binding: {e}"))?;
    let summarizer = summarizer(env, &config)?;
    Ok(Bindings {
        store: Store::new(D1(db)),
        documents: R2Documents(bucket),
        summarizer,
        config,
    })
}

fn summarizer(env: &Env, config: &SummarizerConfig) -> std::result::Result<Summarizer, String> {
    fn map_reduce<M: Model>(model: M, max_calls: usize) -> MapReduce<M> {
        MapReduce {
            max_calls,
            ..MapReduce::new(model)
        }
    }
    let calls = config.max_ai_calls;
    Ok(match &config.backend {
        BackendChoice::Extractive => Backend::Extractive(ExtractiveSummarizer),
        BackendChoice::WorkersAi {
            model,
            options,
            max_input_tokens,
        } => {
            let timeout = Duration::from_millis(config.ai_timeout_ms);
            let binding = AiBinding::from_env(env, names::AI, timeout)
                .map_err(|e| format!("AI binding: {e}"))?;
            let mut ai = WorkersAi::new(binding, model.clone(), options.clone());
            ai.max_input_tokens = *max_input_tokens;
            Backend::WorkersAi(map_reduce(ai, calls))
        }
        BackendChoice::OpenAi {
            base_url,
            model,
            api_key,
            window_tokens,
        } => Backend::OpenAi(map_reduce(
            OpenAiChat {
                http: FetchClient {
                    timeout: Duration::from_millis(config.ai_timeout_ms),
                },
                base_url: base_url.clone(),
                model: model.clone(),
                api_key: api_key.clone(),
                window_tokens: *window_tokens,
            },
            calls,
        )),
    })
}

async fn consume_jobs(batch: &MessageBatch<serde_json::Value>, env: &Env) {
    let bindings = match bindings(env) {
        Ok(bindings) => bindings,
        Err(e) => {
            error!(error = %e, "cannot process jobs; retrying the batch later");
            batch.retry_all_with_options(&delay(MISCONFIGURED_RETRY_SECONDS));
            return;
        }
    };
    let memory = MemoryBudget::new(bindings.config.memory_budget_bytes);
    let processor = Processor {
        store: &bindings.store,
        documents: &bindings.documents,
        summarizer: &bindings.summarizer,
        clock: &WorkerClock,
        config: &bindings.config,
        memory: &memory,
    };
    let messages: Vec<RawMessage> = batch.raw_iter().collect();
    futures_util::stream::iter(&messages)
        .for_each_concurrent(bindings.config.concurrency, |raw| {
            consume_job(raw, &processor, &bindings.store)
        })
        .await;
}

async fn consume_job(
    raw: &RawMessage,
    processor: &Processor<'_, D1, R2Documents, Summarizer, WorkerClock>,
    store: &Store<D1>,
) {
    let body = body_json(&raw.body());
    let message = match JobMessage::decode(&body) {
        Ok(message) => message,
        Err(e @ DecodeError::UnsupportedVersion { .. }) => {
            // Likely a newer producer during a deploy: a newer consumer can read it. If none
            // comes, the queue dead-letters it and the job is failed there.
            warn!(error = %e, message_id = %raw.id(), "message version not understood; retrying");
            raw.retry_with_options(&delay(MISCONFIGURED_RETRY_SECONDS));
            return;
        }
        Err(e) => {
            error!(error = %e, message_id = %raw.id(), "unreadable job message; dropping it");
            if let Some(job) = JobMessage::peek_job_id(&body) {
                let reason = format!("unreadable queue message: {e}");
                if let Err(e) = store
                    .fail_dead_lettered(&job, &reason, WorkerClock.now_ms())
                    .await
                {
                    error!(error = %e, %job, "could not record the failure");
                }
            }
            raw.ack();
            return;
        }
    };

    let span = tracing::info_span!(
        "job",
        job_id = %message.job_id,
        document_id = %message.document_id,
        request_id = %message.request_id,
        message_id = %raw.id(),
    );
    async {
        let lease_id = new_lease_id(&WorkerClock);
        let outcome = processor.process(&message, &lease_id).await;
        match &outcome {
            Outcome::Succeeded { attempt } => info!(attempt, "job succeeded"),
            Outcome::Failed { error } => warn!(%error, "job failed"),
            Outcome::Retry { delay_ms, error } => warn!(%error, delay_ms, "job will be retried"),
            Outcome::Skipped { reason } => info!(%reason, "message skipped"),
        }
        match outcome.action() {
            Action::Ack => raw.ack(),
            Action::Retry { delay_seconds } => raw.retry_with_options(&delay(delay_seconds)),
        }
    }
    .instrument(span)
    .await;
}

/// Messages the queue gave up on: fail their jobs with the reason, unless they finished.
async fn consume_dead_letters(batch: &MessageBatch<serde_json::Value>, env: &Env) {
    let store = match env.d1(names::DB) {
        Ok(db) => Store::new(D1(db)),
        Err(e) => {
            error!(error = %e, "D1 binding unavailable; retrying dead letters later");
            batch.retry_all_with_options(&delay(MISCONFIGURED_RETRY_SECONDS));
            return;
        }
    };
    for raw in batch.raw_iter() {
        let body = body_json(&raw.body());
        let Some(job) = JobMessage::peek_job_id(&body) else {
            error!(message_id = %raw.id(), "dead letter without a job id; dropping it");
            raw.ack();
            continue;
        };
        let reason = "the queue gave up delivering this job after its maximum retries";
        match store
            .fail_dead_lettered(&job, reason, WorkerClock.now_ms())
            .await
        {
            Ok(changed) => {
                warn!(job_id = %job, failed = changed, "dead-lettered job");
                raw.ack();
            }
            Err(e) => {
                error!(job_id = %job, error = %e, "could not fail a dead-lettered job; retrying");
                raw.retry_with_options(&delay(60));
            }
        }
    }
}
