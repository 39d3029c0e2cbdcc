//! Where documents live in R2: under their tenant's prefix, with the extracted text beside the
//! original. Documents stored before tenants existed keep their old keys (`documents/{id}`);
//! the key is read from the document's row, and rebuilt from its id only once the row is gone.
//! Removing a document, rows and objects.

use docpipe_jobs::DocumentId;

use crate::auth::TenantId;
use crate::db::DbError;
use crate::ports::{BlobError, Database, ObjectDeleter};
use crate::store::Store;

/// The key of a new document's original bytes.
pub fn document_key(tenant: &TenantId, document: &DocumentId) -> String {
    format!("{}documents/{document}", tenant.object_prefix())
}

/// The key of the text extracted from the document stored at `object_key`.
pub fn text_key(object_key: &str) -> String {
    format!("{object_key}.txt")
}

/// Why a document was not removed completely; removing it again finishes the job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoveError {
    #[error("deleting its rows: {0}")]
    Rows(DbError),
    #[error("deleting its objects: {0}")]
    Objects(BlobError),
}

/// Removes the tenant's document (`DELETE /v1/documents/{id}`, retention): its rows first, so
/// a job running on it stores nothing, then its original and extracted text at the key its
/// row names. When the row is already gone (removing again after the objects failed), the key
/// is the one its id gives. Returns whether there was a row.
pub async fn remove_document<D: Database>(
    store: &Store<D>,
    objects: &impl ObjectDeleter,
    tenant: &TenantId,
    id: &DocumentId,
) -> Result<bool, RemoveError> {
    let row = store
        .document(tenant, id)
        .await
        .map_err(RemoveError::Rows)?;
    let existed = store
        .delete_document(tenant, id)
        .await
        .map_err(RemoveError::Rows)?;
    let key = row.map_or_else(|| document_key(tenant, id), |row| row.object_key);
    objects
        .delete(&[text_key(&key), crate::text::markdown_key(&key), key])
        .await
        .map_err(RemoveError::Objects)?;
    Ok(existed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_live_under_their_tenant_and_text_beside_them() {
        let tenant = TenantId::parse("acme").unwrap();
        let id = DocumentId::parse("01936b2e-1e6f-7c3a-9d4b-5e6f7a8b9c0d").unwrap();
        let key = document_key(&tenant, &id);
        assert_eq!(
            key,
            "tenants/acme/documents/01936b2e-1e6f-7c3a-9d4b-5e6f7a8b9c0d"
        );
        assert_eq!(text_key(&key), format!("{key}.txt"));
        assert_eq!(
            text_key("documents/x"),
            "documents/x.txt",
            "old keys keep working"
        );
    }

    #[test]
    fn a_document_under_an_old_key_is_removed_with_its_text() {
        use pollster::block_on;

        use crate::sqlite::Sqlite;
        use crate::store::fixtures::{document, tenant, upload};
        use crate::testing::MemoryObjects;

        let store = Store::new(Sqlite::migrated());
        let id = DocumentId::new();
        let old = crate::store::NewDocument {
            object_key: format!("documents/{id}"),
            ..document(id)
        };
        assert_eq!(upload(&store, &old, &docpipe_jobs::JobId::new()), Ok(true));
        let objects = MemoryObjects::default();
        objects.insert(old.object_key.clone(), b"x", "text/plain");
        objects.insert(text_key(&old.object_key), b"x", "text/plain");
        assert_eq!(
            block_on(remove_document(&store, &objects, &tenant(), &id)),
            Ok(true)
        );
        assert!(objects.keys().is_empty(), "{:?}", objects.keys());
        assert_eq!(
            block_on(remove_document(&store, &objects, &tenant(), &id)),
            Ok(false)
        );
    }
}
