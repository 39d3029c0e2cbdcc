//! # docpipe summarizer Worker
//!
//! Consumes the jobs queue, the webhooks queue and their dead-letter queues. A thin
//! adapter: each message is decoded on its own, handed to
//! `docpipe_pipeline::process::Processor` with R2, D1 and the summarizer plugged in, and acked
//! or retried according to the outcome; a job whose document was named by URL is fetched into
//! R2 first (its `fetching` stage). The messages of a batch run concurrently, within a shared
//! memory budget; the leases of the jobs a batch starts with are taken in one D1 statement.
//! The handler always returns `Ok(())`, each message carrying its own ack or retry:
//! workers-rs turns a returned error into a panic, which leaves the batch unsettled.
//!
//! Its only HTTP surface is `/healthz`, and in builds with the `bench` feature (made by
//! `scripts/build --bench` for `scripts/bench`, never deployed) the timing endpoints of `bench`.

#[cfg(feature = "bench")]
mod bench;

use std::time::Duration;

use docpipe_cloudflare::{
    AiBinding, D1, FetchClient, FetchOrigin, FetchSender, R2Documents, R2Uploads, WebhooksQueue,
    WorkerClock, bindings, log_usage, logging, vars,
};
use docpipe_docproc::summarize::mapreduce::{MapReduce, Model};
use docpipe_docproc::summarize::openai::OpenAiChat;
use docpipe_docproc::summarize::workers_ai::WorkersAi;
use docpipe_docproc::{Backend, ExtractiveSummarizer};
use docpipe_pipeline::budget::MemoryBudget;
use docpipe_pipeline::config::{BackendChoice, SummarizerConfig, names};
use docpipe_pipeline::consume::{self, HOLD_BACK_SECONDS};
use docpipe_pipeline::fetch::Fetcher;
use docpipe_pipeline::process::{Action, Lease, Processor};
use docpipe_pipeline::store::Store;
use docpipe_pipeline::usage::metered;
use docpipe_pipeline::webhooks::{self, Deliverer};
use futures_util::StreamExt;
use tracing::{Instrument, error};
use wasm_bindgen::JsValue;
use worker::{
    Context, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, RawMessage, Result, event,
};

#[event(queue)]
async fn queue(batch: MessageBatch<serde_json::Value>, env: Env, ctx: Context) -> Result<()> {
    logging::init_from(&env);
    let queue = batch.queue();
    let span = tracing::info_span!("batch", queue = %queue);
    async {
        match queue.as_str() {
            names::JOBS_QUEUE => consume_jobs(&batch, &env, &ctx).await,
            names::JOBS_DLQ => consume_dead_letters(&batch, &env).await,
            names::WEBHOOKS_QUEUE => deliver_webhooks(&batch, &env).await,
            names::WEBHOOKS_DLQ => consume_dead_webhooks(&batch, &env).await,
            other => {
                error!(
                    queue = other,
                    "batch from a queue this Worker does not consume; retrying it"
                );
                batch.retry_all_with_options(&delay(HOLD_BACK_SECONDS));
            }
        }
    }
    .instrument(span)
    .await;
    Ok(())
}

/// The summarizer's only HTTP surface: `/healthz` (and, in bench builds, the timing endpoints).
#[event(fetch)]
async fn fetch(req: worker::Request, env: Env, _ctx: Context) -> Result<worker::Response> {
    if req.path() == "/healthz" {
        return worker::Response::from_json(&serde_json::json!({ "status": "ok" }));
    }
    #[cfg(feature = "bench")]
    if let Some(response) = bench::handle(req, &env).await? {
        return Ok(response);
    }
    let _ = env;
    worker::Response::error("not found", 404)
}

fn delay(seconds: u32) -> worker::QueueRetryOptions {
    QueueRetryOptionsBuilder::new()
        .with_delay_seconds(seconds)
        .build()
}

fn carry_out(raw: &RawMessage, action: Action) {
    match action {
        Action::Ack => raw.ack(),
        Action::Retry { delay_seconds } => raw.retry_with_options(&delay(delay_seconds)),
    }
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
    /// Where fetched documents are written.
    uploads: R2Uploads,
    summarizer: Summarizer,
    /// The AI binding's `toMarkdown`, for images and scanned PDFs, when there is one.
    converter: Option<AiBinding>,
    config: SummarizerConfig,
    webhooks: WebhooksQueue,
}

fn bindings(env: &Env) -> std::result::Result<Bindings, String> {
    let config = SummarizerConfig::from_vars(vars(env)).map_err(|e| e.to_string())?;
    let summarizer = summarizer(env, &config)?;
    let converter = config
        .ai_to_markdown
        .then(|| AiBinding::from_env(env, names::AI, Duration::from_millis(config.ai_timeout_ms)))
        .and_then(Result::ok)
        .filter(AiBinding::converts);
    Ok(Bindings {
        store: bindings::store(env).map_err(|e| e.to_string())?,
        documents: bindings::documents(env).map_err(|e| e.to_string())?,
        uploads: bindings::uploads(env, config.fetch.stall_ms).map_err(|e| e.to_string())?,
        summarizer,
        converter,
        config,
        webhooks: bindings::webhooks_queue(env).map_err(|e| e.to_string())?,
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
    let timeout = Duration::from_millis(config.ai_timeout_ms);
    Ok(match &config.backend {
        BackendChoice::Extractive => Backend::Extractive(ExtractiveSummarizer),
        BackendChoice::WorkersAi {
            model,
            options,
            max_input_tokens,
        } => {
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
                http: FetchClient { timeout },
                base_url: base_url.clone(),
                model: model.clone(),
                api_key: api_key.clone(),
                window_tokens: *window_tokens,
            },
            calls,
        )),
    })
}

/// Runs a batch of jobs; each message is acked or retried as its job ends. What each job cost
/// and the wake-ups of the webhook deliveries the finished ones recorded are written after the
/// handler returns (`waitUntil`, which the queue does not wait for), so the next batch does not
/// wait on that round trip. Their loss with a killed runtime costs no job: the sweep sends
/// deliveries whose wake-up never came.
async fn consume_jobs(batch: &MessageBatch<serde_json::Value>, env: &Env, ctx: &Context) {
    let bindings = match bindings(env) {
        Ok(bindings) => bindings,
        Err(e) => {
            error!(error = %e, "cannot process jobs; retrying the batch later");
            batch.retry_all_with_options(&delay(HOLD_BACK_SECONDS));
            return;
        }
    };
    let memory = MemoryBudget::new(bindings.config.memory_budget_bytes);
    let processor = Processor {
        store: &bindings.store,
        documents: &bindings.documents,
        summarizer: &bindings.summarizer,
        converter: bindings.converter.as_ref(),
        clock: &WorkerClock,
        config: &bindings.config,
        memory: &memory,
    };
    let fetcher = Fetcher {
        store: &bindings.store,
        sink: &bindings.uploads,
        origin: &FetchOrigin,
        clock: &WorkerClock,
        config: &bindings.config,
    };
    let messages: Vec<RawMessage> = batch.raw_iter().collect();
    let bodies: Vec<String> = messages.iter().map(|raw| body_json(&raw.body())).collect();
    let concurrency = bindings.config.concurrency;
    let leases = consume::lease_together(
        &bindings.store,
        &WorkerClock,
        bindings.config.lease_ms,
        &bodies,
        concurrency,
    )
    .await;
    let leased_together = leases
        .iter()
        .filter(|lease| matches!(lease, Lease::Taken { .. }))
        .count();
    let retried = std::cell::Cell::new(0u32);
    let acked = std::cell::RefCell::new(Vec::new());
    let usage = std::cell::RefCell::new(Vec::with_capacity(messages.len()));
    futures_util::stream::iter(messages.iter().zip(bodies).zip(leases))
        .for_each_concurrent(concurrency, |((raw, body), lease)| {
            let (processor, fetcher) = (&processor, &fetcher);
            let (retried, acked, usage, batch_len) = (&retried, &acked, &usage, messages.len());
            async move {
                let leasing = lease.spent();
                let (action, mut spent) = metered(consume::job_message(
                    processor,
                    fetcher,
                    &body,
                    &raw.id(),
                    lease,
                ))
                .await;
                spent += leasing;
                let is_ack = action == Action::Ack;
                usage
                    .borrow_mut()
                    .extend(consume::job_usage(&body, spent, is_ack, batch_len));
                match action {
                    Action::Retry { .. } => retried.set(retried.get() + 1),
                    Action::Ack => acked.borrow_mut().push(body),
                }
                carry_out(raw, action);
            }
        })
        .await;
    // What each job spent, and the webhook deliveries the batch's finished jobs recorded.
    let (acked, usage) = (acked.into_inner(), usage.into_inner());
    let (store, webhooks) = (bindings.store, bindings.webhooks);
    let (messages, retried) = (messages.len(), retried.get());
    let closing = async move {
        consume::announce(&store, &webhooks, &WorkerClock, &acked, &usage).await;
        log_usage!(info, messages, leased_together, retried, "batch done");
    };
    ctx.wait_until(closing.instrument(tracing::Span::current()));
}

/// Messages the queue gave up on: fail their jobs with the reason, unless they finished.
async fn consume_dead_letters(batch: &MessageBatch<serde_json::Value>, env: &Env) {
    let store = match bindings::store(env) {
        Ok(store) => store,
        Err(e) => {
            error!(error = %e, "cannot fail dead-lettered jobs; retrying them later");
            batch.retry_all_with_options(&delay(HOLD_BACK_SECONDS));
            return;
        }
    };
    let mut acked = Vec::new();
    for raw in batch.raw_iter() {
        let body = body_json(&raw.body());
        let action = consume::dead_letter(&store, &WorkerClock, &body, &raw.id()).await;
        if action == Action::Ack {
            acked.push(body);
        }
        carry_out(&raw, action);
    }
    match bindings::webhooks_queue(env) {
        Ok(queue) => consume::announce(&store, &queue, &WorkerClock, &acked, &[]).await,
        Err(e) => error!(error = %e, "cannot send webhook deliveries; the sweep will"),
    }
}

/// The webhooks queue: one attempt at each message's delivery.
async fn deliver_webhooks(batch: &MessageBatch<serde_json::Value>, env: &Env) {
    let ready = SummarizerConfig::from_vars(vars(env))
        .map_err(|e| e.to_string())
        .and_then(|config| Ok((config, bindings::store(env).map_err(|e| e.to_string())?)));
    let (config, store) = match ready {
        Ok(ready) => ready,
        Err(e) => {
            error!(error = %e, "cannot deliver webhooks; retrying the batch later");
            batch.retry_all_with_options(&delay(HOLD_BACK_SECONDS));
            return;
        }
    };
    let deliverer = Deliverer {
        store: &store,
        sender: &FetchSender,
        clock: &WorkerClock,
        config: &config.webhooks,
    };
    let messages: Vec<RawMessage> = batch.raw_iter().collect();
    futures_util::stream::iter(&messages)
        .for_each_concurrent(config.concurrency, |raw| {
            let deliverer = &deliverer;
            async move {
                let action = deliverer.deliver(&body_json(&raw.body())).await;
                carry_out(raw, action);
            }
        })
        .await;
}

/// Webhook messages the queue gave up on: their deliveries are given up.
async fn consume_dead_webhooks(batch: &MessageBatch<serde_json::Value>, env: &Env) {
    let store = match bindings::store(env) {
        Ok(store) => store,
        Err(e) => {
            error!(error = %e, "cannot record dead webhook deliveries; retrying them later");
            batch.retry_all_with_options(&delay(HOLD_BACK_SECONDS));
            return;
        }
    };
    for raw in batch.raw_iter() {
        let action = webhooks::dead_letter(&store, &WorkerClock, &body_json(&raw.body())).await;
        carry_out(&raw, action);
    }
}
