//! Exactly once, under load and faults: every accepted document ends with exactly one summary,
//! nothing is lost, nothing is duplicated.

#![allow(clippy::panic)] // Test helpers fail tests by panicking.

use std::collections::HashSet;
use std::sync::atomic::AtomicU16;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use docpipe_e2e::load::{Tally, UploadRun, corpus, tally, upload_all, upload_corpus};
use docpipe_e2e::openai_fake::FakeOpenAi;
use docpipe_e2e::{Options, Pipeline, eventually};

const DOCUMENTS: usize = 1_000;
const CONCURRENCY: usize = 32;

fn assert_exactly_once(tally: &Tally) {
    tally.assert_exactly_once(DOCUMENTS);
}

fn distinct_ids(run: &UploadRun) -> usize {
    run.accepted
        .iter()
        .map(|a| a.document_id.as_str())
        .collect::<HashSet<_>>()
        .len()
}

#[test]
fn a_thousand_concurrent_uploads_make_exactly_a_thousand_summaries() -> Result<()> {
    let pipeline = Pipeline::start()?;
    let documents = corpus(DOCUMENTS, 200_000);
    let run = upload_corpus(&pipeline, &documents, CONCURRENCY)?;
    assert_eq!(distinct_ids(&run), DOCUMENTS);
    let started = Instant::now();
    let tally = tally(&pipeline, &run, Duration::from_secs(600), || Ok(()))?;
    println!(
        "load: {tally:?}; uploads took {:?} ({} retries), processing finished {:?} later",
        run.elapsed,
        run.retries,
        started.elapsed()
    );
    assert_exactly_once(&tally);
    Ok(())
}

#[test]
fn a_backend_failing_thirty_percent_of_calls_loses_and_duplicates_nothing() -> Result<()> {
    let fake = FakeOpenAi::start(30)?;
    let pipeline = Pipeline::start_with(Options::with_vars(vec![
        "SUMMARIZER_BACKEND:openai".into(),
        format!("OPENAI_BASE_URL:{}", fake.base_url()),
        "OPENAI_MODEL:fake-summarizer".into(),
        "RETRY_BASE_SECONDS:1".into(),
        "RETRY_MAX_SECONDS:4".into(),
        "MAX_ATTEMPTS:6".into(),
    ]))?;
    let documents = corpus(DOCUMENTS, 20_000);
    let run = upload_corpus(&pipeline, &documents, CONCURRENCY)?;
    let tally = tally(&pipeline, &run, Duration::from_secs(900), || Ok(()))?;
    let fallbacks =
        pipeline.sql_count("SELECT COUNT(*) FROM summaries WHERE fallback_from IS NOT NULL")?;
    let retried = pipeline.sql_count("SELECT COUNT(*) FROM jobs WHERE attempts > 1")?;
    println!(
        "flaky backend: {tally:?}; backend calls {}, failed {} ({:.0}%), jobs retried {retried}, \
         extractive fallbacks {fallbacks}",
        fake.calls(),
        fake.failures(),
        100.0 * fake.failures() as f64 / fake.calls().max(1) as f64
    );
    assert_exactly_once(&tally);
    assert!(
        fake.failures() * 100 >= fake.calls() * 29,
        "the fault was injected"
    );
    assert!(retried > 0, "transient failures must have been retried");
    let from_backend = pipeline.sql_count(
        "SELECT COUNT(*) FROM summaries WHERE backend = 'openai' AND model = 'fake-summarizer'",
    )?;
    assert_eq!(from_backend + fallbacks, DOCUMENTS as i64);
    Ok(())
}

#[test]
fn a_runtime_killed_mid_run_loses_nothing_after_restart_and_sweep() -> Result<()> {
    let mut pipeline = Pipeline::start_with(Options {
        vars: vec![
            "LEASE_SECONDS:5".into(),
            "SWEEP_GRACE_SECONDS:5".into(),
            "ORPHAN_UPLOAD_SECONDS:10".into(),
            // Uploads cut by the crash stay in flight until the sweep finds them: with the
            // default quota (1,000, this test's document count) a retry could be refused.
            "QUOTA_JOBS_IN_FLIGHT:100000".into(),
        ],
        ..Options::default()
    })?;
    let documents = corpus(DOCUMENTS, 50_000);
    let port = AtomicU16::new(pipeline.port);
    let key = pipeline.key.clone();
    // Two crashes: one while uploads are streaming in (clients retry with their keys), one
    // while jobs are being processed (their leases must expire and be taken over).
    let (run, killed_at) = std::thread::scope(|scope| -> Result<(UploadRun, usize)> {
        let uploads = scope.spawn(|| {
            upload_all(
                &port,
                &key,
                &documents,
                CONCURRENCY,
                Duration::from_secs(900),
            )
        });
        eventually(Duration::from_secs(300), || {
            let accepted = pipeline.logs().matches("\"document accepted\"").count();
            Ok((accepted >= 300).then_some(()))
        })?;
        pipeline.kill();
        std::thread::sleep(Duration::from_secs(2));
        pipeline.restart()?;
        let run = uploads
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("upload thread panicked")))?;
        let summarized = eventually(Duration::from_secs(300), || {
            let n = pipeline.logs().matches("\"job succeeded\"").count();
            Ok((n >= 100).then_some(n))
        })?;
        pipeline.kill();
        std::thread::sleep(Duration::from_secs(2));
        pipeline.restart()?;
        Ok((run, summarized))
    })?;
    assert_eq!(distinct_ids(&run), DOCUMENTS);
    let stuck_before_sweep =
        pipeline.sql_count("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'processing')")?;

    // Messages still queued in the killed runtime are gone; the sweep finds their jobs.
    let mut sweeps = 0;
    let tally = tally(&pipeline, &run, Duration::from_secs(600), || {
        sweeps += 1;
        pipeline.fire_sweep()
    })?;
    // Uploads cut off by the kill left `uploads` rows: once old enough, the sweep removes them
    // and any object they wrote.
    eventually(Duration::from_secs(60), || {
        pipeline.fire_sweep()?;
        Ok((pipeline.peek_count("SELECT COUNT(*) FROM uploads")? == 0).then_some(()))
    })?;
    let taken_over = pipeline.sql_count("SELECT COUNT(*) FROM jobs WHERE attempts > 1")?;
    let keys: HashSet<String> = pipeline.document_keys()?.into_iter().collect();
    let expected: HashSet<String> = pipeline
        .state()
        .column("SELECT object_key FROM documents")?
        .into_iter()
        .collect();
    println!(
        "kill and restart: {tally:?}; killed during uploads, then after {killed_at} summaries, {} upload retries, \
         {stuck_before_sweep} jobs waiting after the restart, {sweeps} sweeps, {taken_over} \
         jobs taken again after an expired lease or a retry, {} objects in R2",
        run.retries,
        keys.len()
    );
    assert_exactly_once(&tally);
    assert_eq!(
        keys, expected,
        "R2 holds exactly the recorded documents, no orphans"
    );
    Ok(())
}

#[test]
fn two_deliveries_of_one_job_at_once_make_one_summary() -> Result<()> {
    let pipeline = Pipeline::start_with(Options::with_vars(["SWEEP_GRACE_SECONDS:0"]))?;
    let body = "The first sentence is about duplicates. The second sentence is about queues. \
                The third sentence is about leases.";
    let first = pipeline.accept(body.as_bytes(), "text/plain", "")?;
    pipeline.wait_for_job(&first.job_id, Duration::from_secs(60))?;

    // A second job for the document that only D1 knows about, already due: each sweep sends
    // one message for it, so two sweeps deliver it twice, in one batch.
    let document = &first.document_id;
    let job = "01936b2e-1e6f-7c3a-9d4b-00000000d0d0";
    pipeline
        .state()
        .insert_queued_job(job, document, "2000-01-01T00:00:00.000Z")?;
    pipeline.fire_sweep()?;
    pipeline.fire_sweep()?;
    let finished = pipeline.wait_for_job(job, Duration::from_secs(60))?;
    assert_eq!(finished.status, "succeeded");

    // Both copies were handled: one made the summary, the other found the job taken or done.
    let copies = eventually(Duration::from_secs(60), || {
        let handled: Vec<String> = pipeline
            .log_events()
            .into_iter()
            .filter(|e| {
                e["spans"]
                    .as_array()
                    .is_some_and(|spans| spans.iter().any(|s| s["job_id"] == job))
            })
            .filter_map(|e| e["fields"]["message"].as_str().map(str::to_owned))
            .filter(|m| {
                m == "job succeeded" || m == "message skipped" || m == "job will be retried"
            })
            .collect();
        Ok((handled.len() >= 2).then_some(handled))
    })?;
    assert_eq!(
        copies.iter().filter(|m| *m == "job succeeded").count(),
        1,
        "{copies:?}"
    );
    assert_eq!(
        pipeline.sql_count(&format!(
            "SELECT COUNT(*) FROM summaries WHERE job_id = '{job}'"
        ))?,
        1
    );
    assert_eq!(
        pipeline.sql_count(&format!("SELECT attempts FROM jobs WHERE id = '{job}'"))?,
        1
    );
    Ok(())
}

#[test]
fn the_sweep_deletes_an_orphan_object_and_keeps_recorded_ones() -> Result<()> {
    let pipeline = Pipeline::start_with(Options::with_vars(["ORPHAN_UPLOAD_SECONDS:0"]))?;
    let kept = pipeline.accept(b"A recorded document stays.", "text/plain", "")?;
    // An upload that stored its object and died before recording the document.
    let orphan = "01936b2e-1e6f-7c3a-9d4b-0000000000aa";
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), b"bytes nobody will ever summarize")?;
    let status = docpipe_e2e::wrangler_command()
        .args([
            "r2",
            "object",
            "put",
            &format!("docpipe-documents/documents/{orphan}"),
            "--local",
        ])
        .arg("--persist-to")
        .arg(pipeline.persist_dir())
        .args(["-c", "wrangler/upload.toml", "--file"])
        .arg(file.path())
        .output()?;
    ensure!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    pipeline.sql(&format!(
        "INSERT INTO uploads (document_id, object_key, request_id, created_at) \
         VALUES ('{orphan}', 'documents/{orphan}', 'orphan-test', '2000-01-01T00:00:00.000Z')"
    ))?;
    assert!(pipeline.r2_keys()?.contains(&format!("documents/{orphan}")));

    pipeline.fire_sweep()?;
    let keys = eventually(Duration::from_secs(30), || {
        let keys = pipeline.r2_keys()?;
        Ok((!keys.contains(&format!("documents/{orphan}"))).then_some(keys))
    })?;
    let kept_key = format!("tenants/default/documents/{}", kept.document_id);
    assert!(keys.contains(&kept_key), "{keys:?}");
    assert_eq!(pipeline.sql_count("SELECT COUNT(*) FROM uploads")?, 0);
    Ok(())
}

#[test]
fn a_message_the_queue_gives_up_on_fails_its_job_through_the_dead_letter_queue() -> Result<()> {
    // A backend that is always overloaded, many attempts allowed by the job, but only one
    // retry allowed by the queue: the queue gives up first and dead-letters the message.
    let fake = FakeOpenAi::start(100)?;
    let pipeline = Pipeline::start_with(Options {
        vars: vec![
            "SUMMARIZER_BACKEND:openai".into(),
            format!("OPENAI_BASE_URL:{}", fake.base_url()),
            "OPENAI_MODEL:always-busy".into(),
            "MAX_ATTEMPTS:10".into(),
            "RETRY_BASE_SECONDS:1".into(),
            "RETRY_MAX_SECONDS:1".into(),
        ],
        max_retries: Some(1),
        ..Options::default()
    })?;
    let upload = pipeline.accept(
        b"One sentence about queues. Another about retries.",
        "text/plain",
        "",
    )?;
    let job = pipeline.wait_for_job(&upload.job_id, Duration::from_secs(120))?;
    assert_eq!(job.status, "failed", "{job:?}");
    assert_eq!(
        job.error.as_deref(),
        Some("the queue gave up delivering this job after its maximum retries")
    );
    assert_eq!(job.attempts, 2, "one delivery and one retry: {job:?}");
    assert_eq!(pipeline.sql_count("SELECT COUNT(*) FROM summaries")?, 0);
    assert!(fake.calls() >= 2);
    Ok(())
}

/// Holds a write lock on the local D1 file from outside the runtime, as a long transaction
/// elsewhere would, for `hold`; the upload is sent while it is held.
fn upload_while_locked(pipeline: &Pipeline, hold: Duration) -> Result<docpipe_e2e::HttpResponse> {
    let lock = rusqlite::Connection::open(pipeline.state().d1_file()?)?;
    lock.execute_batch("BEGIN EXCLUSIVE")?;
    let release = std::thread::spawn(move || {
        std::thread::sleep(hold);
        lock.execute_batch("COMMIT")
    });
    let response = pipeline.upload(
        b"Locks pass. This sentence waits for one.",
        "text/plain",
        "",
    );
    release
        .join()
        .map_err(|_| anyhow::anyhow!("lock thread panicked"))??;
    response
}

#[test]
fn a_briefly_locked_database_delays_an_upload_and_a_locked_one_stores_nothing() -> Result<()> {
    let pipeline = Pipeline::start()?;

    let response = upload_while_locked(&pipeline, Duration::from_millis(300))?;
    ensure!(
        response.status == 202,
        "{}: {}",
        response.status,
        response.text()
    );
    let job = pipeline.wait_for_job(&response.accepted()?.job_id, Duration::from_secs(60))?;
    ensure!(job.status == "succeeded", "{job:?}");

    let response = upload_while_locked(&pipeline, Duration::from_secs(4))?;
    ensure!(
        response.status == 503,
        "{}: {}",
        response.status,
        response.text()
    );
    ensure!(response.api_error()?.error.code == "unavailable");
    ensure!(response.header("Retry-After") == Some("1"));
    ensure!(pipeline.sql_count("SELECT COUNT(*) FROM documents")? == 1);
    ensure!(pipeline.sql_count("SELECT COUNT(*) FROM jobs")? == 1);
    ensure!(pipeline.sql_count("SELECT COUNT(*) FROM uploads")? == 0);
    ensure!(
        pipeline.document_keys()?.len() == 1,
        "no object for the refused upload"
    );
    Ok(())
}
