//! Documents as their owners see them.

use docpipe_jobs::DocumentId;
use serde::{Deserialize, Serialize};

use super::{Store, webhooks};
use crate::auth::TenantId;
use crate::db::{DbError, Statement};
use crate::ports::Database;
use crate::time::Timestamp;

/// A document's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentRow {
    #[serde(rename(serialize = "document_id"))]
    pub id: DocumentId,
    pub filename: Option<String>,
    pub content_type: String,
    pub size_bytes: u64,
    pub sha256: Option<String>,
    pub created_at: Timestamp,
    /// Where the bytes are; not shown by the API.
    #[serde(skip_serializing)]
    pub object_key: String,
}

impl<D: Database> Store<D> {
    /// The tenant's document.
    pub async fn document(
        &self,
        tenant: &TenantId,
        id: &DocumentId,
    ) -> Result<Option<DocumentRow>, DbError> {
        let rows = self
            .db
            .query(Statement::new(
                "SELECT id, filename, content_type, size_bytes, sha256, created_at, object_key \
                 FROM documents WHERE id = ?1 AND tenant_id = ?2",
                vec![id.into(), tenant.as_str().into()],
            ))
            .await?;
        Ok(rows.into_iter().next())
    }
}

/// A document as a listing shows it: its row, its latest job, the start of its summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentListItem {
    pub document_id: DocumentId,
    pub filename: Option<String>,
    pub content_type: String,
    pub size_bytes: u64,
    pub created_at: Timestamp,
    pub job_id: Option<docpipe_jobs::JobId>,
    pub status: Option<docpipe_jobs::JobStatus>,
    /// The first 200 characters of the latest summary.
    pub summary_start: Option<String>,
}

impl<D: Database> Store<D> {
    /// Deletes every row of the tenant's document: its search row, summaries, jobs, a pending fetch, its
    /// idempotency key, the document. Returns whether there was a document (or fetch) to delete.
    pub async fn delete_document(
        &self,
        tenant: &TenantId,
        id: &DocumentId,
    ) -> Result<bool, DbError> {
        let params = || vec![id.into(), tenant.as_str().into()];
        let mut statements = webhooks::forget_document(id, tenant);
        statements.extend([
            Statement::new(
                "DELETE FROM search_index WHERE rowid = \
                     (SELECT rowid FROM documents WHERE id = ?1 AND tenant_id = ?2)",
                params(),
            ),
            Statement::new(
                "DELETE FROM summaries WHERE document_id = ?1 AND tenant_id = ?2",
                params(),
            ),
            Statement::new(
                "DELETE FROM idempotency_keys WHERE document_id = ?1 AND tenant_id = ?2",
                params(),
            ),
            Statement::new(
                "DELETE FROM jobs WHERE document_id = ?1 AND tenant_id = ?2",
                params(),
            ),
            Statement::new(
                "DELETE FROM fetches WHERE document_id = ?1 AND tenant_id = ?2",
                params(),
            ),
            Statement::new(
                "DELETE FROM documents WHERE id = ?1 AND tenant_id = ?2",
                params(),
            ),
        ]);
        let changes = self.db.batch(statements).await?;
        Ok(changes.iter().rev().take(2).any(|&n| n > 0))
    }

    /// A page of the tenant's documents, newest first: at most `query.limit + 1` items, so
    /// the caller can tell whether another page follows.
    pub async fn list_documents(
        &self,
        tenant: &TenantId,
        query: &crate::listing::ListQuery,
    ) -> Result<Vec<DocumentListItem>, DbError> {
        self.db
            .query(Statement::new(
                "SELECT d.id AS document_id, d.filename, d.content_type, d.size_bytes, \
                 d.created_at, j.id AS job_id, j.status, \
                 (SELECT substr(s.summary, 1, 200) FROM summaries s WHERE s.job_id = j.id) \
                 AS summary_start \
                 FROM documents d LEFT JOIN jobs j ON j.id = \
                 (SELECT id FROM jobs WHERE document_id = d.id ORDER BY id DESC LIMIT 1) \
                 WHERE d.tenant_id = ?1 AND (?2 IS NULL OR d.id < ?2) \
                 AND (?3 IS NULL OR j.status = ?3) \
                 AND (?4 IS NULL OR d.created_at >= ?4) AND (?5 IS NULL OR d.created_at < ?5) \
                 AND (?6 IS NULL OR d.content_type = ?6 OR d.content_type LIKE ?6 || ';%') \
                 AND (?7 IS NULL OR substr(d.filename, 1, length(?7)) = ?7) \
                 ORDER BY d.id DESC LIMIT ?8",
                vec![
                    tenant.as_str().into(),
                    query.before.clone().into(),
                    query.status.map(|s| s.as_str()).into(),
                    query.created_after.clone().into(),
                    query.created_before.clone().into(),
                    query.content_type.clone().into(),
                    query.filename_prefix.clone().into(),
                    (query.limit + 1).into(),
                ],
            ))
            .await
    }
}

#[cfg(test)]
mod tests {
    use pollster::block_on;

    use super::*;
    use crate::listing::{ListQuery, page};
    use crate::sqlite::Sqlite;
    use crate::store::NewDocument;
    use crate::store::fixtures::*;

    fn add(store: &Store<Sqlite>, filename: &str, content_type: &str) -> DocumentId {
        let id = DocumentId::new();
        let doc = NewDocument {
            filename: Some(filename.into()),
            content_type: content_type.into(),
            ..document(id)
        };
        begin(store, &doc);
        assert!(block_on(store.create_document(&doc, &docpipe_jobs::JobId::new(), T0)).unwrap());
        id
    }

    #[test]
    fn pages_run_newest_first_and_new_documents_do_not_shift_them() {
        let store = Store::new(Sqlite::migrated());
        let ids: Vec<DocumentId> = (0..7)
            .map(|i| add(&store, &format!("report-{i}.txt"), "text/plain"))
            .collect();
        let mut query = ListQuery {
            limit: 3,
            ..ListQuery::default()
        };
        let mut seen = Vec::new();
        loop {
            let rows = block_on(store.list_documents(&tenant(), &query)).unwrap();
            let (items, next) = page(rows, query.limit, |d| d.document_id.to_string());
            seen.extend(items.iter().map(|d| d.document_id));
            // A document added while paging belongs to a newer listing.
            add(&store, "late.txt", "text/plain");
            let Some(cursor) = next else { break };
            query = crate::listing::parse(
                &[("limit".into(), "3".into()), ("cursor".into(), cursor)],
                true,
            )
            .unwrap();
        }
        let newest_first: Vec<DocumentId> = ids.iter().rev().copied().collect();
        assert_eq!(seen, newest_first);
        let first = block_on(store.list_documents(
            &tenant(),
            &ListQuery {
                limit: 100,
                ..ListQuery::default()
            },
        ))
        .unwrap();
        assert_eq!(first[0].status, Some(docpipe_jobs::JobStatus::Queued));
    }

    #[test]
    fn filters_narrow_the_listing_and_other_tenants_see_nothing() {
        let store = Store::new(Sqlite::migrated());
        add(&store, "report.pdf", "application/pdf");
        add(&store, "notes.txt", "text/plain; charset=utf-8");
        let list = |query: ListQuery| {
            block_on(store.list_documents(&tenant(), &ListQuery { limit: 10, ..query }))
                .unwrap()
                .into_iter()
                .map(|d| d.filename.unwrap_or_default())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            list(ListQuery {
                content_type: Some("text/plain".into()),
                ..ListQuery::default()
            }),
            ["notes.txt"]
        );
        assert_eq!(
            list(ListQuery {
                filename_prefix: Some("rep".into()),
                ..ListQuery::default()
            }),
            ["report.pdf"]
        );
        assert!(
            list(ListQuery {
                filename_prefix: Some("%".into()),
                ..ListQuery::default()
            })
            .is_empty()
        );
        let other = TenantId::parse("other").unwrap();
        assert!(
            block_on(store.list_documents(
                &other,
                &ListQuery {
                    limit: 10,
                    ..ListQuery::default()
                }
            ))
            .unwrap()
            .is_empty()
        );
    }

    #[test]
    fn deleting_a_document_removes_every_row_once_and_only_the_owners() {
        let store = Store::new(Sqlite::migrated());
        let id = add(&store, "report.txt", "text/plain");
        let other = TenantId::parse("other").unwrap();
        assert_eq!(block_on(store.delete_document(&other, &id)), Ok(false));
        assert_eq!(block_on(store.delete_document(&tenant(), &id)), Ok(true));
        assert_eq!(block_on(store.delete_document(&tenant(), &id)), Ok(false));
        let db = store.database();
        for table in ["documents", "jobs", "summaries", "uploads"] {
            assert_eq!(
                db.scalar_i64(&format!("SELECT COUNT(*) FROM {table}")),
                0,
                "{table}"
            );
        }
    }
}
