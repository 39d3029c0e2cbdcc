//! Hostile and careless requests and documents, against the real pipeline. After each, the
//! tables and the bucket hold nothing half-stored and the next ordinary upload is summarized
//! within seconds.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use docpipe_e2e::{HttpResponse, Options, Pipeline, eventually};

/// How soon an ordinary upload must be summarized after a hostile one.
const NEXT_WITHIN: Duration = Duration::from_secs(20);
const JOB_TIMEOUT: Duration = Duration::from_secs(120);

fn assert_error(response: &HttpResponse, status: u16, code: &str) -> Result<String> {
    ensure!(
        response.status == status,
        "expected {status} {code}, got {} {}",
        response.status,
        response.text()
    );
    let body = response.api_error()?;
    ensure!(
        body.error.code == code,
        "expected {code}: {}",
        response.text()
    );
    ensure!(
        response.header("Cache-Control") == Some("no-store"),
        "an error must not be cached"
    );
    Ok(body.error.message)
}

/// Nothing half-stored: no upload in flight, every object belongs to a recorded document, and
/// an ordinary upload goes through to its summary within [`NEXT_WITHIN`].
fn settled(pipeline: &Pipeline) -> Result<()> {
    eventually(Duration::from_secs(30), || {
        Ok((pipeline.peek_count("SELECT COUNT(*) FROM uploads")? == 0).then_some(()))
    })
    .context("an upload stayed recorded")?;
    let recorded: Vec<String> = pipeline
        .state()
        .column("SELECT object_key FROM documents ORDER BY object_key")?;
    let mut stored = pipeline.document_keys()?;
    stored.sort();
    ensure!(
        stored == recorded,
        "objects {stored:?} but documents {recorded:?}"
    );
    let started = Instant::now();
    let next = pipeline.accept(
        b"The ferry timetable changed in spring. Evening crossings now run hourly.",
        "text/plain",
        "",
    )?;
    let job = pipeline.wait_for_job(&next.job_id, NEXT_WITHIN)?;
    ensure!(job.status == "succeeded", "next upload: {job:?}");
    ensure!(started.elapsed() < NEXT_WITHIN);
    Ok(())
}

fn prose(bytes: usize) -> Vec<u8> {
    let mut text = Vec::with_capacity(bytes + 100);
    let mut n = 0u64;
    while text.len() < bytes {
        text.extend_from_slice(
            format!("Sentence {n} tells of the harbour and its cranes. ").as_bytes(),
        );
        n += 1;
    }
    text
}

fn nested(open: &str, inner: &str, close: &str, depth: usize) -> Vec<u8> {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth)).into_bytes()
}

#[test]
fn documents_that_used_to_wedge_the_consumer_finish_and_the_queue_moves_on() -> Result<()> {
    let pipeline = Pipeline::start()?;
    // One batch: a million nested elements, JSON 100,000 deep, and two texts larger than the
    // read limit, each summarized from 10 MB of one paragraph.
    let deep_html = [
        b"<html><body>".as_slice(),
        &nested("<div>", "Deep text sentence.", "</div>", 1_000_000),
        b"</body></html>",
    ]
    .concat();
    let deep_json = nested("[", "\"A string at the bottom.\"", "]", 100_000);
    let big = prose(24 << 20);
    let uploads = [
        (
            deep_html.as_slice(),
            "text/html",
            Some("HTML nested too deeply"),
        ),
        (
            deep_json.as_slice(),
            "application/json",
            Some("JSON nested deeper than 128 levels"),
        ),
        (big.as_slice(), "text/plain", Some("text cut at")),
        (big.as_slice(), "text/plain", Some("text cut at")),
    ];
    let mut accepted = Vec::new();
    for (body, content_type, _) in &uploads {
        accepted.push(pipeline.accept(body, content_type, "")?);
    }
    for (accepted, (_, content_type, note)) in accepted.iter().zip(&uploads) {
        let job = pipeline.wait_for_job(&accepted.job_id, JOB_TIMEOUT)?;
        ensure!(job.status == "succeeded", "{content_type}: {job:?}");
        let summary = pipeline.summary(&accepted.document_id)?;
        if let Some(note) = note {
            ensure!(
                summary.notes.iter().any(|n| n.contains(note)),
                "{content_type}: notes {:?}",
                summary.notes
            );
        }
    }
    let deep = pipeline.summary(&accepted[0].document_id)?;
    ensure!(deep.summary == "Deep text sentence.", "{deep:?}");
    // What the summarizer's own heap grew to over these batches, as it logs it: within a
    // Worker's 128 MB with room for the runtime.
    let wasm_mb = peak_wasm_mb(&pipeline, accepted.len())?;
    println!("summarizer wasm memory after the hostile batch: {wasm_mb:.1} MB");
    ensure!(wasm_mb < 96.0, "wasm memory {wasm_mb:.1} MB");
    settled(&pipeline)
}

/// The most WebAssembly memory (MB) the summarizer logged with a batch, once its batches have
/// logged at least `messages` messages (a batch logs after its handler returns).
fn peak_wasm_mb(pipeline: &Pipeline, messages: usize) -> Result<f64> {
    let bytes = pipeline
        .batches_done(messages)?
        .iter()
        .filter_map(|e| e["fields"]["wasm_memory_bytes"].as_u64())
        .max()
        .context("no batch logged its memory")?;
    Ok(bytes as f64 / 1e6)
}

#[test]
fn the_largest_documents_at_full_concurrency_stay_within_the_memory_budget() -> Result<()> {
    // The defaults: 12 MiB read of each document, 8 jobs of a batch at once, 64 MB budget.
    let pipeline = Pipeline::start()?;
    let big = prose(20 << 20);
    let mut accepted = Vec::new();
    for i in 0..8 {
        let content_type = if i % 2 == 0 {
            "text/plain"
        } else {
            "text/markdown"
        };
        accepted.push(pipeline.accept(&big, content_type, &format!("?filename=big-{i}.txt"))?);
    }
    for accepted in &accepted {
        let job = pipeline.wait_for_job(&accepted.job_id, JOB_TIMEOUT)?;
        ensure!(job.status == "succeeded", "{job:?}");
    }
    let wasm_mb = peak_wasm_mb(&pipeline, accepted.len())?;
    println!("summarizer wasm memory after 8 documents at the read limit: {wasm_mb:.1} MB");
    // 128 MB per isolate, with room for the runtime's own heap.
    ensure!(wasm_mb <= 80.0, "wasm memory {wasm_mb:.1} MB");
    settled(&pipeline)
}

/// Headers of an upload whose body is `length` bytes.
fn upload_head(pipeline: &Pipeline, length: usize) -> String {
    format!(
        "POST /v1/documents HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n\
         Authorization: Bearer {}\r\nContent-Length: {length}\r\n\r\n",
        pipeline.key
    )
}

#[test]
fn a_client_that_leaves_or_stalls_mid_body_leaves_nothing_stored() -> Result<()> {
    const ORPHAN_SECONDS: u64 = 4;
    let pipeline = Pipeline::start_with(Options::with_vars([
        "BODY_STALL_SECONDS:2".to_owned(),
        format!("ORPHAN_UPLOAD_SECONDS:{ORPHAN_SECONDS}"),
    ]))?;
    let documents_before = pipeline.sql_count("SELECT COUNT(*) FROM documents")?;

    // Leaves: half the body, then the connection closes. Whatever the upload had begun is
    // gone within seconds: at once where the runtime lets the upload finish after its client
    // left, else at the first sweep after the upload stopped noting that it is alive.
    let left = Instant::now();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(("127.0.0.1", pipeline.port))?;
        stream.write_all(upload_head(&pipeline, 1 << 20).as_bytes())?;
        stream.write_all(&prose(512 << 10)[..512 << 10])?;
        drop(stream);
    }
    eventually(Duration::from_secs(30), || {
        pipeline.fire_sweep()?;
        Ok((pipeline.peek_count("SELECT COUNT(*) FROM uploads")? == 0).then_some(()))
    })
    .context("abandoned uploads were not cleaned up")?;
    ensure!(
        left.elapsed() < Duration::from_secs(ORPHAN_SECONDS + 20),
        "cleaned up only after {:?}",
        left.elapsed()
    );
    settled(&pipeline)?;
    let usage = pipeline.sql_count(
        "SELECT COALESCE(SUM(documents), 0) FROM tenant_usage WHERE tenant_id = 'default'",
    )?;
    ensure!(
        usage == documents_before + 1,
        "abandoned uploads still count against the quota: {usage}"
    );

    // Stalls: part of the body, then nothing, with the connection open.
    let started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", pipeline.port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.write_all(upload_head(&pipeline, 1 << 20).as_bytes())?;
    stream.write_all(&prose(64 << 10)[..64 << 10])?;
    let response = docpipe_e2e::http::read_response(&mut stream)?;
    let message = assert_error(&response, 408, "body_stalled")?;
    ensure!(message.contains("no bytes arrived for 2 s"), "{message}");
    ensure!(
        started.elapsed() < Duration::from_secs(20),
        "a stalled body was held for {:?}",
        started.elapsed()
    );
    drop(stream);
    settled(&pipeline)
}

#[test]
fn declarations_that_lie_are_corrected_or_refused_by_a_stated_rule() -> Result<()> {
    let pipeline = Pipeline::start()?;
    let text = b"The harbour opened in May. Cranes arrived in June. Ships followed soon after.";

    // A charset the bytes contradict, and one nobody knows: the bytes win, with a note.
    for (charset, note) in [
        ("utf-16", "does not fit the bytes"),
        ("bogus", "unknown charset `bogus` ignored"),
    ] {
        let accepted = pipeline.accept(text, &format!("text/plain; charset={charset}"), "")?;
        let job = pipeline.wait_for_job(&accepted.job_id, JOB_TIMEOUT)?;
        ensure!(job.status == "succeeded", "{charset}: {job:?}");
        let summary = pipeline.summary(&accepted.document_id)?;
        ensure!(
            summary.summary.starts_with("The harbour opened in May."),
            "{charset}: {}",
            summary.summary
        );
        ensure!(
            summary.notes.iter().any(|n| n.contains(note)),
            "{charset}: {:?}",
            summary.notes
        );
    }

    // File names: RFC 8187 in Latin-1 decoded; broken escapes and misleading characters refused.
    let with_disposition = |disposition: &str| {
        pipeline.request(
            "POST",
            "/v1/documents",
            &[
                ("Content-Type", "text/plain"),
                ("Content-Disposition", disposition),
            ],
            Some(text),
        )
    };
    let latin = with_disposition("attachment; filename*=ISO-8859-1''caf%E9.txt")?.accepted()?;
    ensure!(
        pipeline.state().column(&format!(
            "SELECT filename FROM documents WHERE id = '{}'",
            latin.document_id
        ))? == ["café.txt"]
    );
    let documents = pipeline.sql_count("SELECT COUNT(*) FROM documents")?;
    for (disposition, says) in [
        (
            "attachment; filename*=UTF-8''report%E",
            "Content-Disposition",
        ),
        (
            "attachment; filename*=UTF-8''invoice%E2%80%AEfdp.exe",
            "bidirectional control U+202E",
        ),
        (
            "attachment; filename*=UTF-8''in%E2%80%8Bvoice.pdf",
            "zero-width character U+200B",
        ),
    ] {
        let message = assert_error(&with_disposition(disposition)?, 400, "invalid_filename")?;
        ensure!(message.contains(says), "{disposition}: {message}");
    }
    let query = pipeline.upload(text, "text/plain", "?filename=invoice%E2%80%AEfdp.exe")?;
    assert_error(&query, 400, "invalid_filename")?;
    ensure!(pipeline.sql_count("SELECT COUNT(*) FROM documents")? == documents);
    settled(&pipeline)
}

#[test]
fn malformed_headers_are_refused_before_anything_is_stored() -> Result<()> {
    let pipeline = Pipeline::start()?;
    let long_key = "k".repeat(10_000);
    let cases: [(&str, &str, u16, &str); 4] = [
        (
            "Content-Type",
            "application/x-unheard-of",
            415,
            "unsupported_media_type",
        ),
        (
            "Content-Disposition",
            "attachment; filename=\"unterminated",
            400,
            "invalid_filename",
        ),
        ("Content-Disposition", ";;;=", 400, "invalid_filename"),
        ("Idempotency-Key", &long_key, 400, "invalid_idempotency_key"),
    ];
    for (name, value, status, code) in cases {
        let mut headers = vec![(name, value)];
        if name != "Content-Type" {
            headers.push(("Content-Type", "text/plain"));
        }
        for _ in 0..3 {
            let response =
                pipeline.request("POST", "/v1/documents", &headers, Some(b"Some text."))?;
            assert_error(&response, status, code)
                .with_context(|| format!("{name}: {value:.40}"))?;
        }
    }
    ensure!(pipeline.sql_count("SELECT COUNT(*) FROM documents")? == 0);
    ensure!(pipeline.sql_count("SELECT COALESCE(SUM(documents), 0) FROM tenant_usage")? == 0);
    settled(&pipeline)
}
