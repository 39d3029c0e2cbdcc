//! Summaries: stored with `succeeded` in one transaction, keyed by job id, so a job has at most
//! one; and the lookup that tells a reader whether a document's summary is there, pending or
//! failed.

use docpipe_docproc::summarize::Usage;
use docpipe_jobs::{DocumentId, JobId, JobStatus};
use serde::{Deserialize, Deserializer, Serialize};

use super::jobs::record_usage;
use super::{Store, webhooks};
use crate::auth::TenantId;
use crate::db::{DbError, Statement, sql_bool};
use crate::ports::Database;
use crate::time::{Millis, Timestamp, timestamp};

/// What a summary says and how it was made: written by the finishing transaction, read back
/// with the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryContent {
    pub summary: String,
    /// `extractive`, `workers-ai` or `openai`.
    pub backend: String,
    pub model: Option<String>,
    /// The backend that failed, when this summary is the built-in summarizer's stand-in.
    pub fallback_from: Option<String>,
    pub fallback_reason: Option<String>,
    /// Characters of extracted text summarized.
    pub input_chars: u64,
    #[serde(deserialize_with = "sql_bool")]
    pub truncated: bool,
    /// The format the text was read as.
    pub source_type: Option<String>,
    /// What extraction noted (a format mismatch, the encoding used, a cut), stored one per line.
    #[serde(deserialize_with = "lines")]
    pub notes: Vec<String>,
    /// Where the text is in the document's own bytes (offset, length), when it is them: R2
    /// keeps no copy of it then.
    #[serde(skip_serializing, default)]
    pub text_offset: Option<u64>,
    #[serde(skip_serializing, default)]
    pub text_bytes: Option<u64>,
}

impl SummaryContent {
    /// Where the text is in the document's bytes (offset, length), when R2 keeps no copy.
    pub fn text_range(&self) -> Option<(u64, u64)> {
        self.text_offset.zip(self.text_bytes)
    }
}

/// A summary and the job that made it, as D1 holds it and `GET /v1/documents/{id}/summary`
/// shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryRow {
    pub document_id: DocumentId,
    pub job_id: JobId,
    #[serde(flatten)]
    pub content: SummaryContent,
    pub created_at: Timestamp,
}

/// A nullable text column of one item per line.
fn lines<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?;
    Ok(text
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default())
}

/// What `GET /v1/documents/{id}/summary` finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SummaryLookup {
    NoSuchDocument,
    /// The document's newest job has not finished.
    Pending {
        job_id: JobId,
        status: JobStatus,
    },
    /// The document's newest job failed and no earlier job succeeded.
    Failed {
        job_id: JobId,
        error: String,
    },
    Ready(Box<SummaryRow>),
}

/// Everything the finishing transaction records about a successful job.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub content: SummaryContent,
    /// What the search index holds of the document's text (its start).
    pub search_text: String,
    pub fetch_ms: i64,
    pub extract_ms: i64,
    pub summarize_ms: i64,
    pub lease_write_ms: i64,
}

/// A document a search found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub document_id: DocumentId,
    pub filename: String,
    /// The summary and the text around the matches, matches in `<mark>`.
    pub summary_snippet: String,
    pub text_snippet: String,
    /// BM25, higher is better; comparable within one search.
    pub score: f64,
    /// The page of the first match in the text (from 1); none when only the name or the
    /// summary matched.
    pub page: Option<u32>,
}

#[derive(Deserialize)]
struct LatestJob {
    job_id: JobId,
    status: JobStatus,
    error: Option<String>,
}

impl<D: Database> Store<D> {
    /// Stores the summary and marks the job `succeeded`, if this lease still holds it.
    /// Returns whether it did.
    pub async fn complete(
        &self,
        job: &JobId,
        lease_id: &str,
        completion: &Completion,
        usage: &Usage,
        now: Millis,
    ) -> Result<bool, DbError> {
        let usage = record_usage(job, lease_id, usage, now);
        let now_ms = now;
        let now = timestamp(now);
        let content = &completion.content;
        let notes = (!content.notes.is_empty()).then(|| content.notes.join("\n"));
        let insert_summary = Statement::new(
            "INSERT INTO summaries (job_id, document_id, summary, backend, model, fallback_from, \
             input_chars, truncated, created_at, source_type, notes, fallback_reason, tenant_id, \
             text_offset, text_bytes) \
             SELECT id, document_id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?10, ?11, ?12, tenant_id, ?13, ?14 \
             FROM jobs \
             WHERE id = ?1 AND status = 'processing' AND lease_id = ?9 \
             ON CONFLICT (job_id) DO NOTHING",
            vec![
                job.into(),
                content.summary.clone().into(),
                content.backend.clone().into(),
                content.model.clone().into(),
                content.fallback_from.clone().into(),
                content.input_chars.into(),
                content.truncated.into(),
                now.clone().into(),
                lease_id.into(),
                content.source_type.clone().into(),
                notes.into(),
                content.fallback_reason.clone().into(),
                content.text_offset.into(),
                content.text_bytes.into(),
            ],
        );
        let mark_succeeded = Statement::new(
            "UPDATE jobs SET status = 'succeeded', error = NULL, lease_id = NULL, \
             lease_expires_at = NULL, finished_at = ?1, updated_at = ?1, extract_ms = ?2, \
             summarize_ms = ?3, lease_write_ms = ?4, fetch_ms = ?7 \
             WHERE id = ?5 AND status = 'processing' AND lease_id = ?6",
            vec![
                now.into(),
                completion.extract_ms.into(),
                completion.summarize_ms.into(),
                completion.lease_write_ms.into(),
                job.into(),
                lease_id.into(),
                completion.fetch_ms.into(),
            ],
        );
        // The document's search row, replaced, while this lease holds the job.
        let unindex = Statement::new(
            "DELETE FROM search_index WHERE rowid = (SELECT d.rowid FROM jobs j \
             JOIN documents d ON d.id = j.document_id \
             WHERE j.id = ?1 AND j.status = 'processing' AND j.lease_id = ?2)",
            vec![job.into(), lease_id.into()],
        );
        let index = Statement::new(
            "INSERT INTO search_index (rowid, document_id, tenant_id, filename, summary, body) \
             SELECT d.rowid, d.id, d.tenant_id, COALESCE(d.filename, ''), ?3, ?4 FROM jobs j \
             JOIN documents d ON d.id = j.document_id \
             WHERE j.id = ?1 AND j.status = 'processing' AND j.lease_id = ?2",
            vec![
                job.into(),
                lease_id.into(),
                content.summary.clone().into(),
                completion.search_text.clone().into(),
            ],
        );
        let mut statements = vec![insert_summary, unindex, index];
        statements.extend(usage);
        let at = statements.len();
        statements.push(mark_succeeded);
        statements.extend(webhooks::job_event(job, now_ms));
        let changes = self.db.batch(statements).await?;
        Ok(changes.get(at).copied().unwrap_or(0) == 1)
    }

    /// The tenant's documents that match an FTS5 query, best first.
    pub async fn search(
        &self,
        tenant: &TenantId,
        query: &crate::search::SearchQuery,
    ) -> Result<Vec<SearchHit>, DbError> {
        self.db
            .query(Statement::new(
                // The page of the first match in the text: one more than the form feeds
                // (page breaks) before it, found by marking matches with a \x01.
                "SELECT document_id, filename, summary_snippet, text_snippet, score, \
                 CASE WHEN first_match > 0 THEN 1 + (first_match - 1) - length(replace( \
                 substr(marked, 1, first_match - 1), char(12), '')) END AS page \
                 FROM (SELECT document_id, filename, \
                 snippet(search_index, 3, '<mark>', '</mark>', '…', 16) AS summary_snippet, \
                 replace(snippet(search_index, 4, '<mark>', '</mark>', '…', 16), char(12), ' ') \
                 AS text_snippet, \
                 -bm25(search_index, 0.0, 0.0, 4.0, 2.0, 1.0) AS score, \
                 highlight(search_index, 4, char(1), '') AS marked, \
                 instr(highlight(search_index, 4, char(1), ''), char(1)) AS first_match \
                 FROM search_index WHERE search_index MATCH ?1 AND tenant_id = ?2 \
                 ORDER BY score DESC LIMIT ?3)",
                vec![
                    query.q.clone().into(),
                    tenant.as_str().into(),
                    query.limit.into(),
                ],
            ))
            .await
    }

    /// The newest successful summary of the tenant's document, or why there is none.
    pub async fn latest_summary(
        &self,
        tenant: &TenantId,
        document: &DocumentId,
    ) -> Result<SummaryLookup, DbError> {
        let summaries: Vec<SummaryRow> = self
            .db
            .query(Statement::new(
                "SELECT job_id, document_id, summary, backend, model, fallback_from, \
                 fallback_reason, input_chars, truncated, source_type, notes, created_at, \
                 text_offset, text_bytes FROM summaries \
                 WHERE document_id = ?1 AND tenant_id = ?2 ORDER BY job_id DESC LIMIT 1",
                vec![document.into(), tenant.as_str().into()],
            ))
            .await?;
        if let Some(summary) = summaries.into_iter().next() {
            return Ok(SummaryLookup::Ready(Box::new(summary)));
        }
        let latest: Vec<LatestJob> = self
            .db
            .query(Statement::new(
                "SELECT id AS job_id, status, error FROM jobs WHERE document_id = ?1 \
                 AND tenant_id = ?2 ORDER BY id DESC LIMIT 1",
                vec![document.into(), tenant.as_str().into()],
            ))
            .await?;
        let Some(job) = latest.into_iter().next() else {
            return Ok(SummaryLookup::NoSuchDocument);
        };
        Ok(match job.status {
            JobStatus::Failed => SummaryLookup::Failed {
                job_id: job.job_id,
                error: job.error.unwrap_or_default(),
            },
            // A succeeded job always has its summary (same transaction); seeing one without
            // means the summary row was deleted by hand, which reads as "not there yet".
            status => SummaryLookup::Pending {
                job_id: job.job_id,
                status,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use pollster::block_on;

    use super::*;
    use crate::store::fixtures::*;

    #[test]
    fn only_the_lease_holder_can_finish_and_finishing_twice_is_a_no_op() {
        let (store, doc, job) = store_with_job();
        block_on(store.acquire_lease(&job, "a", T0, LEASE)).unwrap();
        assert!(
            !block_on(store.complete(&job, "intruder", &completion("x"), &NO_USAGE, T0)).unwrap()
        );
        assert!(block_on(store.complete(&job, "a", &completion("first"), &NO_USAGE, T0)).unwrap());
        assert!(
            !block_on(store.complete(&job, "a", &completion("second"), &NO_USAGE, T0)).unwrap()
        );
        assert!(!block_on(store.fail(&job, "a", "late failure", &NO_USAGE, T0)).unwrap());

        let row = block_on(store.job(&tenant(), &job)).unwrap().unwrap();
        assert_eq!(row.status, JobStatus::Succeeded);
        assert_eq!(row.error, None);
        assert_eq!(
            store
                .database()
                .scalar_i64("SELECT COUNT(*) FROM summaries"),
            1
        );
        match block_on(store.latest_summary(&tenant(), &doc)).unwrap() {
            SummaryLookup::Ready(summary) => assert_eq!(summary.content.summary, "first"),
            other => panic!("expected a summary, got {other:?}"),
        }
    }

    #[test]
    fn a_lost_lease_cannot_store_a_summary() {
        let (store, _, job) = store_with_job();
        block_on(store.acquire_lease(&job, "slow", T0, LEASE)).unwrap();
        block_on(store.acquire_lease(&job, "fast", T0 + LEASE + 1, LEASE)).unwrap();
        assert!(
            block_on(store.complete(&job, "fast", &completion("fast"), &NO_USAGE, T0)).unwrap()
        );
        assert!(
            !block_on(store.complete(&job, "slow", &completion("slow"), &NO_USAGE, T0)).unwrap()
        );
        assert_eq!(
            store
                .database()
                .scalar_i64("SELECT COUNT(*) FROM summaries WHERE summary = 'slow'"),
            0
        );
    }

    #[test]
    fn summary_lookup_reports_pending_failed_and_missing() {
        let (store, doc, job) = store_with_job();
        assert_eq!(
            block_on(store.latest_summary(&tenant(), &doc)).unwrap(),
            SummaryLookup::Pending {
                job_id: job,
                status: JobStatus::Queued
            }
        );
        block_on(store.acquire_lease(&job, "a", T0, LEASE)).unwrap();
        block_on(store.fail(&job, "a", "not valid UTF-8", &NO_USAGE, T0)).unwrap();
        assert_eq!(
            block_on(store.latest_summary(&tenant(), &doc)).unwrap(),
            SummaryLookup::Failed {
                job_id: job,
                error: "not valid UTF-8".into()
            }
        );
        assert_eq!(
            block_on(store.latest_summary(&tenant(), &DocumentId::new())).unwrap(),
            SummaryLookup::NoSuchDocument
        );
    }
}
