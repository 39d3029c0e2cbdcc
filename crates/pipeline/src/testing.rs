//! In-memory ports for the pipeline's tests, with faults on request: an object store that is
//! also the upload sink and the document source, and a queue that records what it is sent.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use docpipe_docproc::summarize::Usage;
use docpipe_docproc::{ExtractiveSummarizer, SummarizeError, Summarizer, Summary, SummaryOptions};
use docpipe_jobs::{DocumentId, JobId, JobMessage, JobStatus, RequestId};
use pollster::block_on;
use sha2::{Digest, Sha256};

use crate::budget::MemoryBudget;
use crate::config::SummarizerConfig;
use crate::objects::{document_key, text_key};
use crate::ports::{
    BlobError, BodyLength, ConvertError, Converted, Converter, Database, DocumentSource, JobQueue,
    Markdown, ObjectDeleter, QueueError, SinkError, Stored, StoredDocument, UploadSink,
};
use crate::process::{Outcome, Processor};
use crate::sqlite::{ManualClock, ShakyWrites, Sqlite};
use crate::store::fixtures::{self, T0};
use crate::store::{NewDocument, Store};
use crate::text::markdown_key;

/// A request body: its bytes, and where the client stops sending, if it does.
#[derive(Debug, Clone)]
pub struct TestBody {
    pub bytes: Vec<u8>,
    pub breaks_after: Option<usize>,
}

impl TestBody {
    pub fn whole(bytes: &[u8]) -> Self {
        Self {
            bytes: bytes.to_vec(),
            breaks_after: None,
        }
    }

    /// The bytes a reader gets before the body ends or breaks.
    fn read(&self, length: BodyLength) -> Result<&[u8], SinkError> {
        if let Some(at) = self.breaks_after {
            return Err(SinkError::Body(format!("body ended after {at} bytes")));
        }
        let size = self.bytes.len() as u64;
        match length {
            BodyLength::Exactly(length) if size != length => Err(SinkError::Body(format!(
                "body is {size} bytes, declared {length}"
            ))),
            BodyLength::AtMost(limit) if size > limit => Err(SinkError::TooLarge { limit }),
            _ => Ok(&self.bytes),
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An object with its content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
}

/// Objects by key.
#[derive(Debug, Default)]
pub struct MemoryObjects {
    pub objects: RefCell<BTreeMap<String, Object>>,
    /// Puts fail as a storage outage would.
    pub fail_puts: Cell<bool>,
    /// Puts report this size instead of the real one.
    pub misreport_size: Cell<Option<u64>>,
    /// Bodies read by `hash_only`.
    pub hashed: Cell<usize>,
    /// Calls to `delete_text`.
    pub text_deletes: Cell<usize>,
}

impl MemoryObjects {
    pub fn insert(&self, key: String, bytes: &[u8], content_type: &str) {
        self.objects.borrow_mut().insert(
            key,
            Object {
                bytes: bytes.to_vec(),
                content_type: Some(content_type.to_owned()),
            },
        );
    }

    pub fn keys(&self) -> Vec<String> {
        self.objects.borrow().keys().cloned().collect()
    }

    pub fn get(&self, key: &str) -> Option<Object> {
        self.objects.borrow().get(key).cloned()
    }

    pub fn clear(&self) {
        self.objects.borrow_mut().clear();
    }
}

impl UploadSink for MemoryObjects {
    type Body = TestBody;

    async fn put_hashed(
        &self,
        key: &str,
        body: TestBody,
        length: BodyLength,
        content_type: &str,
        commit: impl Future<Output = bool>,
    ) -> Result<Stored, SinkError> {
        if self.fail_puts.get() {
            return Err(SinkError::Storage("R2 is down".into()));
        }
        let bytes = body.read(length)?;
        // As R2 does: the whole body arrives only once `commit` says yes.
        if !commit.await {
            return Err(SinkError::Abandoned);
        }
        self.insert(key.to_owned(), bytes, content_type);
        Ok(Stored {
            size: self.misreport_size.get().unwrap_or(bytes.len() as u64),
            sha256: sha256_hex(bytes),
        })
    }

    async fn hash_only(&self, body: TestBody, length: BodyLength) -> Result<Stored, SinkError> {
        self.hashed.set(self.hashed.get() + 1);
        let bytes = body.read(length)?;
        Ok(Stored {
            size: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        })
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.objects.borrow_mut().remove(key);
        Ok(())
    }
}

/// Multipart uploads in memory: parts by upload id, completed into an object.
#[derive(Debug, Default)]
pub struct MemoryMultipart {
    pub objects: MemoryObjects,
    pub uploads: RefCell<BTreeMap<String, BTreeMap<u16, Vec<u8>>>>,
    pub aborted: RefCell<Vec<String>>,
    /// Completions fail as a storage outage would.
    pub fail_complete: Cell<bool>,
}

impl crate::ports::MultipartStore for MemoryMultipart {
    type Body = TestBody;

    async fn begin(&self, key: &str, _: &str) -> Result<String, BlobError> {
        let id = format!("mpu-{}-{key}", self.uploads.borrow().len());
        self.uploads
            .borrow_mut()
            .insert(id.clone(), BTreeMap::new());
        Ok(id)
    }

    async fn put_part(
        &self,
        _: &str,
        upload_id: &str,
        number: u16,
        body: TestBody,
        length: u64,
        digest: Option<&'static str>,
    ) -> Result<(String, Option<Vec<u8>>), SinkError> {
        let bytes = body.read(BodyLength::Exactly(length))?.to_vec();
        let digest = match digest {
            None => None,
            Some("SHA-256") => Some(Sha256::digest(&bytes).to_vec()),
            Some(other) => return Err(SinkError::Storage(format!("{other} is not in the fake"))),
        };
        let mut uploads = self.uploads.borrow_mut();
        let parts = uploads
            .get_mut(upload_id)
            .ok_or_else(|| SinkError::Storage("no such multipart upload".into()))?;
        parts.insert(number, bytes);
        Ok((format!("etag-{number}"), digest))
    }

    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u16, String)],
    ) -> Result<(), BlobError> {
        if self.fail_complete.get() {
            return Err(BlobError("R2 is down".into()));
        }
        let stored = self
            .uploads
            .borrow_mut()
            .remove(upload_id)
            .ok_or_else(|| BlobError("no such multipart upload".into()))?;
        let mut bytes = Vec::new();
        for (number, etag) in parts {
            if *etag != format!("etag-{number}") {
                return Err(BlobError(format!("part {number} has another etag")));
            }
            let part = stored
                .get(number)
                .ok_or_else(|| BlobError(format!("no part {number}")))?;
            bytes.extend_from_slice(part);
        }
        self.objects
            .insert(key.to_owned(), &bytes, "application/octet-stream");
        Ok(())
    }

    async fn abort(&self, _: &str, upload_id: &str) -> Result<(), BlobError> {
        self.uploads.borrow_mut().remove(upload_id);
        self.aborted.borrow_mut().push(upload_id.to_owned());
        Ok(())
    }
}

impl DocumentSource for MemoryObjects {
    async fn fetch(
        &self,
        object_key: &str,
        max_bytes: u64,
    ) -> Result<Option<StoredDocument>, BlobError> {
        Ok(self.get(object_key).map(|object| {
            let size = object.bytes.len() as u64;
            let mut bytes = object.bytes;
            bytes.truncate(usize::try_from(max_bytes).unwrap_or(usize::MAX));
            StoredDocument {
                bytes,
                content_type: object.content_type,
                size,
            }
        }))
    }

    async fn put_text(
        &self,
        object_key: &str,
        text: &str,
        markdown: Markdown<'_>,
    ) -> Result<(), BlobError> {
        // The Markdown beside the text is current only when the text says so; here, only
        // when it is there.
        match markdown {
            Markdown::Own(markdown) => self.insert(
                markdown_key(object_key),
                markdown.as_bytes(),
                "text/markdown; charset=utf-8",
            ),
            Markdown::Text | Markdown::Document => {
                self.objects.borrow_mut().remove(&markdown_key(object_key));
            }
        }
        self.insert(
            text_key(object_key),
            text.as_bytes(),
            "text/plain; charset=utf-8",
        );
        Ok(())
    }

    async fn delete_text(&self, object_key: &str) -> Result<(), BlobError> {
        self.text_deletes.set(self.text_deletes.get() + 1);
        let mut objects = self.objects.borrow_mut();
        objects.remove(&text_key(object_key));
        objects.remove(&markdown_key(object_key));
        Ok(())
    }
}

impl ObjectDeleter for MemoryObjects {
    async fn delete(&self, keys: &[String]) -> Result<(), BlobError> {
        let mut objects = self.objects.borrow_mut();
        for key in keys {
            objects.remove(key);
        }
        Ok(())
    }
}

/// A queue that records what it is sent, or fails when told to.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    pub sent: RefCell<Vec<JobMessage>>,
    pub fail: Cell<bool>,
}

impl JobQueue for MemoryQueue {
    async fn send(&self, message: &JobMessage) -> Result<(), QueueError> {
        self.send_batch(std::slice::from_ref(message)).await
    }

    async fn send_batch(&self, messages: &[JobMessage]) -> Result<(), QueueError> {
        assert!(
            messages.len() <= 100,
            "sendBatch takes at most 100 messages"
        );
        if self.fail.get() {
            return Err(QueueError("queue is down".into()));
        }
        self.sent.borrow_mut().extend_from_slice(messages);
        Ok(())
    }
}

/// A converter that gives the answers it is handed, in order, and notes the names it was
/// asked to read.
#[derive(Debug, Default)]
pub struct ScriptedConverter {
    pub answers: RefCell<Vec<Result<Converted, ConvertError>>>,
    pub names: RefCell<Vec<String>>,
}

impl Converter for ScriptedConverter {
    async fn to_markdown(&self, name: &str, _bytes: &[u8]) -> Result<Converted, ConvertError> {
        self.names.borrow_mut().push(name.to_owned());
        let mut answers = self.answers.borrow_mut();
        if answers.is_empty() {
            return Err(ConvertError {
                message: "no answer scripted".into(),
                transient: false,
            });
        }
        answers.remove(0)
    }
}

/// A database, documents, a clock and the summarizer config, for processing jobs.
pub struct ProcessFixture {
    pub store: Store<Sqlite>,
    pub documents: MemoryObjects,
    /// The converter the processor has, if any.
    pub converter: Option<ScriptedConverter>,
    pub clock: ManualClock,
    pub config: SummarizerConfig,
    pub memory: MemoryBudget,
}

impl ProcessFixture {
    pub fn new() -> Self {
        let mut config = SummarizerConfig::from_vars(|_| None).unwrap();
        config.retry.max_attempts = 3;
        Self {
            store: Store::new(Sqlite::migrated()),
            documents: MemoryObjects::default(),
            converter: None,
            clock: ManualClock(Cell::new(T0)),
            config,
            memory: MemoryBudget::new(1 << 30),
        }
    }

    pub fn upload(&mut self, bytes: &[u8], content_type: &str) -> JobMessage {
        let (doc, job) = (DocumentId::new(), JobId::new());
        let request = RequestId::parse("req-test").unwrap();
        let new = NewDocument {
            content_type: content_type.into(),
            size_bytes: bytes.len() as u64,
            request_id: request.clone(),
            ..fixtures::document(doc)
        };
        fixtures::begin(&self.store, &new);
        assert!(block_on(self.store.create_document(&new, &job, T0)).unwrap());
        self.documents.insert(new.object_key, bytes, content_type);
        JobMessage::new(job, doc, request)
    }

    /// Where the document's bytes are.
    pub fn object_key(&self, message: &JobMessage) -> String {
        document_key(&fixtures::tenant(), &message.document_id)
    }

    pub fn process<S: Summarizer>(
        &self,
        summarizer: &S,
        message: &JobMessage,
        lease: &str,
    ) -> Outcome {
        self.process_with(&self.store, summarizer, message, lease)
    }

    /// Moves the fixture's database behind one whose next `failures` transactions fail.
    pub fn shaky_store(&mut self, failures: u32) -> Store<ShakyWrites> {
        let db = std::mem::replace(self.store.database_mut(), Sqlite::migrated());
        Store::new(ShakyWrites::new(db, failures))
    }

    pub fn process_with<D: Database, S: Summarizer>(
        &self,
        store: &Store<D>,
        summarizer: &S,
        message: &JobMessage,
        lease: &str,
    ) -> Outcome {
        block_on(
            self.processor(store, summarizer)
                .process(message, crate::process::Lease::to_take(lease)),
        )
    }

    pub fn processor<'a, D, S>(
        &'a self,
        store: &'a Store<D>,
        summarizer: &'a S,
    ) -> Processor<'a, D, MemoryObjects, S, ManualClock, ScriptedConverter> {
        Processor {
            store,
            documents: &self.documents,
            summarizer,
            converter: self.converter.as_ref(),
            clock: &self.clock,
            config: &self.config,
            memory: &self.memory,
        }
    }

    pub fn status(&self, message: &JobMessage) -> (JobStatus, u32, Option<String>) {
        let row = block_on(self.store.job(&fixtures::tenant(), &message.job_id))
            .unwrap()
            .unwrap();
        (row.status, row.attempts, row.error)
    }

    pub fn summaries(&self) -> i64 {
        self.store
            .database()
            .scalar_i64("SELECT COUNT(*) FROM summaries")
    }
}

/// A summarizer for tests, scripted: each call counts as one model call (100 input tokens, a
/// cent); it fails transiently for its first `transient_failures` calls, or always with
/// `permanent_failure`; with `yield_first` it yields to the executor once (so concurrent jobs
/// interleave); otherwise it summarizes extractively.
#[derive(Debug, Default)]
pub struct Scripted {
    pub transient_failures: Cell<u32>,
    pub permanent_failure: Option<SummarizeError>,
    pub yield_first: bool,
}

impl Scripted {
    pub fn failing_transiently(calls: u32) -> Self {
        Self {
            transient_failures: Cell::new(calls),
            ..Self::default()
        }
    }
}

impl Summarizer for Scripted {
    async fn summarize(
        &self,
        text: &str,
        options: &SummaryOptions,
        usage: &mut Usage,
    ) -> Result<Summary, SummarizeError> {
        usage.add(&Usage {
            model: Some("test-model".into()),
            calls: 1,
            input_tokens: 100,
            output_tokens: 0,
            cost_usd: Some(0.01),
        });
        if self.yield_first {
            let mut yielded = false;
            std::future::poll_fn(|cx| {
                if yielded {
                    std::task::Poll::Ready(())
                } else {
                    yielded = true;
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                }
            })
            .await;
        }
        if let Some(failure) = &self.permanent_failure {
            return Err(failure.clone());
        }
        if self.transient_failures.get() > 0 {
            self.transient_failures
                .set(self.transient_failures.get() - 1);
            return Err(SummarizeError::Unavailable {
                backend: "test".into(),
                reason: "out of capacity".into(),
            });
        }
        ExtractiveSummarizer.summarize(text, options, usage).await
    }
}

/// A consumer that fetches nothing: every fetch is skipped.
pub struct NoFetching;

impl crate::fetch::FetchStage for NoFetching {
    async fn fetch(&self, _: &JobMessage) -> crate::fetch::Fetched {
        crate::fetch::Fetched::Skipped {
            reason: "fetching is not part of this test".into(),
        }
    }
}
