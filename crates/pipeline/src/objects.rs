//! Where documents live in R2: under their tenant's prefix, with the extracted text beside the
//! original. Documents stored before tenants existed keep their old keys (`documents/{id}`);
//! the key is always read from the document's row, never rebuilt from its id.

use docpipe_jobs::DocumentId;

use crate::auth::TenantId;

/// The key of a new document's original bytes.
pub fn document_key(tenant: &TenantId, document: &DocumentId) -> String {
    format!("{}documents/{document}", tenant.object_prefix())
}

/// The key of the text extracted from the document stored at `object_key`.
pub fn text_key(object_key: &str) -> String {
    format!("{object_key}.txt")
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
}
