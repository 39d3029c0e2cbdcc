//! The API's JSON bodies as the tests read them: typed, so a test names fields instead of
//! indexing JSON by string, and a renamed or missing field fails where it is decoded.

use serde::Deserialize;
use serde_json::Value;

/// `202` for an upload or a reprocess.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Accepted {
    pub document_id: String,
    pub job_id: String,
    pub status: String,
    pub status_url: String,
    pub summary_url: String,
}

/// `GET /v1/jobs/{id}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Job {
    pub job_id: String,
    pub document_id: String,
    pub status: String,
    pub attempts: u32,
    pub error: Option<String>,
    pub request_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub summary_url: Option<String>,
    /// `fetching` while a document named by URL is fetched.
    #[serde(default)]
    pub stage: Option<String>,
}

impl Job {
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "succeeded" | "failed")
    }
}

/// `GET /v1/documents/{id}/summary`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Summary {
    pub document_id: String,
    pub job_id: String,
    pub summary: String,
    pub backend: String,
    pub model: Option<String>,
    pub fallback_from: Option<String>,
    pub fallback_reason: Option<String>,
    pub input_chars: u64,
    pub truncated: bool,
    pub source_type: Option<String>,
    pub notes: Vec<String>,
    pub created_at: String,
}

/// Every error: `{"error": {"code", "message", …}, "request_id"}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ApiError {
    pub error: ErrorDetail,
    pub request_id: String,
}

/// An error's fields; `extra` holds the ones particular to its code (`job_id`, `status`,
/// `limit_bytes`, `document_id`, …).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

impl ErrorDetail {
    /// A field particular to this error, as text.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.extra.get(name).and_then(Value::as_str)
    }
}
