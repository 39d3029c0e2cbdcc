//! R2 as a [`DocumentSource`].

use docpipe_jobs::DocumentId;
use docpipe_pipeline::process::{BlobError, DocumentSource, StoredDocument};
use worker::{Bucket, Range};

#[derive(Debug)]
pub struct R2Documents(pub Bucket);

impl DocumentSource for R2Documents {
    async fn fetch(
        &self,
        id: &DocumentId,
        max_bytes: u64,
    ) -> Result<Option<StoredDocument>, BlobError> {
        let object = self
            .0
            .get(id.object_key())
            .range(Range::Prefix { length: max_bytes })
            .execute()
            .await
            .map_err(|e| BlobError(e.to_string()))?;
        let Some(object) = object else {
            return Ok(None);
        };
        let size = object.size();
        let content_type = object.http_metadata().content_type;
        let bytes = match object.body() {
            Some(body) => body.bytes().await.map_err(|e| BlobError(e.to_string()))?,
            None => Vec::new(),
        };
        Ok(Some(StoredDocument {
            bytes,
            content_type,
            size,
        }))
    }
}
