//! The ports: every trait through which the pipeline reaches the platform. The Workers
//! implement them over D1, R2, Queues and the runtime's clock (`docpipe-cloudflare`); tests
//! implement them in memory, over SQLite, or with faults injected.

use docpipe_jobs::{DeliveryMessage, JobMessage};
use serde::de::DeserializeOwned;

use crate::db::{DbError, Statement};
use crate::time::Millis;

/// Runs statements. Implemented over D1 by the Workers and over SQLite by the tests.
pub trait Database {
    /// Runs one statement and returns how many rows it changed.
    async fn execute(&self, statement: Statement) -> Result<u64, DbError>;

    /// Runs one statement and returns its rows (including `RETURNING` rows).
    async fn query<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, DbError>;

    /// Runs statements as one transaction and returns each one's changed-row count.
    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<u64>, DbError>;

    /// Runs statements as one transaction and returns the last one's rows.
    async fn batch_query<T: DeserializeOwned>(
        &self,
        statements: Vec<Statement>,
    ) -> Result<Vec<T>, DbError>;
}

/// Where the pipeline gets the current time and randomness from.
pub trait Clock {
    fn now_ms(&self) -> Millis;
    /// A uniformly random number in `[0, 1)`, for retry jitter.
    fn random_unit(&self) -> f64;
    /// Waits `ms` milliseconds.
    async fn sleep(&self, ms: u64);
}

/// Object storage failed; worth retrying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("object storage error: {0}")]
pub struct BlobError(pub String);

/// A document as stored, with the content type recorded at upload: all of its bytes, or its
/// first `max_bytes` when it is larger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    /// The whole document's size; more than `bytes.len()` when only a prefix was read.
    pub size: u64,
}

/// Where documents are read from, and their extracted text kept (R2 in the Worker).
pub trait DocumentSource {
    /// Reads at most `max_bytes` of the document at `object_key`; `None` when it does not
    /// exist.
    async fn fetch(
        &self,
        object_key: &str,
        max_bytes: u64,
    ) -> Result<Option<StoredDocument>, BlobError>;

    /// Stores the text extracted from the document at `object_key` next to it, and its
    /// Markdown when it has one of its own (the text object says which, in its
    /// [`crate::text::HAS_MARKDOWN`] metadata).
    async fn put_text(
        &self,
        object_key: &str,
        text: &str,
        markdown: Markdown<'_>,
    ) -> Result<(), BlobError>;

    /// Deletes that text and Markdown (its document was deleted while its job ran).
    async fn delete_text(&self, object_key: &str) -> Result<(), BlobError>;
}

/// A document a converter read: its Markdown, and the tokens that took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    pub markdown: String,
    pub tokens: u64,
}

/// A converter could not read a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConvertError {
    pub message: String,
    /// Whether a later attempt may succeed (the service was busy or did not answer).
    pub transient: bool,
}

/// Reads what docpipe cannot (images, PDFs of scanned pages) into Markdown: Workers AI's
/// `toMarkdown` in the Worker, which bills images (a vision model reads them).
pub trait Converter {
    /// The Markdown of the document `bytes`, named `name` (its extension tells the format).
    async fn to_markdown(&self, name: &str, bytes: &[u8]) -> Result<Converted, ConvertError>;
}

/// No converter: for processors that have none.
#[derive(Debug, Clone, Copy)]
pub enum NoConverter {}

impl Converter for NoConverter {
    async fn to_markdown(&self, _name: &str, _bytes: &[u8]) -> Result<Converted, ConvertError> {
        match *self {}
    }
}

/// Where a document's Markdown is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markdown<'a> {
    /// Its text reads the same as Markdown.
    Text,
    /// Its own, kept beside the text.
    Own(&'a str),
    /// The document itself (a Markdown document).
    Document,
}

/// Deleting objects (R2 in the Worker).
pub trait ObjectDeleter {
    async fn delete(&self, keys: &[String]) -> Result<(), BlobError>;
}

/// Sending to the jobs queue failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("queue send failed: {0}")]
pub struct QueueError(pub String);

/// The jobs queue (a Queue producer binding in the Worker).
pub trait JobQueue {
    /// Sends one message.
    async fn send(&self, message: &JobMessage) -> Result<(), QueueError>;
    /// Sends up to 100 messages at once.
    async fn send_batch(&self, messages: &[JobMessage]) -> Result<(), QueueError>;
}

/// Why streaming an upload's body into storage failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The body could not be read to its declared end: the client went away, or sent a
    /// different number of bytes than it declared.
    #[error("reading the body failed: {0}")]
    Body(String),
    /// No byte of the body arrived for this long.
    #[error("the body stalled: no bytes for {seconds} s")]
    Stalled { seconds: u64 },
    /// Storage refused or failed the write.
    #[error("storing the body failed: {0}")]
    Storage(String),
    /// The put was called off before its object was stored; nothing was kept.
    #[error("the upload was called off before it was stored")]
    Abandoned,
    /// A body of unknown length went past its limit; nothing was kept.
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: u64 },
}

/// How long a body is: declared by `Content-Length`, or unknown (chunked) up to a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLength {
    Exactly(u64),
    AtMost(u64),
}

/// An upload's body as stored: its size and SHA-256 (lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub size: u64,
    pub sha256: String,
}

/// Where upload bodies go (R2 in the Worker). The body is the adapter's own type (a stream in
/// the Worker): the pipeline decides what happens to it but never holds a document's bytes.
pub trait UploadSink {
    type Body;

    /// Streams `body` to `key`, hashing it on the way: exactly its declared length, or, when
    /// its length is unknown, all of it unless it goes past the limit ([`SinkError::TooLarge`],
    /// nothing kept). The object comes to exist only after `commit` resolved to `true`: the
    /// body's last bytes wait for it (a body of unknown length, its first), so what must be
    /// recorded before the object exists can be written while the body streams. When `commit`
    /// resolves to `false`, nothing is kept and the put fails with [`SinkError::Abandoned`].
    async fn put_hashed(
        &self,
        key: &str,
        body: Self::Body,
        length: BodyLength,
        content_type: &str,
        commit: impl Future<Output = bool>,
    ) -> Result<Stored, SinkError>;

    /// Reads `body` as [`Self::put_hashed`] would, keeps nothing, and returns its size and
    /// SHA-256.
    async fn hash_only(&self, body: Self::Body, length: BodyLength) -> Result<Stored, SinkError>;

    /// Deletes the object at `key`, if there is one.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
}

/// A document's origin answered, before its body is read.
#[derive(Debug)]
pub struct OriginResponse<B> {
    pub status: u16,
    pub location: Option<String>,
    pub content_type: Option<String>,
    pub content_disposition: Option<String>,
    pub content_length: Option<u64>,
    pub body: Option<B>,
}

/// The origin could not be reached, or broke off before answering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OriginError(pub String);

/// Where documents named by URL come from (the Worker's `fetch`). Redirects are answered, not
/// followed: the pipeline checks each target before it goes there.
pub trait Origin {
    type Body;
    async fn get(&self, url: &str) -> Result<OriginResponse<Self::Body>, OriginError>;
}

/// Objects assembled from parts across requests (R2 multipart uploads), for resumable uploads.
pub trait MultipartStore {
    type Body;
    /// Starts an object at `key`; returns the multipart upload's id.
    async fn begin(&self, key: &str, content_type: &str) -> Result<String, BlobError>;
    /// Streams exactly `length` bytes of `body` as part `number`; returns its etag, and the
    /// body's digest under `digest` (a Web Crypto name: `SHA-1`, `SHA-256`) when asked.
    async fn put_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u16,
        body: Self::Body,
        length: u64,
        digest: Option<&'static str>,
    ) -> Result<(String, Option<Vec<u8>>), SinkError>;
    /// Makes the object from its parts, in order.
    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u16, String)],
    ) -> Result<(), BlobError>;
    /// Drops the parts of an upload that will not be completed.
    async fn abort(&self, key: &str, upload_id: &str) -> Result<(), BlobError>;
}

/// The webhooks queue (a Queue producer binding in the Workers).
pub trait DeliveryQueue {
    /// Sends up to 100 messages at once.
    async fn send_batch(&self, messages: &[DeliveryMessage]) -> Result<(), QueueError>;
}

/// Posting a signed event to a receiver (the Worker's `fetch`). Redirects are not followed.
pub trait WebhookSender {
    /// POSTs `body` as JSON with `headers`; the receiver's HTTP status, or why none came
    /// within `timeout_ms`.
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: String,
        timeout_ms: u64,
    ) -> Result<u16, OriginError>;
}
