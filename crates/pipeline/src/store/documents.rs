//! Documents as their owners see them.

use docpipe_jobs::DocumentId;
use serde::{Deserialize, Serialize};

use super::Store;
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
