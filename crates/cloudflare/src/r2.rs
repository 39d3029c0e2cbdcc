//! R2 as the pipeline's object ports: the upload sink, multipart parts of resumable uploads,
//! the document source, the sweep's deleter.

use std::collections::HashMap;

use docpipe_pipeline::objects::text_key;
use docpipe_pipeline::ports::{
    BlobError, BodyLength, DocumentSource, Markdown, MultipartStore, ObjectDeleter, SinkError,
    Stored, StoredDocument, UploadSink,
};
use docpipe_pipeline::text::{
    Format, HAS_MARKDOWN, MARKDOWN_BESIDE, MARKDOWN_IS_DOCUMENT, markdown_key,
};
use web_sys::ReadableStream;
use worker::{Bucket, HttpMetadata, Range, UploadedPart};

use crate::stream::{PartTarget, hash_only, hash_unsized, put_hashed, put_part, put_unsized};

/// R2 as an [`UploadSink`]: request bodies stream in, never buffered. A body that sends
/// nothing for `stall_ms` fails.
#[derive(Debug)]
pub struct R2Uploads {
    pub bucket: Bucket,
    pub stall_ms: u64,
}

impl UploadSink for R2Uploads {
    type Body = ReadableStream;

    async fn put_hashed(
        &self,
        key: &str,
        body: ReadableStream,
        length: BodyLength,
        content_type: &str,
        commit: impl Future<Output = bool>,
    ) -> Result<Stored, SinkError> {
        let (bucket, stall) = (&self.bucket, self.stall_ms);
        match length {
            BodyLength::Exactly(length) => {
                put_hashed(bucket, key, body, length, content_type, stall, commit).await
            }
            BodyLength::AtMost(max) => {
                if !commit.await {
                    return Err(SinkError::Abandoned);
                }
                put_unsized(bucket, key, body, max, content_type, stall).await
            }
        }
    }

    async fn hash_only(
        &self,
        body: ReadableStream,
        length: BodyLength,
    ) -> Result<Stored, SinkError> {
        match length {
            BodyLength::Exactly(length) => hash_only(body, length, self.stall_ms).await,
            BodyLength::AtMost(max) => hash_unsized(body, max, self.stall_ms).await,
        }
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.bucket
            .delete(key)
            .await
            .map_err(|e| BlobError(e.to_string()))
    }
}

impl MultipartStore for R2Uploads {
    type Body = ReadableStream;

    async fn begin(&self, key: &str, content_type: &str) -> Result<String, BlobError> {
        let metadata = HttpMetadata {
            content_type: Some(content_type.to_owned()),
            ..HttpMetadata::default()
        };
        crate::usage::r2_class_a(1);
        let upload = self
            .bucket
            .create_multipart_upload(key)
            .http_metadata(metadata)
            .execute()
            .await
            .map_err(|e| BlobError(e.to_string()))?;
        Ok(upload.upload_id().await)
    }

    async fn put_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u16,
        body: ReadableStream,
        length: u64,
        digest: Option<&'static str>,
    ) -> Result<(String, Option<Vec<u8>>), SinkError> {
        let part = PartTarget {
            key,
            upload_id,
            number,
        };
        put_part(&self.bucket, &part, body, length, digest, self.stall_ms).await
    }

    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u16, String)],
    ) -> Result<(), BlobError> {
        let upload = self
            .bucket
            .resume_multipart_upload(key, upload_id)
            .map_err(|e| BlobError(e.to_string()))?;
        let parts = parts
            .iter()
            .map(|(number, etag)| UploadedPart::new(*number, etag.clone()))
            .collect::<Vec<_>>();
        crate::usage::r2_class_a(1);
        upload
            .complete(parts)
            .await
            .map(drop)
            .map_err(|e| BlobError(e.to_string()))
    }

    async fn abort(&self, key: &str, upload_id: &str) -> Result<(), BlobError> {
        let upload = self
            .bucket
            .resume_multipart_upload(key, upload_id)
            .map_err(|e| BlobError(e.to_string()))?;
        upload.abort().await.map_err(|e| BlobError(e.to_string()))
    }
}

#[derive(Debug)]
pub struct R2Documents(pub Bucket);

impl DocumentSource for R2Documents {
    async fn fetch(
        &self,
        object_key: &str,
        max_bytes: u64,
    ) -> Result<Option<StoredDocument>, BlobError> {
        crate::usage::r2_class_b(1, 0);
        let object = self
            .0
            .get(object_key)
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
        crate::usage::r2_class_b(0, bytes.len() as u64);
        Ok(Some(StoredDocument {
            bytes,
            content_type,
            size,
        }))
    }

    async fn put_text(
        &self,
        object_key: &str,
        text: &str,
        markdown: Markdown<'_>,
    ) -> Result<(), BlobError> {
        let put = |key: String, body: &str, content_type: &str, says: Option<&str>| {
            crate::usage::r2_class_a(1);
            let metadata: HashMap<String, String> = says
                .map(|value| HashMap::from([(HAS_MARKDOWN.to_owned(), value.to_owned())]))
                .unwrap_or_default();
            self.0
                .put(key, body.to_owned())
                .http_metadata(HttpMetadata {
                    content_type: Some(content_type.into()),
                    ..HttpMetadata::default()
                })
                .custom_metadata(metadata)
                .execute()
        };
        let says = match markdown {
            Markdown::Text => None,
            Markdown::Own(_) => Some(MARKDOWN_BESIDE),
            Markdown::Document => Some(MARKDOWN_IS_DOCUMENT),
        };
        let text = put(
            text_key(object_key),
            text,
            Format::Plain.content_type(),
            says,
        );
        let result = match markdown {
            // Both at once; the text says the Markdown is there only once both are stored
            // (a failure of either fails the job's attempt, and the next one writes both).
            Markdown::Own(markdown) => {
                let markdown = put(
                    markdown_key(object_key),
                    markdown,
                    Format::Markdown.content_type(),
                    None,
                );
                let (text, markdown) = futures_util::future::join(text, markdown).await;
                text.and(markdown)
            }
            Markdown::Text | Markdown::Document => text.await,
        };
        result.map(|_| ()).map_err(|e| BlobError(e.to_string()))
    }

    async fn delete_text(&self, object_key: &str) -> Result<(), BlobError> {
        self.0
            .delete_multiple(vec![text_key(object_key), markdown_key(object_key)])
            .await
            .map_err(|e| BlobError(e.to_string()))
    }
}

/// R2 as an [`ObjectDeleter`].
#[derive(Debug)]
pub struct R2Objects(pub Bucket);

impl ObjectDeleter for R2Objects {
    async fn delete(&self, keys: &[String]) -> Result<(), BlobError> {
        // R2 deletes up to 1000 keys per call.
        for batch in keys.chunks(1_000) {
            self.0
                .delete_multiple(batch.to_vec())
                .await
                .map_err(|e| BlobError(e.to_string()))?;
        }
        Ok(())
    }
}
