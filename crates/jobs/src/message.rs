//! The queue message. It carries ids only: the D1 job row is the source of truth and the
//! document lives in R2, so a message is a wake-up call that stays far below the 128 KB limit.
//!
//! Wire format (JSON): `{"v":1,"job_id":"…","document_id":"…","request_id":"…"}`, plus
//! `"fetch":true` when the document is still to be fetched from the URL it was named by. A
//! consumer refuses a version it does not know instead of guessing at its fields.

use serde::{Deserialize, Serialize};

use crate::id::{DocumentId, JobId, RequestId};
use crate::usage::Usage;

/// The message schema version this build produces and understands.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    /// Schema version; always [`SCHEMA_VERSION`] for messages built by this crate.
    #[serde(rename = "v")]
    pub version: u32,
    pub job_id: JobId,
    pub document_id: DocumentId,
    /// The id of the HTTP request that created the job, so its logs can be followed end to end.
    pub request_id: RequestId,
    /// The document is still to be fetched from its URL: the job's first stage.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fetch: bool,
    /// What the request that created the job spent on billed operations, its send of this
    /// message included; absent when the job was enqueued by the sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// Why a queue message body could not be read as a [`JobMessage`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("message is not JSON: {source}")]
    NotJson { source: serde_json::Error },
    #[error("message has no schema version field `v`")]
    MissingVersion,
    #[error(
        "message schema version {found} is not supported (this consumer reads version {supported})"
    )]
    UnsupportedVersion { found: u64, supported: u32 },
    #[error("message does not match schema version {version}: {source}")]
    Malformed {
        version: u32,
        source: serde_json::Error,
    },
}

/// Just enough of a message to route it: its version, and the job id when one is readable.
#[derive(Deserialize)]
struct Envelope {
    v: Option<serde_json::Value>,
    job_id: Option<String>,
}

impl JobMessage {
    pub fn new(job_id: JobId, document_id: DocumentId, request_id: RequestId) -> Self {
        Self {
            version: SCHEMA_VERSION,
            job_id,
            document_id,
            request_id,
            fetch: false,
            usage: None,
        }
    }

    /// The message of a job whose document is first fetched from its URL.
    pub fn to_fetch(job_id: JobId, document_id: DocumentId, request_id: RequestId) -> Self {
        Self {
            fetch: true,
            ..Self::new(job_id, document_id, request_id)
        }
    }

    pub fn to_json(&self) -> String {
        // Serializing ids and a number to JSON cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Decodes a message body, checking the schema version before anything else.
    pub fn decode(json: &str) -> Result<JobMessage, DecodeError> {
        let envelope: Envelope =
            serde_json::from_str(json).map_err(|source| DecodeError::NotJson { source })?;
        let found = match envelope.v {
            None | Some(serde_json::Value::Null) => return Err(DecodeError::MissingVersion),
            Some(v) => v.as_u64(),
        };
        match found {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            other => {
                return Err(DecodeError::UnsupportedVersion {
                    found: other.unwrap_or(u64::MAX),
                    supported: SCHEMA_VERSION,
                });
            }
        }
        serde_json::from_str(json).map_err(|source| DecodeError::Malformed {
            version: SCHEMA_VERSION,
            source,
        })
    }

    /// The job id of a message that may not decode, so a consumer can record why it was
    /// refused on the right job.
    pub fn peek_job_id(json: &str) -> Option<JobId> {
        let envelope: Envelope = serde_json::from_str(json).ok()?;
        JobId::parse(envelope.job_id.as_deref()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> JobMessage {
        JobMessage::new(
            JobId::parse("01936b2e-1e6f-7c3a-9d4b-5e6f7a8b9c0d").unwrap(),
            DocumentId::parse("01936b2e-1e6f-7c3a-9d4b-5e6f7a8b9c0e").unwrap(),
            RequestId::parse("req-1").unwrap(),
        )
    }

    #[test]
    fn round_trips_through_json() {
        let message = sample();
        assert_eq!(JobMessage::decode(&message.to_json()).unwrap(), message);
    }

    #[test]
    fn wire_format_is_stable() {
        assert_eq!(
            sample().to_json(),
            r#"{"v":1,"job_id":"01936b2e-1e6f-7c3a-9d4b-5e6f7a8b9c0d","document_id":"01936b2e-1e6f-7c3a-9d4b-5e6f7a8b9c0e","request_id":"req-1"}"#
        );
    }

    #[test]
    fn the_usage_of_the_upload_round_trips_and_older_messages_have_none() {
        let mut message = sample();
        message.usage = Some(Usage {
            requests: 1,
            d1_rows_written: 12,
            queue_operations: 1,
            ..Usage::default()
        });
        let json = message.to_json();
        assert!(json.contains(r#""usage":{"requests":1"#), "{json}");
        assert_eq!(JobMessage::decode(&json).unwrap(), message);
        assert_eq!(JobMessage::decode(&sample().to_json()).unwrap().usage, None);
    }

    #[test]
    fn a_fetch_says_so_and_round_trips() {
        let plain = sample();
        let fetch = JobMessage::to_fetch(plain.job_id, plain.document_id, plain.request_id);
        let json = fetch.to_json();
        assert!(json.ends_with(r#","fetch":true}"#), "{json}");
        assert_eq!(JobMessage::decode(&json).unwrap(), fetch);
    }

    #[test]
    fn rejects_unknown_version_but_still_names_the_job() {
        let json = sample().to_json().replace(r#""v":1"#, r#""v":2"#);
        match JobMessage::decode(&json) {
            Err(DecodeError::UnsupportedVersion {
                found: 2,
                supported: 1,
            }) => {}
            other => panic!("expected UnsupportedVersion, got {other:?}"),
        }
        assert_eq!(JobMessage::peek_job_id(&json), Some(sample().job_id));
    }

    #[test]
    fn rejects_non_integer_version() {
        let json = sample().to_json().replace(r#""v":1"#, r#""v":"1""#);
        assert!(matches!(
            JobMessage::decode(&json),
            Err(DecodeError::UnsupportedVersion { .. })
        ));
    }

    #[test]
    fn rejects_missing_version() {
        let json = sample().to_json().replace(r#""v":1,"#, "");
        assert!(matches!(
            JobMessage::decode(&json),
            Err(DecodeError::MissingVersion)
        ));
    }

    #[test]
    fn rejects_current_version_with_bad_fields() {
        let json = sample()
            .to_json()
            .replace("01936b2e-1e6f-7c3a-9d4b-5e6f7a8b9c0e", "not-an-id");
        assert!(matches!(
            JobMessage::decode(&json),
            Err(DecodeError::Malformed { version: 1, .. })
        ));
    }

    #[test]
    fn rejects_non_json() {
        assert!(matches!(
            JobMessage::decode("hello"),
            Err(DecodeError::NotJson { .. })
        ));
        assert_eq!(JobMessage::peek_job_id("hello"), None);
    }

    #[test]
    fn tolerates_fields_added_by_a_compatible_producer() {
        let json = sample()
            .to_json()
            .replace(r#""v":1,"#, r#""v":1,"priority":"high","#);
        assert_eq!(JobMessage::decode(&json).unwrap(), sample());
    }
}
