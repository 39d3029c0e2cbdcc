//! The Workers AI path inside workerd: the summarizer's real adapter calls the `AI` binding,
//! which locally is the stand-in (`tests/standin/ai.js`) speaking the binding's protocol and
//! answering in each model's real shape.

#![allow(clippy::panic)] // Test helpers fail tests by panicking.

use std::time::Duration;

use anyhow::Result;
use docpipe_e2e::api::{Job, Summary};
use docpipe_e2e::load::{corpus, tally, upload_corpus};
use docpipe_e2e::{Options, Pipeline};
use serde::Deserialize;
use serde_json::json;

const JOB_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_MODEL: &str = "@cf/zai-org/glm-4.7-flash";

const HARBOUR: [&str; 6] = [
    "The harbour of Port Elin reopened on Tuesday after two years of repairs.",
    "Engineers rebuilt the northern breakwater with stone from the old quarry.",
    "Fishing boats returned to their moorings within hours of the opening.",
    "The harbour master expects cargo traffic to double by the end of the year.",
    "A small festival with music and grilled fish marked the occasion.",
    "Repairs cost less than the town had budgeted.",
];

/// Uploads a document and waits for its job to finish; returns the finished job.
fn process(pipeline: &Pipeline, body: &str, content_type: &str) -> Result<Job> {
    let accepted = pipeline.accept(body.as_bytes(), content_type, "")?;
    pipeline.wait_for_job(&accepted.job_id, JOB_TIMEOUT)
}

fn summary_of(pipeline: &Pipeline, job: &Job) -> Result<Summary> {
    pipeline.summary(&job.document_id)
}

/// Asserts the job's summary is the built-in summarizer's, standing in for Workers AI, and
/// that its reason names `cause` (the error code and its meaning).
fn assert_fell_back(pipeline: &Pipeline, job: &Job, cause: &str) -> Result<()> {
    let summary = summary_of(pipeline, job)?;
    assert_eq!(summary.backend, "extractive", "{summary:?}");
    assert_eq!(summary.fallback_from.as_deref(), Some("workers-ai"));
    let reason = summary.fallback_reason.as_deref().unwrap_or_default();
    assert!(reason.contains(cause), "{reason}");
    Ok(())
}

/// A job's model usage as D1 records it.
#[derive(Debug, Deserialize)]
struct Usage {
    ai_model: Option<String>,
    ai_calls: Option<u64>,
    ai_input_tokens: Option<u64>,
    ai_output_tokens: Option<u64>,
    ai_cost_usd: Option<f64>,
}

fn usage(pipeline: &Pipeline, job: &Job) -> Result<Usage> {
    let id = &job.job_id;
    let rows: Vec<Usage> = pipeline.state().rows(&format!(
        "SELECT ai_model, ai_calls, ai_input_tokens, ai_output_tokens, ai_cost_usd \
         FROM jobs WHERE id = '{id}'"
    ))?;
    rows.into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no job {id}"))
}

#[test]
fn summaries_come_from_workers_ai_with_tokens_cost_and_well_formed_calls() -> Result<()> {
    let pipeline = Pipeline::start_with(Options::ai_standin([
        "AI_GATEWAY_ID:docpipe-gateway",
        "AI_GATEWAY_CACHE_TTL:600",
    ]))?;
    let documents = [
        (HARBOUR.join(" "), "text/plain"),
        (
            format!(
                "# Port Elin\n\n{}\n\n{}",
                HARBOUR[..3].join(" "),
                HARBOUR[3..].join("\n\n")
            ),
            "text/markdown",
        ),
        (
            format!(
                "<html><body><p>{}</p><p>{}</p></body></html>",
                HARBOUR[..2].join(" "),
                HARBOUR[2..].join(" ")
            ),
            "text/html",
        ),
    ];
    for (body, content_type) in &documents {
        let job = process(&pipeline, body, content_type)?;
        assert_eq!(job.status, "succeeded", "{job:?}");
        let summary = summary_of(&pipeline, &job)?;
        assert_eq!(summary.backend, "workers-ai", "{summary:?}");
        assert_eq!(summary.model.as_deref(), Some(DEFAULT_MODEL));
        assert_eq!(summary.fallback_from, None, "{summary:?}");
        let text = summary.summary.as_str();
        assert!(text.contains(HARBOUR[0]), "drawn from the document: {text}");

        let row = usage(&pipeline, &job)?;
        assert_eq!(row.ai_model.as_deref(), Some(DEFAULT_MODEL));
        assert_eq!(
            row.ai_calls,
            Some(1),
            "a typical document is one call: {row:?}"
        );
        let input = row.ai_input_tokens.unwrap_or_default() as f64;
        let output = row.ai_output_tokens.unwrap_or_default() as f64;
        assert!(input > 50.0 && output > 5.0, "{row:?}");
        let cost = row.ai_cost_usd.unwrap_or_default();
        let expected = (input * 0.0605 + output * 0.40) / 1e6;
        assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");
    }

    // What the binding received: current model, gateway and rejectIfBusy as the third argument,
    // a system and a user message, an answer budget, thinking turned off.
    let calls = pipeline.ai_standin_calls();
    assert_eq!(calls.len(), documents.len(), "{calls:?}");
    for call in &calls {
        assert_eq!(call["model"], DEFAULT_MODEL);
        assert_eq!(
            call["options"],
            json!({"gateway": {"id": "docpipe-gateway", "skipCache": false, "cacheTtl": 600},
                   "rejectIfBusy": true})
        );
        assert_eq!(call["roles"], json!(["system", "user"]));
        assert_eq!(
            call["chat_template_kwargs"],
            json!({"enable_thinking": false})
        );
        assert!(
            call["max_completion_tokens"].as_u64().unwrap_or(0) > 0,
            "{call}"
        );
        assert_eq!(
            call["max_tokens"],
            serde_json::Value::Null,
            "deprecated field not sent: {call}"
        );
        assert_eq!(call["outcome"], "answered", "{call}");
    }
    // SQL answers "what did this cost".
    let total = pipeline.sql(
        "SELECT SUM(ai_calls) AS calls, SUM(ai_cost_usd) AS cost FROM jobs WHERE ai_model IS NOT NULL",
    )?;
    assert_eq!(total[0]["calls"], 3);
    assert!(total[0]["cost"].as_f64().unwrap_or_default() > 0.0);
    Ok(())
}

#[test]
fn an_answer_in_every_documented_shape_makes_a_summary() -> Result<()> {
    let pipeline = Pipeline::start_with(Options::ai_standin(Vec::<String>::new()))?;
    for shape in ["chat", "response", "responses", "summary"] {
        let body = format!("{} [[ai-standin shape={shape}]]", HARBOUR.join(" "));
        let job = process(&pipeline, &body, "text/plain")?;
        let summary = summary_of(&pipeline, &job)?;
        assert_eq!(summary.backend, "workers-ai", "{shape}: {summary:?}");
        assert!(
            summary.summary.starts_with(HARBOUR[0]),
            "{shape}: {summary:?}"
        );
    }
    Ok(())
}

#[test]
fn a_long_document_is_map_reduced_within_the_call_budget() -> Result<()> {
    let pipeline = Pipeline::start_with(Options::ai_standin([
        "AI_MAX_INPUT_TOKENS:400",
        "AI_MAX_CALLS:6",
    ]))?;
    let sentences: Vec<String> = (0..300)
        .map(|i| format!("Section {i} of the survey describes shelf {i} of the archive in detail."))
        .collect();
    let job = process(&pipeline, &sentences.join(" "), "text/plain")?;
    assert_eq!(job.status, "succeeded", "{job:?}");
    let summary = summary_of(&pipeline, &job)?;
    assert_eq!(summary.backend, "workers-ai", "{summary:?}");
    let row = usage(&pipeline, &job)?;
    let calls = row.ai_calls.unwrap_or_default();
    assert!(
        (3..=6).contains(&calls),
        "map calls and a reduce within AI_MAX_CALLS: {row:?}"
    );
    let logged = pipeline.ai_standin_calls();
    assert_eq!(logged.len() as u64, calls, "every call is counted in D1");
    for call in &logged {
        // The user message of each call fits the window (about 4 characters a token).
        assert!(
            call["input_chars"].as_u64().unwrap_or(u64::MAX) < 400 * 4 + 600,
            "{call}"
        );
    }
    for sentence in summary.summary.as_str().split(". ") {
        let sentence = sentence.trim_end_matches('.');
        assert!(sentences.iter().any(|s| s.contains(sentence)), "{sentence}");
    }
    Ok(())
}

#[test]
fn capacity_errors_are_retried_through_the_queue_until_the_model_answers() -> Result<()> {
    let pipeline = Pipeline::start_with(Options::ai_standin([
        "RETRY_BASE_SECONDS:1",
        "RETRY_MAX_SECONDS:2",
        "MAX_ATTEMPTS:4",
    ]))?;
    // Busy twice, then answers.
    let body = format!("{} [[ai-standin fail=3040 times=2]]", HARBOUR.join(" "));
    let job = process(&pipeline, &body, "text/plain")?;
    assert_eq!(job.status, "succeeded", "{job:?}");
    assert_eq!(job.attempts, 3, "{job:?}");
    assert_eq!(summary_of(&pipeline, &job)?.backend, "workers-ai");
    let row = usage(&pipeline, &job)?;
    assert_eq!(row.ai_calls, Some(3), "the failed calls count too: {row:?}");

    // Busy on every attempt: the last one falls back to the built-in summarizer and says why.
    let body = format!("{} [[ai-standin fail=3040]]", HARBOUR.join(" "));
    let job = process(&pipeline, &body, "text/plain")?;
    assert_eq!(job.status, "succeeded", "{job:?}");
    assert_eq!(job.attempts, 4);
    assert_fell_back(&pipeline, &job, "Workers AI 3040 (out of capacity)")?;

    // "Request too large" on the whole text: docpipe halves the input and tries again.
    let body = format!("{} [[ai-standin fail=3006 times=1]]", HARBOUR.join(" "));
    let job = process(&pipeline, &body, "text/plain")?;
    assert_eq!(summary_of(&pipeline, &job)?.backend, "workers-ai");
    assert_eq!(job.attempts, 1, "{job:?}");
    Ok(())
}

#[test]
fn a_model_that_cannot_answer_falls_back_with_its_error_code_recorded() -> Result<()> {
    // A name Workers AI does not serve.
    let pipeline =
        Pipeline::start_with(Options::ai_standin(["AI_MODEL:@cf/nobody/no-such-model"]))?;
    let job = process(&pipeline, &HARBOUR.join(" "), "text/plain")?;
    assert_eq!(job.status, "succeeded", "{job:?}");
    assert_eq!(job.attempts, 1, "a permanent error is not retried");
    assert_fell_back(&pipeline, &job, "Workers AI 5007 (no such model)")?;
    drop(pipeline);

    // A Paid-plan model on the Free plan.
    let pipeline = Pipeline::start_with(Options::ai_standin([
        "AI_MODEL:@cf/moonshotai/kimi-k2.6",
        "AI_STANDIN_PLAN:free",
    ]))?;
    let job = process(&pipeline, &HARBOUR.join(" "), "text/plain")?;
    assert_fell_back(&pipeline, &job, "5035 (model needs the Workers Paid plan)")?;
    Ok(())
}

#[test]
fn five_hundred_jobs_with_thirty_percent_capacity_errors_end_exactly_once() -> Result<()> {
    const DOCUMENTS: usize = 500;
    let pipeline = Pipeline::start_with(Options::ai_standin([
        "AI_STANDIN_BUSY_PERCENT:30",
        "RETRY_BASE_SECONDS:1",
        "RETRY_MAX_SECONDS:4",
        "MAX_ATTEMPTS:6",
    ]))?;
    let documents = corpus(DOCUMENTS, 20_000);
    let run = upload_corpus(&pipeline, &documents, 16)?;
    let tally = tally(&pipeline, &run, Duration::from_secs(900), || Ok(()))?;
    let calls = pipeline.ai_standin_calls();
    let busy = calls
        .iter()
        .filter(|c| c["error"].as_str().is_some_and(|e| e.starts_with("3040")))
        .count();
    let from_ai =
        pipeline.sql_count("SELECT COUNT(*) FROM summaries WHERE backend = 'workers-ai'")?;
    let fallbacks =
        pipeline.sql_count("SELECT COUNT(*) FROM summaries WHERE fallback_from = 'workers-ai'")?;
    let counted = pipeline.sql_count("SELECT SUM(ai_calls) FROM jobs")?;
    println!(
        "workers-ai at 30% capacity errors: {tally:?}; {} calls, {busy} busy, {from_ai} summaries \
         from the model, {fallbacks} fallbacks",
        calls.len()
    );
    tally.assert_exactly_once(DOCUMENTS);
    assert!(
        busy * 100 >= calls.len() * 29,
        "the fault was injected: {busy} of {}",
        calls.len()
    );
    assert_eq!(from_ai + fallbacks, DOCUMENTS as i64);
    assert_eq!(
        counted,
        calls.len() as i64,
        "D1 counts every call the binding got"
    );
    Ok(())
}

/// A PNG chunk: length, type, data and its CRC-32.
fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut crc = !0u32;
    for &byte in kind.iter().chain(data) {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(data);
    chunk.extend_from_slice(&(!crc).to_be_bytes());
    chunk
}

/// A 1×1 PNG that carries `text` the way a photographed sign carries its words.
fn png_with_text(text: &str) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]));
    png.extend(png_chunk(
        b"tEXt",
        format!("Description\0{text}").as_bytes(),
    ));
    png.extend(png_chunk(
        b"IDAT",
        b"\x78\x9c\x63\x00\x01\x00\x00\x05\x00\x01",
    ));
    png.extend(png_chunk(b"IEND", b""));
    png
}

/// Images and PDFs of scanned pages, which docpipe cannot read itself, go to the binding's
/// `toMarkdown`; their summaries say so, and a failed conversion fails the job readably.
#[test]
fn images_and_scanned_pdfs_are_read_by_to_markdown() -> Result<()> {
    let pipeline = Pipeline::start_with(Options::ai_standin(Vec::<String>::new()))?;
    let sign = "The ferry to the outer islands leaves at noon. Tickets are sold on board.";
    let scan =
        std::fs::read(docpipe_e2e::root().join("crates/docproc/tests/fixtures/no-text-layer.pdf"))?;
    let uploads = [
        (png_with_text(sign), "image/png"),
        (scan, "application/pdf"),
        (
            png_with_text("[[ai-standin fail=5007]] unreadable"),
            "image/png",
        ),
    ];
    let mut jobs = Vec::new();
    for (bytes, content_type) in &uploads {
        let accepted = pipeline.accept(bytes, content_type, "")?;
        jobs.push(pipeline.wait_for_job(&accepted.job_id, JOB_TIMEOUT)?);
    }
    for job in &jobs[..2] {
        assert_eq!(job.status, "succeeded", "{job:?}");
        let summary = summary_of(&pipeline, job)?;
        assert!(
            summary
                .notes
                .iter()
                .any(|n| n.ends_with("read by Workers AI's toMarkdown")),
            "{summary:?}"
        );
    }
    let text = pipeline
        .get(&format!("/v1/documents/{}/text", jobs[0].document_id))?
        .text();
    assert!(text.contains(sign), "{text}");
    assert_eq!(
        summary_of(&pipeline, &jobs[0])?.source_type.as_deref(),
        Some("image/png")
    );
    assert_eq!(jobs[2].status, "failed");
    let error = jobs[2].error.as_deref().unwrap_or_default();
    assert!(
        error.contains("toMarkdown could not read it: 5007"),
        "{error}"
    );
    let calls: Vec<String> = pipeline
        .ai_standin_calls()
        .iter()
        .filter(|call| call["method"] == "toMarkdown")
        .map(|call| call["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(calls, ["document.png", "document.pdf", "document.png"]);
    Ok(())
}
