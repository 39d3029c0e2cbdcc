//! Rows and states shared by the store's tests.

use docpipe_docproc::summarize::Usage;
use docpipe_jobs::{DocumentId, JobId, RequestId};
use pollster::block_on;

use super::{Completion, LeaseOutcome, LeasedJob, NewDocument, NewUpload, Store, SummaryContent};
use crate::auth::TenantId;
use crate::db::DbError;
use crate::objects::document_key;
use crate::ports::Database;
use crate::quota::Quotas;
use crate::sqlite::Sqlite;
use crate::time::Millis;

pub const T0: Millis = 1_795_381_560_000;
pub const LEASE: i64 = 60_000;
pub const NO_USAGE: Usage = Usage {
    model: None,
    calls: 0,
    input_tokens: 0,
    output_tokens: 0,
    cost_usd: None,
};

/// The tenant the fixtures' rows belong to.
pub fn tenant() -> TenantId {
    TenantId::default_tenant()
}

pub fn document(id: DocumentId) -> NewDocument {
    NewDocument {
        id,
        tenant: tenant(),
        object_key: document_key(&tenant(), &id),
        filename: Some("notes.md".into()),
        content_type: "text/markdown".into(),
        size_bytes: 42,
        sha256: None,
        idempotency_key: None,
        request_id: RequestId::parse("req-1").unwrap(),
        upload_ms: Some(3),
        source_url: None,
        callback_url: None,
    }
}

pub fn completion(summary: &str) -> Completion {
    Completion {
        content: SummaryContent {
            summary: summary.into(),
            backend: "extractive".into(),
            model: None,
            fallback_from: None,
            fallback_reason: None,
            input_chars: 42,
            truncated: false,
            source_type: Some("text/plain".into()),
            notes: Vec::new(),
            text_offset: None,
            text_bytes: None,
        },
        search_text: format!("The text of: {summary}"),
        fetch_ms: 4,
        extract_ms: 1,
        summarize_ms: 2,
        lease_write_ms: 3,
    }
}

/// The upload of `doc`, as `begin_upload` takes it.
pub fn new_upload(doc: &NewDocument) -> NewUpload {
    NewUpload {
        tenant: doc.tenant.clone(),
        document: doc.id,
        object_key: doc.object_key.clone(),
        request_id: doc.request_id.clone(),
        size: doc.size_bytes,
    }
}

/// Begins the upload of `doc` within the default quotas, which it must fit.
pub fn begin<D: Database>(store: &Store<D>, doc: &NewDocument) {
    let admitted = block_on(store.begin_upload(&new_upload(doc), &Quotas::default(), T0));
    assert_eq!(admitted, Ok(Ok(())));
}

pub fn upload(store: &Store<Sqlite>, doc: &NewDocument, job: &JobId) -> Result<bool, DbError> {
    begin(store, doc);
    block_on(store.create_document(doc, job, T0))
}

/// The lease an outcome granted.
pub fn leased(outcome: LeaseOutcome) -> LeasedJob {
    match outcome {
        LeaseOutcome::Acquired(leased) => leased,
        other => panic!("expected a lease, got {other:?}"),
    }
}

pub fn store_with_job() -> (Store<Sqlite>, DocumentId, JobId) {
    let store = Store::new(Sqlite::migrated());
    let (doc, job) = (DocumentId::new(), JobId::new());
    assert_eq!(upload(&store, &document(doc), &job), Ok(true));
    (store, doc, job)
}
