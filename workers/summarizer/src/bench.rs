//! Timing endpoints for `scripts/bench`, which runs this Worker alone to measure extraction and
//! summarization inside workerd. They answer only when the `BENCH_ENDPOINTS` var is `true`;
//! otherwise (and in production) every request is `404`.
//!
//! - `POST /__bench/echo`: reads the body and answers its length (the transport cost).
//! - `POST /__bench/summarize`: extracts the body's text as its `Content-Type` and summarizes it
//!   extractively.

use docpipe_cloudflare::vars;
use docpipe_docproc::{ExtractiveSummarizer, Input, extract_text};
use docpipe_jobs::ContentType;
use docpipe_pipeline::config::{SummarizerConfig, names};
use serde_json::json;
use worker::{Context, Env, Request, Response, Result, event};

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let path = req.path();
    if path == "/healthz" {
        return Response::from_json(&json!({ "status": "ok" }));
    }
    if vars(&env)(names::BENCH_ENDPOINTS).as_deref() != Some("true") {
        return Response::error("not found", 404);
    }
    let body = req.bytes().await?;
    match path.as_str() {
        "/__bench/echo" => Response::from_json(&json!({ "bytes": body.len() })),
        "/__bench/summarize" => {
            let config = SummarizerConfig::from_vars(vars(&env))
                .map_err(|e| worker::Error::RustError(e.to_string()))?;
            let header = req.headers().get("Content-Type")?;
            let content_type = match ContentType::parse(header.as_deref()) {
                Ok(content_type) => content_type,
                Err(e) => return Response::error(e.to_string(), 415),
            };
            let extracted = match extract_text(&Input::whole(&body, &content_type), &config.extract)
            {
                Ok(extracted) => extracted,
                Err(e) => return Response::error(e.to_string(), 422),
            };
            drop(body);
            let summary = ExtractiveSummarizer
                .summarize_text(&extracted.text, &config.summary)
                .map_err(|e| worker::Error::RustError(e.to_string()))?;
            Response::from_json(&json!({
                "text_bytes": extracted.text.len(),
                "summary_bytes": summary.len(),
            }))
        }
        _ => Response::error("not found", 404),
    }
}
