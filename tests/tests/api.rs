//! The HTTP API's answers to bad input and to questions about things that are not there yet.

#![allow(clippy::panic)] // Test helpers fail tests by panicking.

use anyhow::Result;
use docpipe_e2e::{HttpResponse, Options, Pipeline, raw_request, request};

const LIMIT: usize = 2_000;

fn assert_error(response: &HttpResponse, status: u16, code: &str) -> Result<()> {
    assert_eq!(
        response.status,
        status,
        "expected {code}, got {}",
        response.text()
    );
    let body = response.json()?;
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body["request_id"].is_string(), "{body}");
    assert_eq!(response.header("Content-Type"), Some("application/json"));
    Ok(())
}

#[test]
fn bad_uploads_get_their_status_and_store_nothing() -> Result<()> {
    let pipeline = Pipeline::start_with(Options {
        vars: vec![format!("MAX_UPLOAD_BYTES:{LIMIT}")],
    })?;
    let port = pipeline.port;
    let text = b"A perfectly fine sentence.";

    // 411: a chunked body has no length.
    let chunked = format!(
        "POST /v1/documents HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\n\
         Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n0\r\n\r\n",
        text.len(),
        String::from_utf8_lossy(text)
    );
    assert_error(
        &raw_request(port, chunked.as_bytes())?,
        411,
        "length_required",
    )?;

    // 413: over MAX_UPLOAD_BYTES, refused before the body is stored.
    let big = vec![b'a'; LIMIT + 1];
    let response = pipeline.upload(&big, "text/plain", "")?;
    assert_error(&response, 413, "payload_too_large")?;
    assert_eq!(response.json()?["error"]["limit_bytes"], LIMIT);
    // Exactly at the limit is fine.
    assert_eq!(
        pipeline
            .upload(&vec![b'a'; LIMIT], "text/plain", "")?
            .status,
        202
    );

    // 400: empty body.
    assert_error(&pipeline.upload(b"", "text/plain", "")?, 400, "empty_body")?;
    // 415: unsupported, or no media type at all.
    assert_error(
        &pipeline.upload(text, "image/png", "")?,
        415,
        "unsupported_media_type",
    )?;
    let no_type = request(port, "POST", "/v1/documents", &[], Some(text))?;
    assert_error(&no_type, 415, "missing_content_type")?;
    // 400: a media type that does not parse.
    assert_error(
        &pipeline.upload(text, "text", "")?,
        400,
        "invalid_content_type",
    )?;
    // 400: a filename with a control character, or too long.
    assert_error(
        &pipeline.upload(text, "text/plain", "?filename=a%0Ab.txt")?,
        400,
        "invalid_filename",
    )?;
    let long = format!("?filename={}", "x".repeat(300));
    assert_error(
        &pipeline.upload(text, "text/plain", &long)?,
        400,
        "invalid_filename",
    )?;
    // 400: a request id that could inject into logs or headers.
    let bad_id = request(
        port,
        "POST",
        "/v1/documents",
        &[("Content-Type", "text/plain"), ("X-Request-Id", "a b")],
        Some(text),
    )?;
    assert_error(&bad_id, 400, "invalid_request_id")?;

    // Only the one upload at the limit was stored: one document, one job, one object.
    assert_eq!(pipeline.sql_count("SELECT COUNT(*) FROM documents")?, 1);
    assert_eq!(pipeline.sql_count("SELECT COUNT(*) FROM jobs")?, 1);
    assert_eq!(pipeline.r2_keys()?.len(), 1, "{:?}", pipeline.r2_keys()?);
    Ok(())
}

#[test]
fn routes_ids_and_unfinished_summaries_answer_clearly() -> Result<()> {
    let pipeline = Pipeline::start()?;
    let port = pipeline.port;
    let health = pipeline.get("/healthz")?;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()?["status"], "ok");

    assert_error(&pipeline.get("/nope")?, 404, "not_found")?;
    let wrong_method = request(port, "DELETE", "/v1/documents", &[], None)?;
    assert_error(&wrong_method, 405, "method_not_allowed")?;
    assert_eq!(wrong_method.header("Allow"), Some("POST"));
    assert_error(&pipeline.get("/v1/jobs/not-a-uuid")?, 400, "invalid_id")?;
    let unknown = "01936b2e-1e6f-7c3a-9d4b-5e6f7a8b9c0d";
    assert_error(
        &pipeline.get(&format!("/v1/jobs/{unknown}"))?,
        404,
        "job_not_found",
    )?;
    assert_error(
        &pipeline.get(&format!("/v1/documents/{unknown}/summary"))?,
        404,
        "document_not_found",
    )?;

    // A job nobody has processed yet: its summary is not ready.
    let (document, job) = (
        "01936b2e-1e6f-7c3a-9d4b-000000000001",
        "01936b2e-1e6f-7c3a-9d4b-000000000002",
    );
    pipeline.sql(&format!(
        "INSERT INTO documents (id, object_key, content_type, size_bytes, request_id, created_at) \
         VALUES ('{document}', 'documents/{document}', 'text/plain', 1, 'r', '2026-01-01T00:00:00.000Z'); \
         INSERT INTO jobs (id, document_id, status, available_at, request_id, created_at, updated_at) \
         VALUES ('{job}', '{document}', 'queued', '2999-01-01T00:00:00.000Z', 'r', \
         '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')"
    ))?;
    let pending = pipeline.get(&format!("/v1/documents/{document}/summary"))?;
    assert_error(&pending, 409, "summary_not_ready")?;
    let body = pending.json()?;
    assert_eq!(body["error"]["job_id"], job);
    assert_eq!(body["error"]["status"], "queued");
    let status = pipeline.get(&format!("/v1/jobs/{job}"))?.json()?;
    assert_eq!(status["status"], "queued");
    assert_eq!(status["summary_url"], serde_json::Value::Null);
    Ok(())
}
