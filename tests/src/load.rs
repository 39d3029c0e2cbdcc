//! Many uploads at once, as a client with retries would send them: each document has its own
//! `Idempotency-Key`, and an upload that gets no answer or a `5xx` is sent again until it is
//! accepted, so a runtime restart in the middle loses nothing and duplicates nothing.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use std::collections::HashMap;

use anyhow::{Result, bail, ensure};
use serde::Deserialize;

use crate::api::Accepted;
use crate::{Pipeline, eventually, request};

/// A generated document.
#[derive(Debug, Clone)]
pub struct Document {
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub idempotency_key: String,
}

const TOPICS: [&str; 6] = [
    "library",
    "railway",
    "harbour",
    "orchard",
    "observatory",
    "bakery",
];

/// `count` documents between roughly 1 KB and `max_bytes`, alternating plain text and
/// Markdown, each with distinct sentences.
pub fn corpus(count: usize, max_bytes: usize) -> Vec<Document> {
    (0..count)
        .map(|i| {
            let topic = TOPICS[i % TOPICS.len()];
            // Sizes spread geometrically from 1 KB to max_bytes.
            let fraction = (i % 17) as f64 / 16.0;
            let target = (1_000.0 * (max_bytes as f64 / 1_000.0).powf(fraction)) as usize;
            let mut text = String::new();
            if i % 2 == 1 {
                text.push_str(&format!("# The {topic} report {i}\n\n"));
            }
            let mut n = 0;
            while text.len() < target {
                text.push_str(&format!(
                    "The {topic} committee met for session {n} of document {i}. \
                     Members discussed the budget, the schedule and the {topic} staff. "
                ));
                if n % 5 == 4 {
                    text.push_str("\n\n");
                }
                n += 1;
            }
            Document {
                body: text.into_bytes(),
                content_type: if i % 2 == 1 {
                    "text/markdown"
                } else {
                    "text/plain"
                },
                idempotency_key: format!("load-{i}"),
            }
        })
        .collect()
}

/// What uploading a corpus took.
#[derive(Debug, Default)]
pub struct UploadRun {
    /// The `202` body of each document, in corpus order.
    pub accepted: Vec<Accepted>,
    /// Requests that got no answer or a `5xx` and were sent again.
    pub retries: usize,
    pub elapsed: Duration,
}

/// Uploads every document with `concurrency` clients and `key`, to whatever port `port` holds
/// at the time (a restarted runtime may come back elsewhere), retrying until `timeout`.
pub fn upload_all(
    port: &AtomicU16,
    key: &str,
    documents: &[Document],
    concurrency: usize,
    timeout: Duration,
) -> Result<UploadRun> {
    let started = Instant::now();
    let deadline = started + timeout;
    let next = AtomicUsize::new(0);
    let retries = AtomicUsize::new(0);
    let accepted: Mutex<Vec<Option<Accepted>>> = Mutex::new(vec![None; documents.len()]);
    let failure: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..concurrency {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(document) = documents.get(i) else {
                        return;
                    };
                    match upload_one(port, key, document, deadline, &retries) {
                        Ok(body) => {
                            if let Ok(mut accepted) = accepted.lock() {
                                accepted[i] = Some(body);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut failure) = failure.lock() {
                                failure.get_or_insert(format!("document {i}: {e}"));
                            }
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(failure) = failure.into_inner().ok().flatten() {
        bail!(failure);
    }
    let accepted = accepted
        .into_inner()
        .map_err(|_| anyhow::anyhow!("upload thread panicked"))?
        .into_iter()
        .enumerate()
        .map(|(i, body)| body.ok_or_else(|| anyhow::anyhow!("document {i} was not uploaded")))
        .collect::<Result<Vec<_>>>()?;
    Ok(UploadRun {
        accepted,
        retries: retries.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    })
}

/// Uploads every document to `pipeline` with `concurrency` clients, within ten minutes.
pub fn upload_corpus(
    pipeline: &Pipeline,
    documents: &[Document],
    concurrency: usize,
) -> Result<UploadRun> {
    upload_all(
        &AtomicU16::new(pipeline.port),
        &pipeline.key,
        documents,
        concurrency,
        Duration::from_secs(600),
    )
}

fn upload_one(
    port: &AtomicU16,
    key: &str,
    document: &Document,
    deadline: Instant,
    retries: &AtomicUsize,
) -> Result<Accepted> {
    loop {
        let response = request(
            port.load(Ordering::Relaxed),
            "POST",
            "/v1/documents",
            &[
                ("Authorization", &format!("Bearer {key}")),
                ("Content-Type", document.content_type),
                ("Idempotency-Key", &document.idempotency_key),
            ],
            Some(&document.body),
        );
        match response {
            Ok(response) if response.status == 202 => return response.accepted(),
            Ok(response) if response.status < 500 => {
                bail!(
                    "upload refused with {}: {}",
                    response.status,
                    response.text()
                )
            }
            // No answer (runtime down) or a 5xx: the client tries again, same key.
            _ => {
                if Instant::now() > deadline {
                    bail!("not accepted before the deadline");
                }
                retries.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    }
}

/// What D1 says about a finished run.
#[derive(Debug)]
pub struct Tally {
    pub accepted: usize,
    pub documents: i64,
    pub jobs_succeeded: i64,
    pub summaries: i64,
    pub lost: usize,
    pub duplicated: usize,
}

impl Tally {
    /// Fails unless each of `expected` accepted documents has exactly one summary.
    #[allow(clippy::panic)] // Fails the test that calls it.
    pub fn assert_exactly_once(&self, expected: usize) {
        let n = expected as i64;
        assert_eq!(self.accepted, expected, "{self:?}");
        assert_eq!(
            self.documents, n,
            "one document row per accepted upload: {self:?}"
        );
        assert_eq!(self.jobs_succeeded, n, "{self:?}");
        assert_eq!(self.summaries, n, "{self:?}");
        assert_eq!((self.lost, self.duplicated), (0, 0), "{self:?}");
    }
}

/// Polls until every job is finished (calling `tick` on each poll), then checks D1 against
/// the accepted uploads: which documents have no summary, and which have more than one.
pub fn tally(
    pipeline: &Pipeline,
    run: &UploadRun,
    timeout: Duration,
    mut tick: impl FnMut() -> Result<()>,
) -> Result<Tally> {
    eventually(timeout, || {
        tick()?;
        let unfinished = pipeline
            .peek_count("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'processing')")?;
        Ok((unfinished == 0).then_some(()))
    })?;
    #[derive(Deserialize)]
    struct Row {
        document_id: String,
        job_id: String,
    }
    let rows: Vec<Row> = pipeline
        .state()
        .rows("SELECT document_id, job_id FROM summaries")?;
    let mut per_document: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        per_document
            .entry(row.document_id)
            .or_default()
            .push(row.job_id);
    }
    let mut lost = 0;
    let mut duplicated = 0;
    for accepted in &run.accepted {
        let document = &accepted.document_id;
        match per_document.get(document).map(Vec::as_slice) {
            None | Some([]) => lost += 1,
            Some([job]) => ensure!(
                accepted.job_id == *job,
                "document {document} was summarized by job {job}, not the accepted one"
            ),
            Some(_) => duplicated += 1,
        }
    }
    Ok(Tally {
        accepted: run.accepted.len(),
        documents: pipeline.sql_count("SELECT COUNT(*) FROM documents")?,
        jobs_succeeded: pipeline
            .sql_count("SELECT COUNT(*) FROM jobs WHERE status = 'succeeded'")?,
        summaries: pipeline.sql_count("SELECT COUNT(*) FROM summaries")?,
        lost,
        duplicated,
    })
}
