//! The HTTP API v1 as plain values: routes, errors and response bodies. The upload Worker
//! turns a request into a [`Route`], calls the matching operation, and turns the result or the
//! [`ApiError`] back into a response.
//!
//! Every error answers with JSON `{"error": {"code", "message"}}` (plus `request_id`); `code`
//! is stable and meant for programs, `message` is for people. Internal causes are logged, never
//! sent.

use docpipe_jobs::{DocumentId, IdError, JobId, JobStatus};
use serde::Serialize;
use serde_json::json;

use crate::auth::Scope;
use crate::quota::Quota;
use crate::store::{JobRow, SummaryLookup, SummaryRow};

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    CreateDocument,
    /// `GET /v1/documents`: the tenant's documents, newest first.
    ListDocuments,
    /// `GET /v1/jobs`: the tenant's jobs, newest first.
    ListJobs,
    /// `GET /v1/search?q=`: full-text search over the tenant's documents.
    Search,
    GetJob(JobId),
    GetSummary(DocumentId),
    GetText(DocumentId),
    GetDocument(DocumentId),
    /// `DELETE /v1/documents/{id}`: the document, its text, jobs and summaries.
    DeleteDocument(DocumentId),
    Reprocess(DocumentId),
    /// tus: `POST /v1/uploads` creates a resumable upload.
    CreateUpload,
    /// tus: `HEAD` (offset), `PATCH` (append), `DELETE` (terminate) `/v1/uploads/{id}`.
    Upload(DocumentId),
    /// `POST /v1/webhooks`: registers an endpoint.
    CreateWebhook,
    /// `GET /v1/webhooks`: the tenant's endpoints.
    ListWebhooks,
    /// `GET /v1/webhooks/secret`: the tenant's signing secret.
    WebhookSecret,
    /// `GET` or `DELETE /v1/webhooks/{id}`.
    Webhook(Receiver),
    /// `GET /v1/webhooks/{id}/deliveries`: deliveries with every attempt, newest first.
    Deliveries(Receiver),
    /// `POST /v1/webhooks/{id}/deliveries/{delivery}/redeliver`.
    Redeliver(Receiver, i64),
}

/// Who a delivery goes to: a registered endpoint, or the `callback_url` uploads named
/// (`/v1/webhooks/callbacks/…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receiver {
    Endpoint(String),
    Callbacks,
}

impl Receiver {
    /// The endpoint's id; `None` for callback URLs.
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            Receiver::Endpoint(id) => Some(id),
            Receiver::Callbacks => None,
        }
    }
}

impl Route {
    /// What the caller's key must grant; `None` for public routes.
    pub fn scope(&self) -> Option<Scope> {
        match self {
            Route::Health => None,
            Route::CreateDocument
            | Route::Reprocess(_)
            | Route::CreateUpload
            | Route::Upload(_)
            | Route::DeleteDocument(_)
            | Route::CreateWebhook
            | Route::WebhookSecret
            | Route::Webhook(_)
            | Route::Redeliver(..) => Some(Scope::Write),
            Route::ListWebhooks | Route::Deliveries(_) => Some(Scope::Read),
            Route::GetJob(_)
            | Route::GetSummary(_)
            | Route::GetText(_)
            | Route::GetDocument(_)
            | Route::ListDocuments
            | Route::ListJobs
            | Route::Search => Some(Scope::Read),
        }
    }

    /// Matches a method and path. Unknown paths are `404`, known paths with the wrong method
    /// `405`, malformed ids `400`.
    pub fn parse(method: &str, path: &str) -> Result<Route, ApiError> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        let (allowed, route) = match segments.as_slice() {
            ["healthz"] => ("GET", Some(Route::Health)),
            ["v1", "documents"] if method == "POST" => {
                ("GET, HEAD, POST", Some(Route::CreateDocument))
            }
            ["v1", "documents"] => ("GET, HEAD, POST", Some(Route::ListDocuments)),
            ["v1", "jobs"] => ("GET", Some(Route::ListJobs)),
            ["v1", "search"] => ("GET", Some(Route::Search)),
            ["v1", "jobs", id] => ("GET", Some(Route::GetJob(parse_id(id, "job")?))),
            ["v1", "documents", id] if method == "DELETE" => (
                "GET, HEAD, DELETE",
                Some(Route::DeleteDocument(parse_id(id, "document")?)),
            ),
            ["v1", "documents", id] => (
                "GET, HEAD, DELETE",
                Some(Route::GetDocument(parse_id(id, "document")?)),
            ),
            ["v1", "documents", id, "summary"] => {
                ("GET", Some(Route::GetSummary(parse_id(id, "document")?)))
            }
            ["v1", "documents", id, "text"] => {
                ("GET", Some(Route::GetText(parse_id(id, "document")?)))
            }
            ["v1", "documents", id, "reprocess"] => {
                ("POST", Some(Route::Reprocess(parse_id(id, "document")?)))
            }
            ["v1", "uploads"] => ("POST", Some(Route::CreateUpload)),
            ["v1", "webhooks"] if method == "POST" => {
                ("GET, HEAD, POST", Some(Route::CreateWebhook))
            }
            ["v1", "webhooks"] => ("GET, HEAD, POST", Some(Route::ListWebhooks)),
            ["v1", "webhooks", "secret"] => ("GET", Some(Route::WebhookSecret)),
            ["v1", "webhooks", id] => (
                "GET, HEAD, DELETE",
                Some(Route::Webhook(receiver(id, false)?)),
            ),
            ["v1", "webhooks", id, "deliveries"] => {
                ("GET", Some(Route::Deliveries(receiver(id, true)?)))
            }
            ["v1", "webhooks", id, "deliveries", delivery, "redeliver"] => (
                "POST",
                Some(Route::Redeliver(
                    receiver(id, true)?,
                    delivery.parse().map_err(|_| ApiError::InvalidId {
                        what: "delivery",
                        reason: "a delivery id is a whole number".into(),
                    })?,
                )),
            ),
            ["v1", "uploads", id] => (
                "HEAD, PATCH, DELETE",
                Some(Route::Upload(parse_id(id, "upload")?)),
            ),
            _ => ("", None),
        };
        let Some(route) = route else {
            return Err(ApiError::RouteNotFound);
        };
        let method_ok =
            allowed.split(", ").any(|m| m == method) || (allowed == "GET" && method == "HEAD");
        if !method_ok {
            return Err(ApiError::MethodNotAllowed { allowed });
        }
        Ok(route)
    }
}

/// A webhook id (a UUID), or `callbacks` where deliveries to callback URLs are meant.
fn receiver(raw: &str, callbacks: bool) -> Result<Receiver, ApiError> {
    if callbacks && raw == "callbacks" {
        return Ok(Receiver::Callbacks);
    }
    let id: DocumentId = parse_id(raw, "webhook")?;
    Ok(Receiver::Endpoint(id.to_string()))
}

fn parse_id<T: std::str::FromStr<Err = IdError>>(
    raw: &str,
    what: &'static str,
) -> Result<T, ApiError> {
    raw.parse().map_err(|e: IdError| ApiError::InvalidId {
        what,
        reason: e.to_string(),
    })
}

/// Everything the API can answer with other than success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("Content-Length `{value}` is not a valid length")]
    InvalidContentLength { value: String },
    #[error("document is {size} bytes, the limit is {limit} bytes")]
    PayloadTooLarge { size: u64, limit: u64 },
    #[error("the body went past the limit of {limit} bytes; nothing was stored")]
    BodyTooLarge { limit: u64 },
    #[error("the form has no file part: send each document as a part with a filename")]
    NoFileInForm,
    #[error("the form is malformed: {reason}")]
    MalformedForm { reason: String },
    #[error(
        "{reason}; a URL request is {{\"url\": \"https://…\", \"filename\": \"…\"}} (`file_url` for `url` also accepted)"
    )]
    InvalidUrlRequest { reason: String },
    #[error("the URL is not fetched: {reason}")]
    UrlRefused { reason: String },
    #[error("{reason}")]
    InvalidQuery { reason: String },
    #[error("the callback URL is not used: {reason}")]
    InvalidCallbackUrl { reason: String },
    #[error(
        "{reason}; a webhook is {{\"url\": \"https://…\", \"events\": [\"job.succeeded\", \"job.failed\"], \"description\": \"…\"}}"
    )]
    InvalidWebhook { reason: String },
    #[error("a tenant may register at most {limit} webhooks; delete one first")]
    TooManyWebhooks { limit: u32 },
    #[error("no such webhook")]
    WebhookNotFound,
    #[error("no such delivery")]
    DeliveryNotFound,
    #[error("Tus-Resumable must be 1.0.0: this server speaks tus 1.0.0")]
    TusVersion,
    #[error("{reason}")]
    InvalidTusRequest { reason: String },
    #[error("Upload-Offset {given} does not match the upload's offset {offset}: ask with HEAD")]
    UploadOffsetMismatch { given: u64, offset: u64 },
    #[error("no such upload: it finished, expired or was terminated, or never existed")]
    UploadNotFound,
    #[error("the PATCH body does not match its Upload-Checksum; nothing was stored, send it again")]
    ChecksumMismatch,
    #[error("the request body is empty: send the document as the body")]
    EmptyBody,
    #[error("Content-Type is missing: declare the document's media type ({accepted})")]
    MissingContentType { accepted: String },
    #[error("{reason}; accepted media types: {accepted}")]
    UnsupportedMediaType { reason: String, accepted: String },
    #[error("Content-Type `{value}` is not a valid media type")]
    InvalidContentType { value: String },
    #[error("invalid filename: {reason}")]
    InvalidFilename { reason: String },
    #[error("invalid request id: {reason}")]
    InvalidRequestId { reason: String },
    #[error("invalid Idempotency-Key: {reason}")]
    InvalidIdempotencyKey { reason: String },
    #[error("this Idempotency-Key was used for a different document")]
    IdempotencyKeyReused { document_id: DocumentId },
    #[error("the document already has an unfinished job {job_id}")]
    JobInProgress { job_id: JobId },
    #[error("invalid {what} id: {reason}")]
    InvalidId { what: &'static str, reason: String },
    #[error("no such route")]
    RouteNotFound,
    #[error("method not allowed; use {allowed}")]
    MethodNotAllowed { allowed: &'static str },
    #[error("no such job")]
    JobNotFound,
    #[error("no such document")]
    DocumentNotFound,
    #[error("page {page} is past the document's last ({pages})")]
    PageNotFound { page: usize, pages: usize },
    #[error("the summary is not ready: job {job_id} is {status}")]
    SummaryPending { job_id: JobId, status: JobStatus },
    #[error("the document could not be summarized: {error}")]
    SummaryFailed { job_id: JobId, error: String },
    #[error("the text is not extracted yet: job {job_id} is {status}")]
    TextPending { job_id: JobId, status: JobStatus },
    #[error("no text could be extracted: {error}")]
    TextUnavailable { job_id: JobId, error: String },
    #[error("the upload did not arrive whole: {reason}")]
    IncompleteBody { reason: String },
    #[error("an API key is required: send `Authorization: Bearer <key>`")]
    MissingApiKey,
    #[error("the API key is not valid (unknown, revoked or malformed)")]
    InvalidApiKey,
    #[error("this API key does not have the `{needed}` scope")]
    InsufficientScope { needed: &'static str },
    #[error(
        "the {quota} quota is used up ({used} of {limit}); try again in {retry_after_seconds} s"
    )]
    QuotaExceeded {
        quota: Quota,
        used: u64,
        limit: u64,
        retry_after_seconds: u32,
    },
    #[error(
        "the document got a job less than {interval_seconds} s ago; it can be reprocessed again in {retry_after_seconds} s"
    )]
    ReprocessTooSoon {
        interval_seconds: u64,
        retry_after_seconds: u32,
    },
    #[error("requests from origin `{origin}` are not allowed")]
    OriginNotAllowed { origin: String },
    #[error("the body stalled: no bytes arrived for {seconds} s; nothing was stored")]
    BodyStalled { seconds: u64 },
    #[error("storage is unavailable, try again")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::InvalidContentLength { .. }
            | ApiError::EmptyBody
            | ApiError::InvalidContentType { .. }
            | ApiError::InvalidFilename { .. }
            | ApiError::InvalidRequestId { .. }
            | ApiError::InvalidIdempotencyKey { .. }
            | ApiError::InvalidId { .. }
            | ApiError::IncompleteBody { .. }
            | ApiError::NoFileInForm
            | ApiError::MalformedForm { .. }
            | ApiError::InvalidUrlRequest { .. }
            | ApiError::UrlRefused { .. }
            | ApiError::InvalidTusRequest { .. }
            | ApiError::InvalidQuery { .. }
            | ApiError::InvalidCallbackUrl { .. }
            | ApiError::InvalidWebhook { .. } => 400,
            ApiError::TooManyWebhooks { .. } => 409,
            ApiError::WebhookNotFound | ApiError::DeliveryNotFound => 404,
            ApiError::TusVersion => 412,
            ApiError::UploadOffsetMismatch { .. } => 409,
            ApiError::UploadNotFound => 404,
            ApiError::ChecksumMismatch => 460,
            ApiError::BodyStalled { .. } => 408,
            ApiError::PayloadTooLarge { .. } | ApiError::BodyTooLarge { .. } => 413,
            ApiError::MissingContentType { .. } | ApiError::UnsupportedMediaType { .. } => 415,
            ApiError::RouteNotFound
            | ApiError::JobNotFound
            | ApiError::DocumentNotFound
            | ApiError::PageNotFound { .. } => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::SummaryPending { .. }
            | ApiError::SummaryFailed { .. }
            | ApiError::TextPending { .. }
            | ApiError::TextUnavailable { .. }
            | ApiError::JobInProgress { .. } => 409,
            ApiError::IdempotencyKeyReused { .. } => 422,
            ApiError::MissingApiKey | ApiError::InvalidApiKey => 401,
            ApiError::InsufficientScope { .. } | ApiError::OriginNotAllowed { .. } => 403,
            ApiError::QuotaExceeded { .. } | ApiError::ReprocessTooSoon { .. } => 429,
            ApiError::Unavailable => 503,
            ApiError::Internal => 500,
        }
    }

    /// The stable, machine-readable name of the error.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidContentLength { .. } => "invalid_content_length",
            ApiError::PayloadTooLarge { .. } | ApiError::BodyTooLarge { .. } => "payload_too_large",
            ApiError::EmptyBody => "empty_body",
            ApiError::MissingContentType { .. } => "missing_content_type",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::InvalidContentType { .. } => "invalid_content_type",
            ApiError::InvalidFilename { .. } => "invalid_filename",
            ApiError::InvalidRequestId { .. } => "invalid_request_id",
            ApiError::InvalidIdempotencyKey { .. } => "invalid_idempotency_key",
            ApiError::IdempotencyKeyReused { .. } => "idempotency_key_reused",
            ApiError::JobInProgress { .. } => "job_in_progress",
            ApiError::InvalidId { .. } => "invalid_id",
            ApiError::RouteNotFound => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::JobNotFound => "job_not_found",
            ApiError::DocumentNotFound => "document_not_found",
            ApiError::PageNotFound { .. } => "page_not_found",
            ApiError::SummaryPending { .. } => "summary_not_ready",
            ApiError::SummaryFailed { .. } => "summary_failed",
            ApiError::TextPending { .. } => "text_not_ready",
            ApiError::TextUnavailable { .. } => "text_unavailable",
            ApiError::IncompleteBody { .. } => "incomplete_body",
            ApiError::NoFileInForm => "no_file_in_form",
            ApiError::MalformedForm { .. } => "malformed_form",
            ApiError::InvalidUrlRequest { .. } => "invalid_url_request",
            ApiError::UrlRefused { .. } => "url_refused",
            ApiError::TusVersion => "tus_version",
            ApiError::InvalidQuery { .. } => "invalid_query",
            ApiError::InvalidCallbackUrl { .. } => "invalid_callback_url",
            ApiError::InvalidWebhook { .. } => "invalid_webhook",
            ApiError::TooManyWebhooks { .. } => "too_many_webhooks",
            ApiError::WebhookNotFound => "webhook_not_found",
            ApiError::DeliveryNotFound => "delivery_not_found",
            ApiError::InvalidTusRequest { .. } => "invalid_tus_request",
            ApiError::UploadOffsetMismatch { .. } => "upload_offset_mismatch",
            ApiError::UploadNotFound => "upload_not_found",
            ApiError::ChecksumMismatch => "checksum_mismatch",
            ApiError::BodyStalled { .. } => "body_stalled",
            ApiError::MissingApiKey => "missing_api_key",
            ApiError::InvalidApiKey => "invalid_api_key",
            ApiError::InsufficientScope { .. } => "insufficient_scope",
            ApiError::QuotaExceeded { .. } => "quota_exceeded",
            ApiError::ReprocessTooSoon { .. } => "reprocess_too_soon",
            ApiError::OriginNotAllowed { .. } => "origin_not_allowed",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal => "internal_error",
        }
    }

    /// The `Allow` header of a 405: the route's method, with `HEAD` wherever `GET` is.
    pub fn allow(&self) -> Option<&'static str> {
        match self {
            ApiError::MethodNotAllowed { allowed: "GET" } => Some("GET, HEAD"),
            ApiError::MethodNotAllowed { allowed } => Some(allowed),
            _ => None,
        }
    }

    /// Seconds a client should wait before trying again (`Retry-After`), for errors that
    /// pass.
    pub fn retry_after_seconds(&self) -> Option<u32> {
        match self {
            ApiError::Unavailable => Some(1),
            ApiError::QuotaExceeded {
                retry_after_seconds,
                ..
            }
            | ApiError::ReprocessTooSoon {
                retry_after_seconds,
                ..
            } => Some(*retry_after_seconds),
            _ => None,
        }
    }

    /// The `WWW-Authenticate` challenge of an authentication or scope error (RFC 6750).
    pub fn www_authenticate(&self) -> Option<String> {
        match self {
            ApiError::MissingApiKey => Some("Bearer realm=\"docpipe\"".into()),
            ApiError::InvalidApiKey => {
                Some("Bearer realm=\"docpipe\", error=\"invalid_token\"".into())
            }
            ApiError::InsufficientScope { needed } => Some(format!(
                "Bearer realm=\"docpipe\", error=\"insufficient_scope\", scope=\"{needed}\""
            )),
            _ => None,
        }
    }

    /// The JSON body of the error response.
    pub fn body(&self, request_id: &str) -> serde_json::Value {
        let mut error = json!({ "code": self.code(), "message": self.to_string() });
        match self {
            ApiError::SummaryPending { job_id, status }
            | ApiError::TextPending { job_id, status } => {
                error["job_id"] = json!(job_id);
                error["status"] = json!(status);
            }
            ApiError::SummaryFailed { job_id, .. } | ApiError::TextUnavailable { job_id, .. } => {
                error["job_id"] = json!(job_id);
                error["status"] = json!(JobStatus::Failed);
            }
            ApiError::PayloadTooLarge { limit, .. } | ApiError::BodyTooLarge { limit } => {
                error["limit_bytes"] = json!(limit);
            }
            ApiError::JobInProgress { job_id } => error["job_id"] = json!(job_id),
            ApiError::IdempotencyKeyReused { document_id } => {
                error["document_id"] = json!(document_id);
            }
            ApiError::QuotaExceeded {
                quota, used, limit, ..
            } => {
                error["quota"] = json!(quota.as_str());
                error["used"] = json!(used);
                error["limit"] = json!(limit);
            }
            ApiError::InsufficientScope { needed } => error["scope"] = json!(needed),
            ApiError::PageNotFound { pages, .. } => error["pages"] = json!(pages),
            _ => {}
        }
        json!({ "error": error, "request_id": request_id })
    }
}

/// `202 Accepted` for a new document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadAccepted {
    pub document_id: DocumentId,
    pub job_id: JobId,
    pub status: JobStatus,
    pub status_url: String,
    pub summary_url: String,
}

impl UploadAccepted {
    pub fn new(document_id: DocumentId, job_id: JobId) -> Self {
        Self {
            status_url: job_url(&job_id),
            summary_url: summary_url(&document_id),
            document_id,
            job_id,
            status: JobStatus::Queued,
        }
    }
}

/// `202 Accepted` for a form: one result per file part, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormAccepted {
    pub documents: Vec<FormResult>,
}

/// A form's file part: the document it became, or why it did not.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FormResult {
    Accepted {
        filename: Option<String>,
        #[serde(flatten)]
        accepted: UploadAccepted,
    },
    Refused {
        filename: Option<String>,
        status: u16,
        error: serde_json::Value,
    },
}

impl FormResult {
    pub fn refused(filename: Option<String>, error: &ApiError) -> Self {
        Self::Refused {
            filename,
            status: error.status(),
            error: json!({ "code": error.code(), "message": error.to_string() }),
        }
    }
}

pub fn job_url(job_id: &JobId) -> String {
    format!("/v1/jobs/{job_id}")
}

pub fn summary_url(document_id: &DocumentId) -> String {
    format!("/v1/documents/{document_id}/summary")
}

/// `GET /v1/documents/{id}/summary`: the summary, or why there is none.
pub fn summary_answer(lookup: SummaryLookup) -> Result<SummaryRow, ApiError> {
    match lookup {
        SummaryLookup::Ready(row) => Ok(*row),
        SummaryLookup::NoSuchDocument => Err(ApiError::DocumentNotFound),
        SummaryLookup::Pending { job_id, status } => {
            Err(ApiError::SummaryPending { job_id, status })
        }
        SummaryLookup::Failed { job_id, error } => Err(ApiError::SummaryFailed { job_id, error }),
    }
}

/// Why `GET /v1/documents/{id}/text` has no text to show.
pub fn text_missing(lookup: SummaryLookup) -> ApiError {
    match lookup {
        SummaryLookup::NoSuchDocument => ApiError::DocumentNotFound,
        SummaryLookup::Pending { job_id, status } => ApiError::TextPending { job_id, status },
        SummaryLookup::Failed { job_id, error } => ApiError::TextUnavailable { job_id, error },
        SummaryLookup::Ready(row) => ApiError::TextUnavailable {
            job_id: row.job_id,
            error: "the text was not kept".into(),
        },
    }
}

/// `GET /v1/jobs/{id}`: the job's row, and where its summary is once it has one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobView {
    #[serde(flatten)]
    pub job: JobRow,
    /// Present once the job has succeeded.
    pub summary_url: Option<String>,
}

impl From<JobRow> for JobView {
    fn from(job: JobRow) -> Self {
        let summary_url =
            (job.status == JobStatus::Succeeded).then(|| summary_url(&job.document_id));
        Self { job, summary_url }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: &str = "01936b2e-1e6f-7c3a-9d4b-5e6f7a8b9c0d";

    #[test]
    fn routes_known_paths() {
        assert_eq!(Route::parse("GET", "/healthz"), Ok(Route::Health));
        assert_eq!(
            Route::parse("POST", "/v1/documents"),
            Ok(Route::CreateDocument)
        );
        assert_eq!(
            Route::parse("POST", "/v1/documents/"),
            Ok(Route::CreateDocument)
        );
        assert_eq!(
            Route::parse("GET", &format!("/v1/jobs/{JOB}")),
            Ok(Route::GetJob(JOB.parse().unwrap()))
        );
        assert_eq!(
            Route::parse("HEAD", &format!("/v1/documents/{JOB}/summary")),
            Ok(Route::GetSummary(JOB.parse().unwrap()))
        );
        assert_eq!(
            Route::parse("POST", &format!("/v1/documents/{JOB}/reprocess")),
            Ok(Route::Reprocess(JOB.parse().unwrap()))
        );
    }

    #[test]
    fn wrong_method_is_405_and_names_the_allowed_one() {
        let err = Route::parse("PUT", "/v1/documents").unwrap_err();
        assert_eq!(
            err,
            ApiError::MethodNotAllowed {
                allowed: "GET, HEAD, POST"
            }
        );
        assert_eq!(err.allow(), Some("GET, HEAD, POST"));
        assert_eq!(
            Route::parse("GET", "/v1/documents"),
            Ok(Route::ListDocuments)
        );
        assert_eq!(Route::parse("GET", "/v1/jobs/"), Ok(Route::ListJobs));
        let err = Route::parse("DELETE", "/healthz").unwrap_err();
        assert_eq!(err.allow(), Some("GET, HEAD"));
        assert_eq!(err.status(), 405);
    }

    #[test]
    fn unknown_path_is_404() {
        for path in ["/", "/v1", "/v2/documents", "/v1/job", "/healthz/x"] {
            let err = Route::parse("GET", path).unwrap_err();
            assert_eq!(err.status(), 404, "{path}");
        }
    }

    #[test]
    fn malformed_id_is_400() {
        let err = Route::parse("GET", "/v1/jobs/42").unwrap_err();
        assert!(matches!(err, ApiError::InvalidId { what: "job", .. }));
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains("an id is a UUIDv7"), "{err}");
    }

    #[test]
    fn error_body_has_code_message_and_request_id() {
        let body = ApiError::PayloadTooLarge { size: 10, limit: 5 }.body("req-1");
        assert_eq!(body["error"]["code"], "payload_too_large");
        assert_eq!(
            body["error"]["message"],
            "document is 10 bytes, the limit is 5 bytes"
        );
        assert_eq!(body["error"]["limit_bytes"], 5);
        assert_eq!(body["request_id"], "req-1");
    }

    #[test]
    fn pending_summary_error_carries_job_and_status() {
        let body = ApiError::SummaryPending {
            job_id: JOB.parse().unwrap(),
            status: JobStatus::Processing,
        }
        .body("r");
        assert_eq!(body["error"]["status"], "processing");
        assert_eq!(body["error"]["job_id"], JOB);
    }

    #[test]
    fn every_error_maps_to_a_client_or_server_status() {
        let errors = [
            ApiError::EmptyBody,
            ApiError::Internal,
            ApiError::Unavailable,
            ApiError::JobNotFound,
        ];
        for error in errors {
            assert!((400..600).contains(&error.status()), "{error:?}");
            assert!(!error.code().is_empty());
        }
    }

    #[test]
    fn a_missing_summary_or_text_says_why() {
        let job: JobId = JOB.parse().unwrap();
        let pending = || SummaryLookup::Pending {
            job_id: job,
            status: JobStatus::Queued,
        };
        assert_eq!(
            summary_answer(pending()).unwrap_err().code(),
            "summary_not_ready"
        );
        assert_eq!(text_missing(pending()).code(), "text_not_ready");
        let failed = || SummaryLookup::Failed {
            job_id: job,
            error: "corrupt".into(),
        };
        assert_eq!(
            summary_answer(failed()).unwrap_err().code(),
            "summary_failed"
        );
        assert_eq!(text_missing(failed()).code(), "text_unavailable");
        assert_eq!(
            summary_answer(SummaryLookup::NoSuchDocument).unwrap_err(),
            ApiError::DocumentNotFound
        );
    }

    #[test]
    fn only_passing_errors_ask_the_client_to_retry() {
        assert_eq!(ApiError::Unavailable.retry_after_seconds(), Some(1));
        assert_eq!(ApiError::Internal.retry_after_seconds(), None);
        assert_eq!(ApiError::EmptyBody.retry_after_seconds(), None);
    }
}
