//! The HTTP API's answers to bad input and to questions about things that are not there yet.

#![allow(clippy::panic)] // Test helpers fail tests by panicking.

use anyhow::{Context, Result};
use docpipe_e2e::{HttpResponse, Options, Pipeline, raw_request};

const LIMIT: usize = 2_000;

fn assert_error(response: &HttpResponse, status: u16, code: &str) -> Result<()> {
    response.expect_error(status, code).map(drop)
}

#[test]
fn bad_uploads_get_their_status_and_store_nothing() -> Result<()> {
    let pipeline = Pipeline::start_with(Options::with_vars(vec![format!(
        "MAX_UPLOAD_BYTES:{LIMIT}"
    )]))?;
    let port = pipeline.port;
    let text = b"A perfectly fine sentence.";

    // 413: a chunked body (no length) that goes past MAX_UPLOAD_BYTES as it streams.
    let big = "a".repeat(LIMIT + 1);
    let chunked = format!(
        "POST /v1/documents HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\n\
         Authorization: Bearer {}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        pipeline.key,
        big.len(),
    );
    assert_error(
        &raw_request(port, chunked.as_bytes())?,
        413,
        "payload_too_large",
    )?;
    let _ = text;

    // 413: over MAX_UPLOAD_BYTES, refused before the body is stored.
    let big = vec![b'a'; LIMIT + 1];
    let response = pipeline.upload(&big, "text/plain", "")?;
    assert_error(&response, 413, "payload_too_large")?;
    assert_eq!(
        response.api_error()?.error.extra["limit_bytes"],
        serde_json::json!(LIMIT)
    );
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
        &pipeline.upload(text, "image/gif", "")?,
        415,
        "unsupported_media_type",
    )?;
    let no_type = pipeline.request("POST", "/v1/documents", &[], Some(text))?;
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
    let bad_id = pipeline.request(
        "POST",
        "/v1/documents",
        &[("Content-Type", "text/plain"), ("X-Request-Id", "a b")],
        Some(text),
    )?;
    assert_error(&bad_id, 400, "invalid_request_id")?;

    // Only the one upload at the limit was stored: one document, one job, one object.
    assert_eq!(pipeline.sql_count("SELECT COUNT(*) FROM documents")?, 1);
    assert_eq!(pipeline.sql_count("SELECT COUNT(*) FROM jobs")?, 1);
    assert_eq!(
        pipeline.document_keys()?.len(),
        1,
        "{:?}",
        pipeline.r2_keys()?
    );
    Ok(())
}

#[test]
fn routes_ids_and_unfinished_summaries_answer_clearly() -> Result<()> {
    let pipeline = Pipeline::start()?;
    let health = pipeline.get("/healthz")?;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()?["status"], "ok");

    assert_error(&pipeline.get("/nope")?, 404, "not_found")?;
    let wrong_method = pipeline.request("DELETE", "/v1/documents", &[], None)?;
    assert_error(&wrong_method, 405, "method_not_allowed")?;
    assert_eq!(wrong_method.header("Allow"), Some("GET, HEAD, POST"));
    let wrong_method = pipeline.request("POST", "/healthz", &[], None)?;
    assert_error(&wrong_method, 405, "method_not_allowed")?;
    assert_eq!(wrong_method.header("Allow"), Some("GET, HEAD"));
    assert_error(&pipeline.get("/v1/jobs/not-a-uuid")?, 400, "invalid_id")?;
    let unknown = "01936b2e-1e6f-7c3a-9d4b-5e6f7a8b9c0d";
    // An id has one spelling; the others are refused with it, a UUIDv4 with what an id is.
    for other in [
        unknown.to_uppercase(),
        unknown.replace('-', ""),
        format!("urn:uuid:{unknown}"),
    ] {
        let refused = pipeline.get(&format!("/v1/jobs/{other}"))?;
        assert_error(&refused, 400, "invalid_id")?;
        let message = refused.api_error()?.error.message;
        assert!(
            message.contains(&format!("write it `{unknown}`")),
            "{message}"
        );
    }
    let v4 = pipeline.get("/v1/jobs/5b7a3e0c-8d1f-4a2b-9c3d-1e2f3a4b5c6d")?;
    assert_error(&v4, 400, "invalid_id")?;
    let message = v4.api_error()?.error.message;
    assert!(message.contains("an id is a UUIDv7"), "{message}");
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
         VALUES ('{document}', 'documents/{document}', 'text/plain', 1, 'r', '2026-01-01T00:00:00.000Z')"
    ))?;
    pipeline
        .state()
        .insert_queued_job(job, document, "2999-01-01T00:00:00.000Z")?;
    let pending = pipeline.get(&format!("/v1/documents/{document}/summary"))?;
    assert_error(&pending, 409, "summary_not_ready")?;
    let body = pending.api_error()?;
    assert_eq!(body.error.field("job_id"), Some(job));
    assert_eq!(body.error.field("status"), Some("queued"));
    let status = pipeline.get(&format!("/v1/jobs/{job}"))?.job()?;
    assert_eq!(status.status, "queued");
    assert_eq!(status.summary_url, None);
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> Result<String> {
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), bytes)?;
    let out = std::process::Command::new("sha256sum")
        .arg(file.path())
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned())
}

fn upload_with_key(pipeline: &Pipeline, body: &[u8], key: &str) -> Result<HttpResponse> {
    pipeline.request(
        "POST",
        "/v1/documents",
        &[("Content-Type", "text/plain"), ("Idempotency-Key", key)],
        Some(body),
    )
}

#[test]
fn idempotent_retries_answer_as_the_first_time_and_store_nothing_new() -> Result<()> {
    let pipeline = Pipeline::start()?;
    let body = b"The harbour reopened after repairs. Ships returned the same week.";

    let first = upload_with_key(&pipeline, body, "order-1")?;
    assert_eq!(first.status, 202, "{}", first.text());
    assert_eq!(first.header("Idempotent-Replayed"), None);
    let retry = upload_with_key(&pipeline, body, "order-1")?;
    assert_eq!(retry.status, 202);
    assert_eq!(retry.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(
        retry.accepted()?,
        first.accepted()?,
        "a retry gets the original answer"
    );

    let other = upload_with_key(&pipeline, b"A different document entirely.", "order-1")?;
    assert_error(&other, 422, "idempotency_key_reused")?;
    assert_eq!(
        other.api_error()?.error.field("document_id"),
        Some(first.accepted()?.document_id.as_str())
    );
    assert_error(
        &upload_with_key(&pipeline, body, "")?,
        400,
        "invalid_idempotency_key",
    )?;

    // Eight clients racing with one key: one document, and all eight get its ids.
    let answers: Vec<HttpResponse> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    upload_with_key(&pipeline, b"Raced upload body. Same for all.", "race-1")
                })
            })
            .collect();
        racers
            .into_iter()
            .filter_map(|r| r.join().ok())
            .collect::<Result<Vec<_>>>()
    })?;
    assert_eq!(answers.len(), 8);
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, 202, "{}", a.text());
            a.accepted().map(|accepted| accepted.document_id)
        })
        .collect::<Result<_>>()?;
    assert_eq!(ids.len(), 1, "every racer got the same document: {ids:?}");

    assert_eq!(pipeline.sql_count("SELECT COUNT(*) FROM documents")?, 2);
    assert_eq!(pipeline.sql_count("SELECT COUNT(*) FROM jobs")?, 2);
    assert_eq!(pipeline.sql_count("SELECT COUNT(*) FROM uploads")?, 0);
    assert_eq!(
        pipeline.document_keys()?.len(),
        2,
        "losers' objects are deleted"
    );
    let stored = pipeline.sql(
        "SELECT d.sha256 FROM documents d JOIN idempotency_keys k ON k.document_id = d.id \
         WHERE k.tenant_id = 'default' AND k.key = 'order-1'",
    )?;
    assert_eq!(stored[0]["sha256"], sha256_hex(body)?);
    Ok(())
}

#[test]
fn reprocess_makes_a_new_job_unless_one_is_unfinished_or_recent() -> Result<()> {
    const INTERVAL: u64 = 3;
    let pipeline = Pipeline::start_with(Options::with_vars([format!(
        "REPROCESS_MIN_INTERVAL_SECONDS:{INTERVAL}"
    )]))?;
    let first = pipeline.accept(
        b"The orchard harvest was early. Apples sold out fast.",
        "text/plain",
        "",
    )?;
    let document = first.document_id.clone();
    pipeline.wait_for_job(&first.job_id, std::time::Duration::from_secs(60))?;

    // Repeats within the interval are refused, say when to come back, and add no job.
    let path = format!("/v1/documents/{document}/reprocess");
    let too_soon = pipeline.request("POST", &path, &[], None)?;
    assert_error(&too_soon, 429, "reprocess_too_soon")?;
    let wait: u64 = too_soon
        .header("Retry-After")
        .context("Retry-After")?
        .parse()?;
    assert!((1..=INTERVAL).contains(&wait), "Retry-After {wait}");
    assert_eq!(
        pipeline.sql_count(&format!(
            "SELECT COUNT(*) FROM jobs WHERE document_id = '{document}'"
        ))?,
        1
    );
    std::thread::sleep(std::time::Duration::from_secs(wait));
    let again = pipeline.request("POST", &path, &[], None)?;
    let again = again.accepted()?;
    assert_eq!(again.document_id, document);
    assert_ne!(again.job_id, first.job_id);
    let job = pipeline.wait_for_job(&again.job_id, std::time::Duration::from_secs(60))?;
    assert_eq!(job.status, "succeeded");
    let summary = pipeline.summary(&document)?;
    assert_eq!(summary.job_id, again.job_id, "the newest summary is served");
    assert_eq!(
        pipeline.sql_count(&format!(
            "SELECT COUNT(*) FROM summaries WHERE document_id = '{document}'"
        ))?,
        2
    );

    // With a job still unfinished, a reprocess is refused and names that job.
    let pending = "01936b2e-1e6f-7c3a-9d4b-0000000000bb";
    pipeline
        .state()
        .insert_queued_job(pending, &document, "2999-01-01T00:00:00.000Z")?;
    let refused = pipeline.request("POST", &path, &[], None)?;
    assert_error(&refused, 409, "job_in_progress")?;
    assert_eq!(refused.api_error()?.error.field("job_id"), Some(pending));

    let unknown = pipeline.request(
        "POST",
        "/v1/documents/01936b2e-1e6f-7c3a-9d4b-5e6f7a8b9c0d/reprocess",
        &[],
        None,
    )?;
    assert_error(&unknown, 404, "document_not_found")?;
    Ok(())
}
