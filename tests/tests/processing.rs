//! Documents go in over HTTP; summaries come out in D1.

#![allow(clippy::panic)] // Test helpers fail tests by panicking.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Result, ensure};
use docpipe_e2e::api::Accepted;
use docpipe_e2e::{Options, Pipeline};
use serde_json::Value;

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// Sentences of a small article; documents are built from them so a summary can be checked
/// against exactly what was sent.
const ARTICLE: [&str; 8] = [
    "The city council approved a new budget for public libraries on Monday.",
    "The budget adds funding for longer library opening hours and new books.",
    "Council members debated the library budget for three hours before the vote.",
    "Some residents asked for more parking near the stadium.",
    "The weather was sunny.",
    "Library staff said the new budget will let libraries open on Sundays.",
    "A local bakery celebrated its anniversary.",
    "The libraries will start the longer hours in March.",
];

fn markdown(sentences: &[&str]) -> String {
    let (first, rest) = sentences.split_at(sentences.len() / 2);
    format!(
        "# Library budget\n\n{}\n\n## Details\n\n{}\n",
        first.join(" "),
        rest.join("\n")
    )
}

/// Asserts that `summary` is some of `sentences`, in their original order, joined by spaces.
fn assert_made_of(summary: &str, sentences: &[&str]) {
    let mut rest = summary;
    let mut next = 0;
    while !rest.is_empty() {
        let found = sentences[next..]
            .iter()
            .position(|s| rest.starts_with(s))
            .unwrap_or_else(|| {
                panic!("summary {summary:?} has text not from the document at {rest:?}")
            });
        rest = rest[sentences[next + found].len()..].trim_start();
        next += found + 1;
    }
    assert!(!summary.is_empty(), "summary is empty");
}

fn upload_ok(
    pipeline: &Pipeline,
    body: &[u8],
    content_type: &str,
    query: &str,
) -> Result<Accepted> {
    let response = pipeline.upload(body, content_type, query)?;
    let accepted = response.accepted()?;
    ensure!(accepted.status == "queued", "not queued: {accepted:?}");
    ensure!(
        response.header("Location") == Some(accepted.status_url.as_str()),
        "Location must point at the job: {:?} vs {accepted:?}",
        response.header("Location")
    );
    Ok(accepted)
}

#[test]
fn documents_are_summarized_from_their_own_sentences() -> Result<()> {
    let pipeline = Pipeline::start()?;
    let md = markdown(&ARTICLE);
    let plain = ARTICLE.join(" ");
    let uploads = [
        upload_ok(
            &pipeline,
            md.as_bytes(),
            "text/markdown; charset=utf-8",
            "?filename=budget.md",
        )?,
        upload_ok(&pipeline, plain.as_bytes(), "text/plain", "")?,
    ];

    for accepted in &uploads {
        let job = pipeline.wait_for_job(&accepted.job_id, JOB_TIMEOUT)?;
        assert_eq!(job.status, "succeeded", "job: {job:?}");
        assert_eq!(job.attempts, 1);

        let summary = pipeline.get(&accepted.summary_url)?.summary()?;
        assert_made_of(&summary.summary, &ARTICLE);
        assert_eq!(summary.backend, "extractive");
        assert_eq!(summary.job_id, accepted.job_id);
    }

    let rows = pipeline.sql(
        "SELECT s.document_id, s.job_id, s.summary, s.backend, s.input_chars, s.truncated, \
         d.filename, d.content_type, d.size_bytes FROM summaries s \
         JOIN documents d ON d.id = s.document_id ORDER BY s.job_id",
    )?;
    assert_eq!(rows.len(), 2, "one summary per document: {rows:?}");
    for (row, accepted) in rows.iter().zip(&uploads) {
        assert_eq!(row["document_id"], accepted.document_id.as_str());
        assert_eq!(row["backend"], "extractive");
        assert_eq!(row["truncated"], 0);
        assert!(
            row["input_chars"].as_i64().unwrap_or_default() > 100,
            "{row}"
        );
        assert_made_of(row["summary"].as_str().unwrap_or_default(), &ARTICLE);
    }
    assert_eq!(rows[0]["filename"], "budget.md");
    assert_eq!(rows[0]["content_type"], "text/markdown; charset=utf-8");
    assert_eq!(rows[0]["size_bytes"], md.len());
    assert_eq!(rows[1]["filename"], Value::Null);

    let keys = pipeline.r2_keys()?;
    for accepted in &uploads {
        let key = format!("tenants/default/documents/{}", accepted.document_id);
        assert!(keys.contains(&key), "{key} missing from R2: {keys:?}");
    }

    // Each job's billed operations, counted by the Workers: its upload (carried in its
    // message) and its processing, recorded once the consumer's batch is done.
    let sizes = [md.len(), plain.len()];
    for (accepted, size) in uploads.iter().zip(sizes) {
        let row = job_usage(&pipeline, &accepted.job_id)?;
        assert_eq!(row["tenant_id"], "default", "{row}");
        let requests = row["requests"].as_f64().unwrap_or_default();
        assert!(
            requests > 1.0 && requests <= 2.0,
            "the upload and a share of a batch: {row}"
        );
        assert_eq!(row["queue_operations"], 3, "sent, read, deleted: {row}");
        // Plain text that needed no cleaning is its own text: no copy is written.
        let copies = pipeline.sql_count(&format!(
            "SELECT COUNT(*) FROM summaries WHERE job_id = '{}' AND text_offset IS NULL",
            accepted.job_id
        ))?;
        assert_eq!(
            row["r2_class_a"],
            1 + copies,
            "the original and its text: {row}"
        );
        assert_eq!(row["r2_class_b"], 1, "the original read back: {row}");
        assert_eq!(row["r2_bytes_read"], size, "{row}");
        let written = row["d1_rows_written"].as_i64().unwrap_or_default();
        let queries = row["d1_queries"].as_i64().unwrap_or_default();
        assert!(
            written >= 10 && queries >= 5,
            "upload and finish both counted: {row}"
        );
    }
    let days = pipeline.sql(
        "SELECT tenant_id, day, COUNT(*) AS jobs, SUM(d1_rows_written) AS written \
         FROM job_usage GROUP BY tenant_id, day",
    )?;
    assert_eq!(days.len(), 1, "{days:?}");
    assert_eq!(days[0]["jobs"], 2);
    let today = pipeline.sql("SELECT date('now') AS today")?;
    assert_eq!(days[0]["day"], today[0]["today"], "dated by its UTC day");
    Ok(())
}

/// The job's `job_usage` row, once its consumer batch has recorded it.
fn job_usage(pipeline: &Pipeline, job_id: &str) -> Result<Value> {
    let query = format!("SELECT * FROM job_usage WHERE job_id = '{job_id}'");
    for _ in 0..100 {
        if let Some(row) = pipeline.sql(&query)?.into_iter().next() {
            return Ok(row);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::bail!("no job_usage row for {job_id}")
}

#[test]
fn undecodable_documents_fail_their_jobs_readably_and_others_still_succeed() -> Result<()> {
    let pipeline = Pipeline::start()?;
    let cases: [(&[u8], &str, &str); 4] = [
        (
            b"\x80\x81\x01\x02\x03\x04\x05 binary, declared UTF-8",
            "text/plain; charset=utf-8",
            "document looks binary (byte 0x01 at offset 2), not text/plain text",
        ),
        (
            b"PK\x03\x04\x14\x00\x00\x00binary",
            "text/plain",
            "document is a zip archive that is not a document docpipe reads (Word, Excel, \
             PowerPoint, OpenDocument, EPUB), which has no text to read",
        ),
        (
            b"\x01\x02binary\x00 data",
            "text/markdown",
            "document looks binary (byte 0x00 at offset 8), not text/markdown text",
        ),
        (
            b"   \n\n\t  ",
            "text/plain",
            "document has no extractable text",
        ),
    ];
    let mut failed = Vec::new();
    for (body, content_type, _) in &cases {
        failed.push(upload_ok(&pipeline, body, content_type, "")?);
    }
    let good = upload_ok(&pipeline, ARTICLE.join(" ").as_bytes(), "text/plain", "")?;

    for (accepted, (_, _, expected_error)) in failed.iter().zip(&cases) {
        let job = pipeline.wait_for_job(&accepted.job_id, JOB_TIMEOUT)?;
        assert_eq!(job.status, "failed", "{job:?}");
        assert_eq!(job.error.as_deref(), Some(*expected_error));
        let summary = pipeline.get(&accepted.summary_url)?;
        assert_eq!(summary.status, 409);
        let body = summary.api_error()?;
        assert_eq!(body.error.code, "summary_failed");
        assert_eq!(body.error.field("status"), Some("failed"));
    }
    let job = pipeline.wait_for_job(&good.job_id, JOB_TIMEOUT)?;
    assert_eq!(job.status, "succeeded");
    assert_eq!(pipeline.sql_count("SELECT COUNT(*) FROM summaries")?, 1);
    assert_eq!(
        pipeline
            .sql_count("SELECT COUNT(*) FROM jobs WHERE status = 'failed' AND error IS NOT NULL")?,
        4
    );
    Ok(())
}

#[test]
fn fifty_concurrent_uploads_each_get_exactly_one_summary() -> Result<()> {
    const UPLOADS: usize = 50;
    let pipeline = Pipeline::start()?;
    let accepted: Vec<Accepted> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|worker| {
                let pipeline = &pipeline;
                scope.spawn(move || -> Result<Vec<Accepted>> {
                    let mut out = Vec::new();
                    for i in (worker..UPLOADS).step_by(8) {
                        let mut sentences = ARTICLE.to_vec();
                        sentences.rotate_left(i % ARTICLE.len());
                        let marker = format!("Document number {i} is part of the batch.");
                        sentences.push(&marker);
                        let body = sentences.join(" ");
                        out.push(upload_ok(pipeline, body.as_bytes(), "text/plain", "")?);
                    }
                    Ok(out)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("upload thread panicked")))
            })
            .collect::<Result<Vec<Vec<Accepted>>>>()
            .map(|v| v.into_iter().flatten().collect())
    })?;
    assert_eq!(accepted.len(), UPLOADS);

    for upload in &accepted {
        let job = pipeline.wait_for_job(&upload.job_id, JOB_TIMEOUT)?;
        assert_eq!(job.status, "succeeded", "{job:?}");
    }

    assert_eq!(
        pipeline.sql_count("SELECT COUNT(*) FROM jobs WHERE status = 'succeeded'")?,
        50
    );
    assert_eq!(pipeline.sql_count("SELECT COUNT(*) FROM summaries")?, 50);
    let duplicates = pipeline.sql(
        "SELECT document_id, COUNT(*) AS n FROM summaries GROUP BY document_id HAVING n != 1",
    )?;
    assert!(
        duplicates.is_empty(),
        "documents without exactly one summary: {duplicates:?}"
    );
    let documents: HashSet<String> = pipeline
        .state()
        .column("SELECT document_id FROM summaries")?
        .into_iter()
        .collect();
    let expected: HashSet<String> = accepted.iter().map(|a| a.document_id.clone()).collect();
    assert_eq!(documents, expected);
    // A batch of several messages takes the leases of the jobs it starts with in one statement.
    let together: Vec<u64> = pipeline
        .batches_done(50)?
        .iter()
        .filter_map(|e| e["fields"]["leased_together"].as_u64())
        .collect();
    assert!(
        together.iter().any(|&leases| leases >= 2),
        "leases taken together, per batch: {together:?}"
    );
    Ok(())
}

#[test]
fn one_request_id_follows_an_upload_into_its_job_logs() -> Result<()> {
    let pipeline = Pipeline::start_with(Options::with_vars(["LOG_LEVEL:debug"]))?;
    let body = ARTICLE.join(" ");
    let response = pipeline.request(
        "POST",
        "/v1/documents",
        &[
            ("Content-Type", "text/plain"),
            ("X-Request-Id", "trace-e2e-42"),
        ],
        Some(body.as_bytes()),
    )?;
    assert_eq!(response.header("X-Request-Id"), Some("trace-e2e-42"));
    let job_id = response.accepted()?.job_id;
    pipeline.wait_for_job(&job_id, JOB_TIMEOUT)?;

    let events = docpipe_e2e::eventually(Duration::from_secs(10), || {
        let events: Vec<Value> = pipeline
            .log_events()
            .into_iter()
            .filter(|e| e.to_string().contains("trace-e2e-42"))
            .collect();
        let done = events
            .iter()
            .any(|e| e["fields"]["message"] == "job succeeded");
        Ok(done.then_some(events))
    })?;
    let messages: Vec<&str> = events
        .iter()
        .filter_map(|e| e["fields"]["message"].as_str())
        .collect();
    assert!(messages.contains(&"document accepted"), "{messages:?}");
    assert!(messages.contains(&"job succeeded"), "{messages:?}");
    let succeeded = events
        .iter()
        .find(|e| e["fields"]["message"] == "job succeeded")
        .cloned()
        .unwrap_or_default();
    let job_span = succeeded["spans"]
        .as_array()
        .and_then(|spans| spans.iter().find(|s| s["name"] == "job"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(job_span["job_id"], job_id.as_str());
    assert_eq!(job_span["request_id"], "trace-e2e-42");
    for event in &events {
        assert!(
            event["timestamp"].is_string() && event["level"].is_string(),
            "{event}"
        );
    }
    Ok(())
}

#[test]
fn hostile_inputs_each_get_their_answer_and_the_pipeline_keeps_going() -> Result<()> {
    let pipeline = Pipeline::start()?;
    let upload_named = |body: &[u8], name: &str| {
        pipeline.request(
            "POST",
            "/v1/documents",
            &[
                ("Content-Type", "text/plain"),
                (
                    "Content-Disposition",
                    &format!("attachment; filename*=UTF-8''{name}"),
                ),
            ],
            Some(body),
        )
    };
    let text = b"A short and harmless sentence.";

    // Names: path components are dropped, quotes and SQL are kept as given, control
    // characters and over-long names are refused.
    let cases = [
        ("..%2F..%2Fetc%2Fpasswd", Some("passwd")),
        (
            "Robert%27%29%3B%20DROP%20TABLE%20documents%3B--%22.txt",
            Some("Robert'); DROP TABLE documents;--\".txt"),
        ),
    ];
    for (encoded, stored) in cases {
        let response = upload_named(text, encoded)?;
        let id = response.accepted()?.document_id;
        let rows = pipeline.sql(&format!("SELECT filename FROM documents WHERE id = '{id}'"))?;
        assert_eq!(rows[0]["filename"].as_str(), stored, "{encoded}");
    }
    for encoded in ["bell%07.txt".to_owned(), "n".repeat(300)] {
        let response = upload_named(text, &encoded)?;
        assert_eq!(response.status, 400, "{}", response.text());
        assert_eq!(response.api_error()?.error.code, "invalid_filename");
    }
    assert_eq!(
        pipeline.sql_count("SELECT COUNT(*) FROM documents")?,
        2,
        "tables survived"
    );

    // Bodies that are accepted but cannot be summarized fail their own jobs readably; a 10 MB
    // line without punctuation is still summarized (in bounded pieces).
    let binary: Vec<u8> = (0..=255u8).cycle().take(4_096).collect();
    let one_line = "word ".repeat(2_000_000);
    let jobs = [
        (
            binary,
            "failed",
            Some("document looks binary (byte 0x00 at offset 0), not text/plain text"),
        ),
        (one_line.into_bytes(), "succeeded", None),
        (ARTICLE.join(" ").into_bytes(), "succeeded", None),
    ];
    for (body, status, error) in jobs {
        let accepted = upload_ok(&pipeline, &body, "text/plain", "")?;
        let job = pipeline.wait_for_job(&accepted.job_id, JOB_TIMEOUT)?;
        assert_eq!(job.status, status, "{job:?}");
        assert_eq!(job.error.as_deref(), error, "{job:?}");
    }
    Ok(())
}
