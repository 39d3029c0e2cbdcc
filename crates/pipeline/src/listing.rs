//! Listing documents and jobs: the query (`limit`, `cursor`, filters) read from the URL, and the
//! opaque cursor. Lists run newest first by id; ids are UUIDv7, so they order by creation, and
//! a page after the cursor only holds ids below it: documents added while a client pages are
//! neither skipped nor repeated (they appear at the head of a new listing).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use docpipe_jobs::{DocumentId, JobStatus};

use crate::api::ApiError;
use crate::time::{Millis, parse_timestamp, timestamp};

/// Items per page unless the client asks for another number.
pub const DEFAULT_LIMIT: u32 = 50;
/// The most items a page holds.
pub const MAX_LIMIT: u32 = 100;

/// The filters and page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub limit: u32,
    /// Items strictly below this id (from the cursor).
    pub before: Option<String>,
    /// The latest job's status (documents) or the job's status (jobs).
    pub status: Option<JobStatus>,
    /// `created_after` (inclusive) and `created_before` (exclusive), as D1 stores times.
    pub created_after: Option<String>,
    pub created_before: Option<String>,
    /// Documents: the media type, parameters aside.
    pub content_type: Option<String>,
    /// Documents: the start of the file name (case-sensitive).
    pub filename_prefix: Option<String>,
    /// Jobs: of this document.
    pub document_id: Option<DocumentId>,
}

fn invalid(reason: impl Into<String>) -> ApiError {
    ApiError::InvalidQuery {
        reason: reason.into(),
    }
}

/// The cursor that continues after the item with `id`.
pub fn cursor_after(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{id}"))
}

fn cursor_position(cursor: &str) -> Result<String, ApiError> {
    let bad = || invalid("`cursor` is not one this API gave out: pass `next_cursor` as it came");
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let id = text.strip_prefix("v1:").ok_or_else(bad)?;
    // Ids are UUIDs: anything else did not come from here.
    if id.len() != 36 || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(bad());
    }
    Ok(id.to_owned())
}

fn time(name: &str, value: &str) -> Result<String, ApiError> {
    let at: Millis = parse_timestamp(value).ok_or_else(|| {
        invalid(format!(
            "`{name}` must be an RFC 3339 time such as 2026-12-01T00:00:00Z"
        ))
    })?;
    Ok(timestamp(at))
}

/// Reads a listing's query parameters (already percent-decoded). `for_documents` allows the
/// document filters, else the job ones; any other parameter is refused, so a typo is not a
/// silently ignored filter.
pub fn parse(pairs: &[(String, String)], for_documents: bool) -> Result<ListQuery, ApiError> {
    let mut query = ListQuery {
        limit: DEFAULT_LIMIT,
        ..ListQuery::default()
    };
    for (name, value) in pairs {
        match (name.as_str(), for_documents) {
            ("limit", _) => {
                query.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| invalid(format!("`limit` must be 1 to {MAX_LIMIT}")))?;
            }
            ("cursor", _) => query.before = Some(cursor_position(value)?),
            ("status", _) => {
                query.status = Some(value.parse().map_err(|_| {
                    invalid("`status` must be queued, processing, succeeded or failed")
                })?);
            }
            ("created_after", _) => query.created_after = Some(time(name, value)?),
            ("created_before", _) => query.created_before = Some(time(name, value)?),
            ("content_type", true) => {
                let essence = crate::upload::essence(Some(value)).unwrap_or_default();
                query.content_type = Some(essence.to_ascii_lowercase());
            }
            ("filename_prefix", true) => query.filename_prefix = Some(value.clone()),
            ("document_id", false) => {
                query.document_id = Some(value.parse().map_err(|e| ApiError::InvalidId {
                    what: "document",
                    reason: format!("{e}"),
                })?);
            }
            (other, _) => {
                let accepted = if for_documents {
                    "limit, cursor, status, created_after, created_before, content_type, \
                     filename_prefix"
                } else {
                    "limit, cursor, status, created_after, created_before, document_id"
                };
                return Err(invalid(format!(
                    "unknown parameter `{other}`; accepted: {accepted}"
                )));
            }
        }
    }
    Ok(query)
}

/// Cuts a page out of up to `limit + 1` items: the first `limit`, and the cursor after the
/// last of them when more follow.
pub fn page<T>(
    mut items: Vec<T>,
    limit: u32,
    id_of: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if items.len() <= limit {
        return (items, None);
    }
    items.truncate(limit);
    let next = items.last().map(|last| cursor_after(&id_of(last)));
    (items, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_cursor_round_trips_and_a_forged_one_is_400() {
        let id = "01936b2e-1e6f-7c3a-9d4b-5e6f7a8b9c0d";
        let query = parse(&pairs(&[("cursor", &cursor_after(id))]), true).unwrap();
        assert_eq!(query.before.as_deref(), Some(id));
        for forged in ["abc", "", &URL_SAFE_NO_PAD.encode("v1:' OR 1=1 --")] {
            let err = parse(&pairs(&[("cursor", forged)]), true).unwrap_err();
            assert_eq!(err.code(), "invalid_query", "{forged}");
        }
    }

    #[test]
    fn filters_are_read_and_checked() {
        let query = parse(
            &pairs(&[
                ("limit", "100"),
                ("status", "succeeded"),
                ("created_after", "2026-12-01T00:00:00Z"),
                ("content_type", "Text/Plain; charset=utf-8"),
                ("filename_prefix", "rep"),
            ]),
            true,
        )
        .unwrap();
        assert_eq!(query.limit, 100);
        assert_eq!(query.status, Some(JobStatus::Succeeded));
        assert_eq!(
            query.created_after.as_deref(),
            Some("2026-12-01T00:00:00.000Z")
        );
        assert_eq!(query.content_type.as_deref(), Some("text/plain"));
        for bad in [
            ("limit", "0"),
            ("limit", "101"),
            ("status", "done"),
            ("created_before", "yesterday"),
            ("sort", "asc"),
            ("document_id", "01936b2e-1e6f-7c3a-9d4b-5e6f7a8b9c0d"),
        ] {
            let err = parse(&pairs(&[bad]), true).unwrap_err();
            assert_eq!(err.status(), 400, "{bad:?}");
        }
        assert!(parse(&pairs(&[("filename_prefix", "a")]), false).is_err());
        assert_eq!(parse(&[], false).unwrap().limit, DEFAULT_LIMIT);
    }
}
