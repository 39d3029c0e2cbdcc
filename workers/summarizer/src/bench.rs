//! Timing endpoints for `scripts/bench`, which runs this Worker alone to measure extraction and
//! summarization inside workerd. Compiled only with the `bench` feature (`scripts/build
//! --bench`), so deployed builds do not contain them, and even then answering only when the
//! `BENCH_ENDPOINTS` var is `true`.
//!
//! - `POST /__bench/echo`: reads the body and answers its length (the transport cost).
//! - `POST /__bench/summarize`: extracts the body's text as its `Content-Type` and summarizes it
//!   extractively.

use docpipe_cloudflare::vars;
use docpipe_docproc::{ExtractiveSummarizer, Input, extract_text};
use docpipe_jobs::ContentType;
use docpipe_pipeline::config::{SummarizerConfig, names};
use serde_json::json;
use worker::{Env, Request, Response, Result};

/// Answers a bench request, or `None` when the request is not one.
pub async fn handle(mut req: Request, env: &Env) -> Result<Option<Response>> {
    if vars(env)(names::BENCH_ENDPOINTS).as_deref() != Some("true") {
        return Ok(None);
    }
    let path = req.path();
    if !matches!(path.as_str(), "/__bench/echo" | "/__bench/summarize") {
        return Ok(None);
    }
    let body = req.bytes().await?;
    if path == "/__bench/echo" {
        return Response::from_json(&json!({ "bytes": body.len() })).map(Some);
    }
    let config = SummarizerConfig::from_vars(vars(env))
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    let header = req.headers().get("Content-Type")?;
    let content_type = match ContentType::parse(header.as_deref()) {
        Ok(content_type) => content_type,
        Err(e) => return Response::error(e.to_string(), 415).map(Some),
    };
    let extracted = match extract_text(&Input::whole(&body, &content_type), &config.extract) {
        Ok(extracted) => extracted,
        Err(e) => return Response::error(e.to_string(), 422).map(Some),
    };
    drop(body);
    let summary = ExtractiveSummarizer
        .summarize_text(&extracted.text, &config.summary)
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    Response::from_json(&json!({
        "text_bytes": extracted.text.len(),
        "summary_bytes": summary.len(),
    }))
    .map(Some)
}
