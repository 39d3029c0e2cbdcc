//! Ways of sending documents beyond a body of known length, against the real pipeline.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use docpipe_e2e::{Options, Pipeline, http::read_response};
use sha2::{Digest, Sha256};

const JOB_TIMEOUT: Duration = Duration::from_secs(120);

/// Sends `body` with `Transfer-Encoding: chunked` (no `Content-Length`), in chunks of
/// `chunk` bytes, and reads the answer.
fn send_chunked(
    pipeline: &Pipeline,
    body: &[u8],
    chunk: usize,
) -> Result<docpipe_e2e::HttpResponse> {
    let mut stream = TcpStream::connect(("127.0.0.1", pipeline.port))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    write!(
        stream,
        "POST /v1/documents?filename=chunked.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: text/plain\r\nAuthorization: Bearer {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        pipeline.key
    )?;
    for part in body.chunks(chunk) {
        write!(stream, "{:x}\r\n", part.len())?;
        // The server may answer (413) and close before the whole body is sent.
        if stream.write_all(part).is_err() {
            break;
        }
        let _ = stream.write_all(b"\r\n");
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    read_response(&mut stream)
}

fn prose(bytes: usize) -> Vec<u8> {
    let mut text = Vec::with_capacity(bytes + 100);
    let mut n = 0u64;
    while text.len() < bytes {
        text.extend_from_slice(format!("Line {n} of a long report on river traffic. ").as_bytes());
        n += 1;
    }
    text.truncate(bytes);
    text
}

#[test]
fn chunked_bodies_of_unknown_length_are_stored_whole_and_summarized() -> Result<()> {
    let pipeline = Pipeline::start()?;
    // One part (a single put once the size is known), and three parts of a multipart upload
    // (8 MiB, 8 MiB, the rest).
    for size in [70_000, 20 << 20] {
        let body = prose(size);
        let response = send_chunked(&pipeline, &body, 100_000)?;
        let accepted = response.accepted()?;
        let job = pipeline.wait_for_job(&accepted.job_id, JOB_TIMEOUT)?;
        ensure!(job.status == "succeeded", "{size}: {job:?}");
        let sha256 = hex(&Sha256::digest(&body));
        let row = pipeline.state().column(&format!(
            "SELECT size_bytes || ' ' || sha256 || ' ' || filename FROM documents WHERE id = '{}'",
            accepted.document_id
        ))?;
        ensure!(
            row == [format!("{size} {sha256} chunked.txt")],
            "{size}: {row:?}"
        );
    }
    // The bytes counted against the tenant are the bytes stored, and no upload is left open.
    let totals = pipeline.state().column(
        "SELECT (SELECT SUM(size_bytes) FROM documents) || ' ' || \
         (SELECT SUM(bytes) FROM tenant_usage) || ' ' || (SELECT COUNT(*) FROM uploads)",
    )?;
    let stored = 70_000 + (20 << 20);
    ensure!(totals == [format!("{stored} {stored} 0")], "{totals:?}");
    Ok(())
}

#[test]
fn a_chunked_body_past_the_limit_is_413_midway_and_leaves_nothing() -> Result<()> {
    // Past the limit after one multipart part has been written.
    const LIMIT: usize = 10 << 20;
    let pipeline = Pipeline::start_with(Options::with_vars([format!("MAX_UPLOAD_BYTES:{LIMIT}")]))?;
    let response = send_chunked(&pipeline, &prose(LIMIT + 1_000_000), 250_000)?;
    response.expect_error(413, "payload_too_large")?;
    ensure!(pipeline.sql_count("SELECT COUNT(*) FROM documents")? == 0);
    ensure!(pipeline.sql_count("SELECT COUNT(*) FROM uploads")? == 0);
    ensure!(pipeline.sql_count("SELECT COALESCE(SUM(bytes), 0) FROM tenant_usage")? == 0);
    ensure!(
        pipeline.document_keys()?.is_empty(),
        "{:?}",
        pipeline.document_keys()?
    );
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A form's answer: one entry per file part.
#[derive(Debug, serde::Deserialize)]
struct FormAnswer {
    documents: Vec<serde_json::Value>,
}

#[test]
fn curl_form_uploads_make_one_document_per_file_part() -> Result<()> {
    let pipeline = Pipeline::start()?;
    let dir = tempfile::tempdir()?;
    let notes = dir.path().join("notes.md");
    let report = dir.path().join("report.txt");
    std::fs::write(
        &notes,
        "# Harbour notes\n\nThe cranes were repaired in March. Ships returned.\n",
    )?;
    let report_bytes = prose(3 << 20);
    std::fs::write(&report, &report_bytes)?;
    let output = std::process::Command::new("curl")
        .args(["-sS", "-H"])
        .arg(format!("Authorization: Bearer {}", pipeline.key))
        .arg("-F")
        .arg(format!("first=@{};type=text/markdown", notes.display()))
        .arg("-F")
        .arg("comment=not a file")
        .arg("-F")
        .arg(format!("second=@{}", report.display()))
        .arg("-w")
        .arg("\n%{http_code}")
        .arg(format!("http://127.0.0.1:{}/v1/documents", pipeline.port))
        .output()?;
    let out = String::from_utf8_lossy(&output.stdout);
    let (body, status) = out.rsplit_once('\n').unwrap_or_default();
    ensure!(status == "202", "curl -F: {status} {body}");
    let answer: FormAnswer = serde_json::from_str(body)?;
    ensure!(answer.documents.len() == 2, "{body}");
    let expected = [
        ("notes.md", "text/markdown", std::fs::read(&notes)?),
        ("report.txt", "text/plain", report_bytes),
    ];
    for (document, (name, content_type, bytes)) in answer.documents.iter().zip(&expected) {
        ensure!(document["filename"] == *name, "{document}");
        let job_id = document["job_id"].as_str().unwrap_or_default();
        let job = pipeline.wait_for_job(job_id, JOB_TIMEOUT)?;
        ensure!(job.status == "succeeded", "{name}: {job:?}");
        let row = pipeline.state().column(&format!(
            "SELECT content_type || ' ' || size_bytes || ' ' || sha256 FROM documents WHERE id = '{}'",
            document["document_id"].as_str().unwrap_or_default()
        ))?;
        let sha256 = hex(&Sha256::digest(bytes));
        ensure!(
            row.len() == 1
                && row[0].starts_with(content_type)
                && row[0].ends_with(&format!("{} {sha256}", bytes.len())),
            "{name}: {row:?}"
        );
    }
    Ok(())
}

/// A `multipart/form-data` body with the given parts: (field name, file name, content type,
/// bytes).
fn form_body(boundary: &str, parts: &[(&str, Option<&str>, &str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, content_type, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let disposition = match filename {
            Some(file) => format!("form-data; name=\"{name}\"; filename=\"{file}\""),
            None => format!("form-data; name=\"{name}\""),
        };
        body.extend_from_slice(
            format!("Content-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

#[test]
fn a_form_answers_per_file_and_a_form_without_files_is_refused() -> Result<()> {
    let pipeline = Pipeline::start()?;
    let boundary = "docpipe-test-boundary";
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let good: &[u8] = b"The lighthouse was repainted. Keepers logged every ship.";
    let body = form_body(
        boundary,
        &[
            ("a", Some("invoice\u{202e}fdp.exe"), "text/plain", good),
            ("b", Some("log.txt"), "text/plain", good),
            ("c", Some("tool.exe"), "application/x-msdownload", b"MZ"),
        ],
    );
    let response = pipeline.request(
        "POST",
        "/v1/documents",
        &[("Content-Type", &content_type)],
        Some(&body),
    )?;
    ensure!(response.status == 202, "{}", response.text());
    let answer: FormAnswer = serde_json::from_str(&response.text())?;
    let codes: Vec<String> = answer
        .documents
        .iter()
        .map(|d| d["error"]["code"].as_str().unwrap_or("accepted").to_owned())
        .collect();
    ensure!(
        codes == ["invalid_filename", "accepted", "unsupported_media_type"],
        "{codes:?}"
    );
    let job_id = answer.documents[1]["job_id"].as_str().unwrap_or_default();
    ensure!(pipeline.wait_for_job(job_id, JOB_TIMEOUT)?.status == "succeeded");
    ensure!(pipeline.sql_count("SELECT COUNT(*) FROM documents")? == 1);

    let fields_only = form_body(boundary, &[("comment", None, "text/plain", b"hello")]);
    let response = pipeline.request(
        "POST",
        "/v1/documents",
        &[("Content-Type", &content_type)],
        Some(&fields_only),
    )?;
    response.expect_error(400, "no_file_in_form")?;
    let broken = pipeline.request(
        "POST",
        "/v1/documents",
        &[("Content-Type", "multipart/form-data")],
        Some(b"x"),
    )?;
    response_is(&broken, 400, "malformed_form")?;
    ensure!(pipeline.sql_count("SELECT COUNT(*) FROM documents")? == 1);
    ensure!(pipeline.sql_count("SELECT COUNT(*) FROM uploads")? == 0);
    Ok(())
}

fn response_is(response: &docpipe_e2e::HttpResponse, status: u16, code: &str) -> Result<()> {
    response.expect_error(status, code).map(drop)
}

/// The Python interpreter that has `requests` (Debian's `python3-requests`, installed by
/// `scripts/setup`).
const PYTHON: &str = "/usr/bin/python3";

#[test]
fn python_requests_files_uploads_make_one_document_per_file() -> Result<()> {
    let pipeline = Pipeline::start()?;
    let dir = tempfile::tempdir()?;
    let first = dir.path().join("minutes.txt");
    let second = dir.path().join("agenda.md");
    std::fs::write(
        &first,
        "The board met on Monday. The budget was approved.\n",
    )?;
    std::fs::write(
        &second,
        "# Agenda\n\n- Cranes\n- Dredging\n\nThe dredging starts in May.\n",
    )?;
    let script = r#"
import json, sys, requests
url, key, first, second = sys.argv[1:5]
with open(first, "rb") as a, open(second, "rb") as b:
    response = requests.post(url, headers={"Authorization": "Bearer " + key},
        files={"first": a, "second": ("agenda.md", b, "text/markdown")})
print(response.status_code)
print(json.dumps(response.json()))
"#;
    let output = std::process::Command::new(PYTHON)
        .arg("-c")
        .arg(script)
        .arg(format!("http://127.0.0.1:{}/v1/documents", pipeline.port))
        .arg(&pipeline.key)
        .arg(&first)
        .arg(&second)
        .output()?;
    let out = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "python: {out}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (status, body) = out.trim().split_once('\n').unwrap_or_default();
    ensure!(status == "202", "requests: {status} {body}");
    let answer: FormAnswer = serde_json::from_str(body)?;
    let names: Vec<&str> = answer
        .documents
        .iter()
        .map(|d| d["filename"].as_str().unwrap_or_default())
        .collect();
    ensure!(names == ["minutes.txt", "agenda.md"], "{body}");
    for document in &answer.documents {
        let job_id = document["job_id"].as_str().unwrap_or_default();
        let job = pipeline.wait_for_job(job_id, JOB_TIMEOUT)?;
        ensure!(job.status == "succeeded", "{document}: {job:?}");
    }
    let types = pipeline
        .state()
        .column("SELECT content_type FROM documents ORDER BY filename")?;
    // requests sends no type for a bare file object: the bytes decide.
    ensure!(
        types == ["text/markdown", "application/octet-stream"],
        "{types:?}"
    );
    Ok(())
}

#[test]
fn curl_sends_stdin_chunked_and_it_is_summarized() -> Result<()> {
    let pipeline = Pipeline::start()?;
    let body = prose(200_000);
    let mut child = std::process::Command::new("curl")
        .args([
            "-sS",
            "-X",
            "POST",
            "-T",
            "-",
            "-H",
            "Content-Type: text/plain",
            "-H",
        ])
        .arg(format!("Authorization: Bearer {}", pipeline.key))
        .arg("-w")
        .arg("\n%{http_code}")
        .arg(format!("http://127.0.0.1:{}/v1/documents", pipeline.port))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&body)?;
    }
    let output = child.wait_with_output()?;
    let out = String::from_utf8_lossy(&output.stdout);
    let (answer, status) = out.rsplit_once('\n').unwrap_or_default();
    ensure!(status == "202", "curl -T -: {status} {answer}");
    let accepted: serde_json::Value = serde_json::from_str(answer)?;
    let job =
        pipeline.wait_for_job(accepted["job_id"].as_str().unwrap_or_default(), JOB_TIMEOUT)?;
    ensure!(job.status == "succeeded", "{job:?}");
    let size = pipeline.sql_count("SELECT size_bytes FROM documents")?;
    ensure!(size == body.len() as i64, "stored {size} bytes");
    Ok(())
}

/// A document origin on a local port: redirects, a named report, and origins that fail in
/// each way a fetch must survive.
fn serve_origin() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer_origin(stream));
        }
    });
    Ok(port)
}

fn answer_origin(mut stream: TcpStream) {
    use std::io::{BufRead, BufReader};
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(stream) => stream,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    // The rest of the request's head.
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let report = prose(30_000);
    let head = |status: &str, headers: &str| {
        format!("HTTP/1.1 {status}\r\nConnection: close\r\n{headers}\r\n").into_bytes()
    };
    let redirect = |to: &str| {
        head(
            "302 Found",
            &format!("Location: {to}\r\nContent-Length: 0\r\n"),
        )
    };
    let written = match path.as_str() {
        "/r1" => stream.write_all(&redirect("/r2")),
        "/r2" => stream.write_all(&redirect("/files/report")),
        "/files/report" => stream.write_all(
            &[
                head(
                    "200 OK",
                    &format!(
                        "Content-Type: text/plain; charset=utf-8\r\n\
                         Content-Disposition: attachment; filename=\"river-report.txt\"\r\n\
                         Content-Length: {}\r\n",
                        report.len()
                    ),
                ),
                report,
            ]
            .concat(),
        ),
        "/to-metadata" => stream.write_all(&redirect("http://169.254.169.254/latest/meta-data/")),
        "/missing" => stream.write_all(&head("404 Not Found", "Content-Length: 0\r\n")),
        "/slow" => {
            // Headers, then nothing for longer than the fetch may take.
            let _ = stream.write_all(&head(
                "200 OK",
                "Content-Type: text/plain\r\nContent-Length: 1000\r\n",
            ));
            std::thread::sleep(Duration::from_secs(20));
            Ok(())
        }
        "/liar" => stream.write_all(
            &[
                head(
                    "200 OK",
                    "Content-Type: text/plain\r\nContent-Length: 5000\r\n",
                ),
                prose(100),
            ]
            .concat(),
        ),
        "/big" => {
            // Chunked, so the size shows only while streaming.
            let _ = stream.write_all(&head(
                "200 OK",
                "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n",
            ));
            for _ in 0..30 {
                let chunk = prose(10_000);
                let framed = [
                    format!("{:x}\r\n", chunk.len()).into_bytes(),
                    chunk,
                    b"\r\n".to_vec(),
                ];
                if stream.write_all(&framed.concat()).is_err() {
                    break;
                }
            }
            stream.write_all(b"0\r\n\r\n")
        }
        _ => stream.write_all(&head("400 Bad Request", "Content-Length: 0\r\n")),
    };
    let _ = written;
}

fn post_url(pipeline: &Pipeline, json: &str) -> Result<docpipe_e2e::HttpResponse> {
    pipeline.request(
        "POST",
        "/v1/documents",
        &[("Content-Type", "application/json")],
        Some(json.as_bytes()),
    )
}

#[test]
fn documents_named_by_url_are_fetched_and_every_failure_is_a_readable_job_error() -> Result<()> {
    let port = serve_origin()?;
    let origin = format!("http://127.0.0.1:{port}");
    let pipeline = Pipeline::start_with(Options::with_vars([
        format!("FETCH_ALLOWED_HOSTS:127.0.0.1:{port}"),
        "FETCH_TIMEOUT_SECONDS:4".into(),
        "FETCH_MAX_BYTES:200000".into(),
        "MAX_ATTEMPTS:2".into(),
        "RETRY_BASE_SECONDS:1".into(),
        "RETRY_MAX_SECONDS:2".into(),
    ]))?;

    // Refused before anything is recorded.
    for url in [
        "http://10.1.2.3/report.pdf",
        "http://127.0.0.1:1/not-allowed-port",
        "http://169.254.169.254/latest/meta-data/",
        "ftp://example.com/report.pdf",
        "https://user:secret@example.com/report.pdf",
    ] {
        let response = post_url(&pipeline, &format!(r#"{{"url": "{url}"}}"#))?;
        response_is(&response, 400, "url_refused")?;
    }
    ensure!(pipeline.sql_count("SELECT COUNT(*) FROM fetches")? == 0);

    // Through two redirects, named by the origin's Content-Disposition.
    let fetched = post_url(&pipeline, &format!(r#"{{"url": "{origin}/r1"}}"#))?.accepted()?;
    // Named by the client, with the pattern's `file_url`.
    let named = post_url(
        &pipeline,
        &format!(r#"{{"file_url": "{origin}/files/report", "filename": "mine.txt"}}"#),
    )?
    .accepted()?;
    let slow = post_url(&pipeline, &format!(r#"{{"url": "{origin}/slow"}}"#))?.accepted()?;
    let stage = pipeline.get(&format!("/v1/jobs/{}", slow.job_id))?.job()?;
    ensure!(stage.stage.as_deref() == Some("fetching"), "{stage:?}");
    let failing = [
        ("/missing", "404 from origin"),
        ("/to-metadata", "169.254.169.254"),
        ("/liar", "5000"),
        ("/big", "too large: more than 200000 bytes"),
    ]
    .map(|(path, expected)| {
        post_url(&pipeline, &format!(r#"{{"url": "{origin}{path}"}}"#))
            .and_then(|response| response.accepted())
            .map(|accepted| (path, expected, accepted))
    });

    for (accepted, filename) in [(&fetched, "river-report.txt"), (&named, "mine.txt")] {
        let job = pipeline.wait_for_job(&accepted.job_id, JOB_TIMEOUT)?;
        ensure!(job.status == "succeeded", "{job:?}");
        ensure!(job.stage.is_none(), "{job:?}");
        let document = pipeline
            .get(&format!("/v1/documents/{}", accepted.document_id))?
            .json()?;
        ensure!(document["filename"] == filename, "{document}");
        ensure!(document["size_bytes"] == 30_000, "{document}");
        let summary = pipeline.summary(&accepted.document_id)?;
        ensure!(summary.summary.contains("river traffic"), "{summary:?}");
    }
    let source = pipeline.sql(&format!(
        "SELECT source_url FROM documents WHERE id = '{}'",
        fetched.document_id
    ))?;
    ensure!(
        source[0]["source_url"] == format!("{origin}/r1"),
        "{source:?}"
    );

    let job = pipeline.wait_for_job(&slow.job_id, JOB_TIMEOUT)?;
    ensure!(
        job.status == "failed"
            && job.error.as_deref() == Some("timed out: the fetch took longer than 4 s"),
        "{job:?}"
    );
    for result in failing {
        let (path, expected, accepted) = result?;
        let job = pipeline.wait_for_job(&accepted.job_id, JOB_TIMEOUT)?;
        let error = job.error.clone().unwrap_or_default();
        ensure!(
            job.status == "failed"
                && error.contains(expected)
                && job.stage.as_deref() == Some("fetching"),
            "{path}: {job:?}"
        );
    }

    // Two documents, nothing else kept from the failed fetches.
    ensure!(pipeline.sql_count("SELECT COUNT(*) FROM documents")? == 2);
    ensure!(pipeline.sql_count("SELECT COUNT(*) FROM fetches WHERE status = 'failed'")? == 5);
    let keys = pipeline.document_keys()?;
    ensure!(keys.len() == 2, "{keys:?}");
    let usage = pipeline.sql("SELECT documents, bytes FROM tenant_usage")?;
    ensure!(
        usage[0]["documents"] == 2 && usage[0]["bytes"] == 60_000,
        "{usage:?}"
    );

    // A JSON document that names no URL is a document like any other.
    let json = br#"{"station": "Harbour", "report": "Boats returned the same week."}"#;
    let accepted = pipeline.accept(json, "application/json", "?filename=station.json")?;
    let job = pipeline.wait_for_job(&accepted.job_id, JOB_TIMEOUT)?;
    ensure!(job.status == "succeeded", "{job:?}");
    Ok(())
}

/// Writes `bytes` of prose to a file in `dir`, a megabyte at a time.
fn prose_file(dir: &std::path::Path, bytes: u64) -> Result<std::path::PathBuf> {
    let path = dir.join("river-traffic.txt");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let megabyte = prose(1 << 20);
    let mut left = bytes;
    while left > 0 {
        let n = left.min(megabyte.len() as u64);
        file.write_all(&megabyte[..usize::try_from(n)?])?;
        left -= n;
    }
    file.flush()?;
    Ok(path)
}

/// Creates a tus upload of `length` bytes with `headers` added, and returns its answer and
/// its `Location`.
fn tus_create(
    pipeline: &Pipeline,
    length: &str,
    headers: &[(&str, &str)],
) -> Result<(docpipe_e2e::HttpResponse, String)> {
    let mut all = vec![("Tus-Resumable", "1.0.0"), ("Upload-Length", length)];
    all.extend_from_slice(headers);
    let created = pipeline.request("POST", "/v1/uploads", &all, None)?;
    ensure!(created.status == 201, "{created:?}");
    let location = created
        .header("Location")
        .context("no Location")?
        .to_owned();
    Ok((created, location))
}

/// A tus `PATCH` of `body` at `offset`, with `headers` added.
fn tus_patch(
    pipeline: &Pipeline,
    location: &str,
    offset: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> Result<docpipe_e2e::HttpResponse> {
    let mut all = vec![
        ("Tus-Resumable", "1.0.0"),
        ("Upload-Offset", offset),
        ("Content-Type", "application/offset+octet-stream"),
    ];
    all.extend_from_slice(headers);
    pipeline.request("PATCH", location, &all, Some(body))
}

#[test]
fn tus_js_client_uploads_a_gigabyte_in_parts_resumes_after_a_drop_and_memory_stays_flat()
-> Result<()> {
    const SIZE: u64 = 1 << 30;
    const CHUNK: u64 = 50 << 20;
    let dir = tempfile::tempdir()?;
    let file = prose_file(dir.path(), SIZE)?;
    let pipeline = Pipeline::start()?;
    let pid = docpipe_e2e::runtime_pid(pipeline.group()).context("workerd")?;
    let endpoint = format!("http://127.0.0.1:{}/v1/uploads", pipeline.port);
    let (output, growth_mb) = docpipe_e2e::with_peak_rss(pid, || {
        let output = std::process::Command::new("node")
            .current_dir(docpipe_e2e::root())
            .arg("tests/tus/upload.mjs")
            .arg(&endpoint)
            .arg(&file)
            .arg(CHUNK.to_string())
            // In the middle of the second chunk.
            .arg((CHUNK + CHUNK / 2).to_string())
            .env("DOCPIPE_KEY", &pipeline.key)
            .output()?;
        ensure!(
            output.status.success(),
            "tus-js-client failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(output)
    })?;
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    println!("tus-js-client: {report}; workerd peak RSS growth {growth_mb:.1} MB for 1 GiB");
    ensure!(
        report["resumed_at"] == CHUNK,
        "resumed from the stored offset: {report}"
    );
    // 21 chunks (20 of 50 MiB and the rest) answered, the interrupted one only when sent again.
    ensure!(report["patches"] == 21, "{report}");
    // Not the 1 GiB sent: the local runtime itself (which also runs the local R2) grows about
    // 200 MB for one streamed 1 GiB put by a plain JavaScript Worker; docpipe stays near that.
    let bound_mb = 320.0;
    ensure!(
        growth_mb < bound_mb,
        "workerd grew {growth_mb:.1} MB for a 1 GiB upload (bound {bound_mb:.0} MB)"
    );
    let document_id = report["document_id"].as_str().context("no document id")?;
    let job_id = report["job_id"].as_str().context("no job id")?;
    let job = pipeline.wait_for_job(job_id, JOB_TIMEOUT)?;
    ensure!(job.status == "succeeded", "{job:?}");
    let document = pipeline
        .get(&format!("/v1/documents/{document_id}"))?
        .json()?;
    ensure!(document["size_bytes"] == SIZE, "{document}");
    ensure!(document["filename"] == "river-traffic.txt", "{document}");
    let summary = pipeline.summary(document_id)?;
    ensure!(summary.summary.contains("river traffic"), "{summary:?}");
    ensure!(pipeline.peek_count("SELECT COUNT(*) FROM resumable_uploads")? == 0);
    ensure!(pipeline.peek_count("SELECT COUNT(*) FROM summaries")? == 1);

    // Termination: the parts are dropped and the upload is gone.
    let (_, location) = tus_create(&pipeline, "20000000", &[])?;
    let part = prose(6 << 20);
    let patched = tus_patch(&pipeline, &location, "0", &part, &[])?;
    ensure!(
        patched.status == 204 && patched.header("Upload-Offset") == Some("6291456"),
        "{patched:?}"
    );
    let again = tus_patch(&pipeline, &location, "0", &part, &[])?;
    response_is(&again, 409, "upload_offset_mismatch")?;
    let deleted = pipeline.request("DELETE", &location, &[("Tus-Resumable", "1.0.0")], None)?;
    ensure!(deleted.status == 204, "{deleted:?}");
    let head = pipeline.request("HEAD", &location, &[("Tus-Resumable", "1.0.0")], None)?;
    ensure!(head.status == 404, "{head:?}");
    ensure!(pipeline.peek_count("SELECT COUNT(*) FROM resumable_uploads")? == 0);
    ensure!(pipeline.peek_count("SELECT COUNT(*) FROM documents")? == 1);
    Ok(())
}

#[test]
fn an_expired_resumable_upload_is_aborted_by_the_sweep_and_leaves_nothing() -> Result<()> {
    let pipeline = Pipeline::start_with(Options::with_vars(["RESUMABLE_EXPIRY_SECONDS:2"]))?;
    let (created, location) = tus_create(&pipeline, "20000000", &[])?;
    ensure!(created.header("Upload-Expires").is_some(), "{created:?}");
    let patched = tus_patch(&pipeline, &location, "0", &prose(6 << 20), &[])?;
    ensure!(patched.status == 204, "{patched:?}");
    let reserved = pipeline.sql("SELECT documents, bytes FROM tenant_usage")?;
    ensure!(reserved[0]["bytes"] == 20_000_000, "{reserved:?}");
    std::thread::sleep(Duration::from_secs(3));
    let head = pipeline.request("HEAD", &location, &[("Tus-Resumable", "1.0.0")], None)?;
    ensure!(head.status == 404, "expired: {head:?}");
    pipeline.fire_sweep()?;
    docpipe_e2e::eventually(Duration::from_secs(30), || {
        Ok((pipeline.peek_count("SELECT COUNT(*) FROM resumable_uploads")? == 0).then_some(()))
    })?;
    let usage = pipeline.sql("SELECT documents, bytes FROM tenant_usage")?;
    ensure!(
        usage[0]["documents"] == 0 && usage[0]["bytes"] == 0,
        "{usage:?}"
    );
    ensure!(pipeline.document_keys()?.is_empty());
    ensure!(
        pipeline
            .log_events()
            .iter()
            .any(|e| e["fields"]["expired_uploads_aborted"] == 1),
        "the sweep reports the aborted upload"
    );
    Ok(())
}

#[test]
fn tus_discovery_and_checksums_refuse_a_corrupted_part() -> Result<()> {
    use base64::Engine;
    let pipeline = Pipeline::start()?;
    let options = pipeline.request("OPTIONS", "/v1/uploads", &[], None)?;
    ensure!(
        options.header("Tus-Version") == Some("1.0.0")
            && options
                .header("Tus-Extension")
                .is_some_and(|e| e.contains("creation") && e.contains("checksum"))
            && options.header("Tus-Checksum-Algorithm") == Some("sha1,sha256"),
        "{options:?}"
    );
    let old = pipeline.request(
        "POST",
        "/v1/uploads",
        &[("Tus-Resumable", "0.2.2"), ("Upload-Length", "10")],
        None,
    )?;
    old.expect_error(412, "tus_version")?;

    let body = prose(1_000);
    // filename "small.txt", filetype "text/plain"
    let metadata = (
        "Upload-Metadata",
        "filename c21hbGwudHh0,filetype dGV4dC9wbGFpbg==",
    );
    let (_, location) = tus_create(&pipeline, "1000", &[metadata])?;
    let sha256 = |bytes: &[u8]| {
        format!(
            "sha256 {}",
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
        )
    };
    let patch = |checksum: &str| {
        tus_patch(
            &pipeline,
            &location,
            "0",
            &body,
            &[("Upload-Checksum", checksum)],
        )
    };
    patch(&sha256(b"something else"))?.expect_error(460, "checksum_mismatch")?;
    let head = pipeline.request("HEAD", &location, &[("Tus-Resumable", "1.0.0")], None)?;
    ensure!(head.header("Upload-Offset") == Some("0"), "{head:?}");
    let done = patch(&sha256(&body))?;
    ensure!(done.status == 204, "{done:?}");
    let job_id = done
        .header("Docpipe-Job-Id")
        .context("no job id")?
        .to_owned();
    let job = pipeline.wait_for_job(&job_id, JOB_TIMEOUT)?;
    ensure!(job.status == "succeeded", "{job:?}");
    let document = pipeline
        .get(&format!("/v1/documents/{}", job.document_id))?
        .json()?;
    ensure!(
        document["filename"] == "small.txt" && document["size_bytes"] == 1000,
        "{document}"
    );
    Ok(())
}
