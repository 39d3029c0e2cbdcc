//! Ways of sending documents beyond a body of known length, against the real pipeline.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Result, ensure};
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
