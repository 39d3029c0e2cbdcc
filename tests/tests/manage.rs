//! Finding documents and jobs again: listings with cursors and filters, against the real
//! pipeline.

use std::collections::BTreeSet;

use anyhow::{Context, Result, ensure};
use docpipe_e2e::{Options, Pipeline};
use serde_json::Value;

fn page(pipeline: &Pipeline, key: &str, path: &str) -> Result<Value> {
    let response = pipeline.request_as(key, "GET", path, &[], None)?;
    ensure!(response.status == 200, "{path}: {response:?}");
    response.json()
}

#[test]
fn listings_page_newest_first_without_losing_or_repeating_under_inserts() -> Result<()> {
    let pipeline = Pipeline::start_with(Options::with_vars(["QUOTA_JOBS_IN_FLIGHT:100000"]))?;
    let mut uploaded = Vec::new();
    for i in 0..250 {
        let name = if i % 5 == 0 { "minutes" } else { "report" };
        let body = format!("Document {i} of the harbour archive. Boats returned in week {i}.");
        let accepted = pipeline.accept(
            body.as_bytes(),
            "text/plain",
            &format!("?filename={name}-{i}.txt"),
        )?;
        uploaded.push(accepted.document_id);
    }

    // Page through all of them 40 at a time, uploading one more before each next page.
    let mut seen = Vec::new();
    let mut path = "/v1/documents?limit=40".to_owned();
    loop {
        let body = page(&pipeline, &pipeline.key, &path)?;
        let items = body["documents"].as_array().context("no documents")?;
        ensure!(items.len() <= 40);
        for item in items {
            seen.push(item["document_id"].as_str().context("no id")?.to_owned());
        }
        pipeline.accept(b"A late arrival while paging.", "text/plain", "")?;
        let Some(cursor) = body["next_cursor"].as_str() else {
            break;
        };
        path = format!("/v1/documents?limit=40&cursor={cursor}");
    }
    let newest_first: Vec<String> = uploaded.iter().rev().cloned().collect();
    ensure!(seen.len() == 250, "{} items", seen.len());
    ensure!(seen == newest_first, "order or membership differs");

    // Filters: by file name prefix, then by status once processing is done.
    let minutes = page(
        &pipeline,
        &pipeline.key,
        "/v1/documents?filename_prefix=minutes-&limit=100",
    )?;
    ensure!(minutes["documents"].as_array().map(Vec::len) == Some(50));
    let last = uploaded.last().context("none")?;
    let summary_url = format!("/v1/documents/{last}/summary");
    docpipe_e2e::eventually(std::time::Duration::from_secs(120), || {
        Ok((pipeline.get(&summary_url)?.status == 200).then_some(()))
    })?;
    let succeeded = page(
        &pipeline,
        &pipeline.key,
        "/v1/documents?status=succeeded&filename_prefix=report-&limit=1",
    )?;
    let item = &succeeded["documents"][0];
    ensure!(item["status"] == "succeeded", "{item}");
    ensure!(
        item["summary_start"]
            .as_str()
            .is_some_and(|s| s.contains("harbour archive")),
        "{item}"
    );

    // Jobs list the same way; a document's jobs by its id.
    let jobs = page(
        &pipeline,
        &pipeline.key,
        &format!("/v1/jobs?document_id={last}"),
    )?;
    ensure!(jobs["jobs"].as_array().map(Vec::len) == Some(1), "{jobs}");
    let all_jobs = page(&pipeline, &pipeline.key, "/v1/jobs?limit=100")?;
    let ids: BTreeSet<&str> = all_jobs["jobs"]
        .as_array()
        .context("no jobs")?
        .iter()
        .filter_map(|j| j["job_id"].as_str())
        .collect();
    ensure!(ids.len() == 100 && all_jobs["next_cursor"].is_string());

    // Another tenant sees none of it; bad queries are 400.
    let other = pipeline
        .state()
        .create_key("other", "other", "read write")?;
    let empty = page(&pipeline, &other.key, "/v1/documents")?;
    ensure!(
        empty["documents"].as_array().map(Vec::len) == Some(0),
        "{empty}"
    );
    ensure!(empty["next_cursor"].is_null());
    for bad in [
        "/v1/documents?limit=500",
        "/v1/documents?cursor=bm90LWEtY3Vyc29y",
        "/v1/documents?status=done",
        "/v1/documents?sort=asc",
        "/v1/jobs?created_after=yesterday",
    ] {
        pipeline.get(bad)?.expect_error(400, "invalid_query")?;
    }
    Ok(())
}

/// An origin that sends a text document slowly: 40 KB over about four seconds.
fn serve_slow_document() -> Result<u16> {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(match stream.try_clone() {
                    Ok(s) => s,
                    Err(_) => return,
                });
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let chunk = "The ferry ran late again. Passengers waited on the quay. ".repeat(70);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/plain\r\n\
                     Content-Length: {}\r\n\r\n",
                    chunk.len() * 10
                );
                let _ = stream.write_all(head.as_bytes());
                for _ in 0..10 {
                    std::thread::sleep(std::time::Duration::from_millis(400));
                    if stream.write_all(chunk.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(port)
}

#[test]
fn deleting_removes_every_row_and_object_even_while_the_job_runs() -> Result<()> {
    let port = serve_slow_document()?;
    let pipeline = Pipeline::start_with(Options::with_vars([format!(
        "FETCH_ALLOWED_HOSTS:127.0.0.1:{port}"
    )]))?;
    let timeout = std::time::Duration::from_secs(120);

    // A finished document: rows and objects go, and deleting again is the same answer. (Its
    // line ends need cleaning, so its text is a copy of its own.)
    let done = pipeline.accept(
        b"The harbour reopened in spring.\r\nBoats returned the same week.",
        "text/plain",
        "?filename=harbour.txt",
    )?;
    let job = pipeline.wait_for_job(&done.job_id, timeout)?;
    ensure!(job.status == "succeeded", "{job:?}");
    ensure!(pipeline.r2_keys()?.len() == 2, "the original and its text");
    for _ in 0..2 {
        let deleted = pipeline.request(
            "DELETE",
            &format!("/v1/documents/{}", done.document_id),
            &[],
            None,
        )?;
        ensure!(deleted.status == 204, "{deleted:?}");
    }
    pipeline
        .get(&format!("/v1/documents/{}", done.document_id))?
        .expect_error(404, "document_not_found")?;
    pipeline
        .get(&format!("/v1/jobs/{}", done.job_id))?
        .expect_error(404, "job_not_found")?;

    // A document whose job is still fetching it: the job ends canceled and stores nothing.
    let body = format!(r#"{{"url": "http://127.0.0.1:{port}/ferry.txt"}}"#);
    let fetching = pipeline
        .request(
            "POST",
            "/v1/documents",
            &[("Content-Type", "application/json")],
            Some(body.as_bytes()),
        )?
        .accepted()?;
    docpipe_e2e::eventually(timeout, || {
        let job = pipeline
            .get(&format!("/v1/jobs/{}", fetching.job_id))?
            .job()?;
        Ok((job.status == "processing").then_some(()))
    })?;
    let deleted = pipeline.request(
        "DELETE",
        &format!("/v1/documents/{}", fetching.document_id),
        &[],
        None,
    )?;
    ensure!(deleted.status == 204, "{deleted:?}");
    docpipe_e2e::eventually(timeout, || {
        Ok(pipeline
            .log_events()
            .iter()
            .any(|e| {
                e["fields"]["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("canceled"))
            })
            .then_some(()))
    })?;
    for table in ["documents", "jobs", "summaries", "fetches"] {
        let rows = pipeline.peek_count(&format!("SELECT COUNT(*) FROM {table}"))?;
        ensure!(rows == 0, "{table} holds {rows} rows");
    }
    let keys = pipeline.r2_keys()?;
    ensure!(keys.is_empty(), "R2 still holds {keys:?}");
    Ok(())
}

/// `q` for a URL: the few characters the tests' queries use, percent-encoded.
fn encode(q: &str) -> String {
    q.replace('%', "%25")
        .replace(' ', "%20")
        .replace('"', "%22")
        .replace('(', "%28")
        .replace(')', "%29")
        .replace('*', "%2A")
        .replace(':', "%3A")
}

#[test]
fn search_ranks_phrases_within_the_tenant_and_refuses_hostile_queries() -> Result<()> {
    let pipeline = Pipeline::start()?;
    let other = pipeline
        .state()
        .create_key("other", "other", "read write")?;
    let timeout = std::time::Duration::from_secs(120);
    let upload = |key: &str, name: &str, text: &str| -> Result<String> {
        let accepted = pipeline
            .request_as(
                key,
                "POST",
                &format!("/v1/documents?filename={name}"),
                &[("Content-Type", "text/plain")],
                Some(text.as_bytes()),
            )?
            .accepted()?;
        Ok(accepted.document_id)
    };
    let once = upload(
        &pipeline.key,
        "once.txt",
        "The lighthouse keeper wrote one letter. Storms closed the harbour for a week.",
    )?;
    let often = upload(
        &pipeline.key,
        "often.txt",
        "The lighthouse keeper kept a log. Every night the lighthouse keeper climbed the stairs. \
         Ships trusted the lighthouse keeper.",
    )?;
    let theirs = upload(
        &other.key,
        "theirs.txt",
        "Another tenant's lighthouse keeper wrote about gulls.",
    )?;
    upload(
        &pipeline.key,
        "unrelated.txt",
        "Bakers rise early. Bread cools on racks.",
    )?;
    for (key, id) in [
        (&pipeline.key, &once),
        (&pipeline.key, &often),
        (&other.key, &theirs),
    ] {
        docpipe_e2e::eventually(timeout, || {
            let status = pipeline
                .request_as(
                    key,
                    "GET",
                    &format!("/v1/documents/{id}/summary"),
                    &[],
                    None,
                )?
                .status;
            Ok((status == 200).then_some(()))
        })?;
    }

    let hits = |key: &str, q: &str| -> Result<Vec<Value>> {
        let body = page(&pipeline, key, &format!("/v1/search?q={}", encode(q)))?;
        Ok(body["results"].as_array().cloned().unwrap_or_default())
    };
    let ids = |results: &[Value]| -> Vec<String> {
        results
            .iter()
            .filter_map(|r| r["document_id"].as_str().map(str::to_owned))
            .collect()
    };
    let phrase = hits(&pipeline.key, "\"lighthouse keeper\"")?;
    ensure!(ids(&phrase) == [often.clone(), once.clone()], "{phrase:?}");
    ensure!(
        phrase[0]["text_snippet"]
            .as_str()
            .is_some_and(|s| s.contains("<mark>lighthouse keeper</mark>")),
        "{phrase:?}"
    );
    ensure!(ids(&hits(&pipeline.key, "storm*")?) == std::slice::from_ref(&once));
    ensure!(ids(&hits(&other.key, "\"lighthouse keeper\"")?) == [theirs]);

    for hostile in [
        "\"unbalanced",
        "NEAR(",
        "*",
        "nosuchcolumn:x",
        "a OR",
        "'; DROP TABLE documents; --",
    ] {
        let response = pipeline.get(&format!("/v1/search?q={}", encode(hostile)))?;
        ensure!(
            response.status == 400 || response.status == 200,
            "{hostile}: {response:?}"
        );
        if response.status == 400 {
            response.expect_error(400, "invalid_query")?;
        }
    }
    pipeline
        .get(&format!("/v1/search?q={}", encode("\"unbalanced")))?
        .expect_error(400, "invalid_query")?;
    pipeline
        .get("/v1/search")?
        .expect_error(400, "invalid_query")?;
    ensure!(pipeline.peek_count("SELECT COUNT(*) FROM documents")? == 4);

    // A deleted document is no longer found.
    let deleted = pipeline.request("DELETE", &format!("/v1/documents/{often}"), &[], None)?;
    ensure!(deleted.status == 204);
    ensure!(ids(&hits(&pipeline.key, "\"lighthouse keeper\"")?) == [once]);
    Ok(())
}

#[test]
fn the_sweep_deletes_documents_past_their_retention() -> Result<()> {
    let pipeline = Pipeline::start_with(Options::with_vars(["RETENTION_DAYS:30"]))?;
    let timeout = std::time::Duration::from_secs(120);
    // Line ends that need cleaning: each document's text is a copy of its own.
    let old = pipeline.accept(
        b"An old report\r\non tides.",
        "text/plain",
        "?filename=old.txt",
    )?;
    let new = pipeline.accept(
        b"A new report\r\non tides.",
        "text/plain",
        "?filename=new.txt",
    )?;
    for accepted in [&old, &new] {
        let job = pipeline.wait_for_job(&accepted.job_id, timeout)?;
        ensure!(job.status == "succeeded", "{job:?}");
    }
    pipeline.sql(&format!(
        "UPDATE documents SET created_at = '2020-01-01T00:00:00.000Z' WHERE id = '{}'",
        old.document_id
    ))?;
    pipeline.fire_sweep()?;
    docpipe_e2e::eventually(timeout, || {
        Ok((pipeline.peek_count("SELECT COUNT(*) FROM documents")? == 1).then_some(()))
    })?;
    pipeline
        .get(&format!("/v1/documents/{}", old.document_id))?
        .expect_error(404, "document_not_found")?;
    ensure!(
        pipeline
            .get(&format!("/v1/documents/{}", new.document_id))?
            .status
            == 200
    );
    ensure!(pipeline.peek_count("SELECT COUNT(*) FROM summaries")? == 1);
    let keys = pipeline.r2_keys()?;
    ensure!(
        keys.len() == 2 && keys.iter().all(|k| k.contains(&new.document_id)),
        "{keys:?}"
    );
    Ok(())
}
