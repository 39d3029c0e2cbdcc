//! Deciding whether an upload may proceed, from its headers alone, before a byte is stored.
//!
//! Checks run in this order, so a client sees the most fundamental problem first:
//! `411` no `Content-Length` → `400` bad length → `413` over the limit → `400` empty body →
//! `415` missing or unsupported media type → `400` bad filename or request id.

use docpipe_jobs::{ContentType, MediaType, MediaTypeError, RequestId};

use crate::api::{ApiError, UploadAccepted};
use crate::store::IdempotentUpload;

/// The longest filename kept, in bytes (the usual file-system limit).
pub const MAX_FILENAME_BYTES: usize = 255;

/// The request headers and query parameters an upload is judged by.
#[derive(Debug, Clone, Copy, Default)]
pub struct UploadHeaders<'a> {
    pub content_length: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub content_disposition: Option<&'a str>,
    /// `?filename=`, already percent-decoded.
    pub filename_param: Option<&'a str>,
}

/// An upload that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidUpload {
    pub size: u64,
    pub content_type: ContentType,
    pub filename: Option<String>,
}

pub fn validate(headers: &UploadHeaders<'_>, max_bytes: u64) -> Result<ValidUpload, ApiError> {
    let raw_length = headers.content_length.ok_or(ApiError::LengthRequired)?;
    let size: u64 = raw_length
        .trim()
        .parse()
        .map_err(|_| ApiError::InvalidContentLength {
            value: raw_length.chars().take(40).collect(),
        })?;
    if size > max_bytes {
        return Err(ApiError::PayloadTooLarge {
            size,
            limit: max_bytes,
        });
    }
    if size == 0 {
        return Err(ApiError::EmptyBody);
    }
    let content_type = ContentType::parse(headers.content_type).map_err(media_error)?;
    let filename = match headers.filename_param {
        Some(name) => Some(name.to_owned()),
        None => headers
            .content_disposition
            .and_then(filename_from_disposition),
    };
    let filename = filename.map(|name| clean_filename(&name)).transpose()?;
    Ok(ValidUpload {
        size,
        content_type,
        filename: filename.flatten(),
    })
}

fn accepted() -> String {
    MediaType::accepted().collect::<Vec<_>>().join(", ")
}

fn media_error(error: MediaTypeError) -> ApiError {
    match error {
        MediaTypeError::Missing => ApiError::MissingContentType {
            accepted: accepted(),
        },
        MediaTypeError::Malformed { value } => ApiError::InvalidContentType { value },
        unsupported @ MediaTypeError::Unsupported { .. } => ApiError::UnsupportedMediaType {
            reason: unsupported.to_string(),
            accepted: accepted(),
        },
    }
}

/// The client's `X-Request-Id` when it is usable, else a fresh one.
pub fn request_id(header: Option<&str>) -> Result<RequestId, ApiError> {
    match header {
        None => Ok(RequestId::generate()),
        Some(value) => RequestId::parse(value).map_err(|e| ApiError::InvalidRequestId {
            reason: e.to_string(),
        }),
    }
}

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// The client's `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub fn idempotency_key(header: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(key) = header else {
        return Ok(None);
    };
    let key = key.trim();
    let invalid = |reason: String| Err(ApiError::InvalidIdempotencyKey { reason });
    if key.is_empty() {
        return invalid("it is empty".into());
    }
    if key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return invalid(format!(
            "{} characters long, the limit is {MAX_IDEMPOTENCY_KEY_LEN}",
            key.len()
        ));
    }
    if !key.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return invalid("only visible ASCII characters are allowed".into());
    }
    Ok(Some(key.to_owned()))
}

/// A retried upload under a known `Idempotency-Key`: the original answer when the body is the
/// same document (same size and SHA-256), else `422`.
pub fn replay(
    original: &IdempotentUpload,
    sha256: &str,
    size: u64,
) -> Result<UploadAccepted, ApiError> {
    let same_size = original.size_bytes == size;
    let same_digest = original.sha256.as_deref() == Some(sha256);
    match (original.job_id, same_size && same_digest) {
        (Some(job_id), true) => Ok(UploadAccepted::new(original.document_id, job_id)),
        _ => Err(ApiError::IdempotencyKeyReused {
            document_id: original.document_id,
        }),
    }
}

/// Reads `filename*=UTF-8''…` (RFC 6266/8187) in preference to `filename="…"`.
fn filename_from_disposition(header: &str) -> Option<String> {
    let mut plain = None;
    for param in split_params(header).into_iter().skip(1) {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        if name == "filename*" {
            if let Some(decoded) = decode_ext_value(value) {
                return Some(decoded);
            }
        } else if name == "filename" {
            plain = Some(unquote(value));
        }
    }
    plain
}

/// Splits on `;` outside double quotes.
fn split_params(header: &str) -> Vec<&str> {
    let mut params = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in header.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                params.push(&header[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    params.push(&header[start..]);
    params
}

fn unquote(value: &str) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    out.extend(chars.next());
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => value.to_owned(),
    }
}

/// `UTF-8''na%C3%AFve.txt` → `naïve.txt`. Other charsets are not decoded.
fn decode_ext_value(value: &str) -> Option<String> {
    let mut parts = value.splitn(3, '\'');
    let charset = parts.next()?;
    let _language = parts.next()?;
    let encoded = parts.next()?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .ok()
        .map(|name| name.into_owned())
}

/// Keeps the last path component, refuses control characters and over-long names. The name is
/// only ever stored and shown, never used as a path or key, so quotes, SQL and the like are
/// kept as given.
fn clean_filename(name: &str) -> Result<Option<String>, ApiError> {
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(ApiError::InvalidFilename {
            reason: format!("control character U+{:04X} is not allowed", u32::from(c)),
        });
    }
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    if base.len() > MAX_FILENAME_BYTES {
        return Err(ApiError::InvalidFilename {
            reason: format!(
                "{} bytes long, the limit is {MAX_FILENAME_BYTES}",
                base.len()
            ),
        });
    }
    Ok(match base {
        "" | "." | ".." => None,
        base => Some(base.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use docpipe_jobs::{DocumentId, JobId};

    use super::*;

    const LIMIT: u64 = 100;

    fn headers(
        length: Option<&'static str>,
        content_type: Option<&'static str>,
    ) -> UploadHeaders<'static> {
        UploadHeaders {
            content_length: length,
            content_type,
            ..UploadHeaders::default()
        }
    }

    fn status(result: Result<ValidUpload, ApiError>) -> u16 {
        result.unwrap_err().status()
    }

    #[test]
    fn accepts_a_plain_upload() {
        let upload = validate(&headers(Some("12"), Some("text/plain")), LIMIT).unwrap();
        assert_eq!(upload.size, 12);
        assert_eq!(upload.content_type.media_type, MediaType::PlainText);
        assert_eq!(upload.filename, None);
    }

    #[test]
    fn missing_length_is_411() {
        assert_eq!(
            status(validate(&headers(None, Some("text/plain")), LIMIT)),
            411
        );
    }

    #[test]
    fn garbage_length_is_400() {
        for length in ["abc", "-1", "1.5", ""] {
            let err = validate(&headers(Some(length), Some("text/plain")), LIMIT).unwrap_err();
            assert_eq!(err.code(), "invalid_content_length", "{length}");
        }
    }

    #[test]
    fn over_limit_is_413_even_with_a_bad_type() {
        let err = validate(&headers(Some("101"), Some("image/png")), LIMIT).unwrap_err();
        assert_eq!(
            err,
            ApiError::PayloadTooLarge {
                size: 101,
                limit: 100
            }
        );
        assert!(validate(&headers(Some("100"), Some("text/plain")), LIMIT).is_ok());
    }

    #[test]
    fn empty_body_is_400() {
        let err = validate(&headers(Some("0"), Some("text/plain")), LIMIT).unwrap_err();
        assert_eq!(err, ApiError::EmptyBody);
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn unsupported_or_missing_type_is_415() {
        assert_eq!(
            status(validate(&headers(Some("5"), Some("image/png")), LIMIT)),
            415
        );
        assert_eq!(status(validate(&headers(Some("5"), None), LIMIT)), 415);
        let err = validate(&headers(Some("5"), Some("video/mp4")), LIMIT).unwrap_err();
        assert!(err.to_string().contains("text/markdown"), "{err}");
    }

    #[test]
    fn malformed_type_is_400() {
        assert_eq!(
            status(validate(&headers(Some("5"), Some("nonsense")), LIMIT)),
            400
        );
    }

    #[test]
    fn filename_from_query_wins_over_disposition() {
        let h = UploadHeaders {
            filename_param: Some("query.md"),
            content_disposition: Some("attachment; filename=\"header.md\""),
            ..headers(Some("5"), Some("text/markdown"))
        };
        assert_eq!(
            validate(&h, LIMIT).unwrap().filename.as_deref(),
            Some("query.md")
        );
    }

    #[test]
    fn reads_quoted_and_extended_disposition_filenames() {
        let cases = [
            (
                "attachment; filename=\"a \\\"b\\\"; c.txt\"",
                "a \"b\"; c.txt",
            ),
            ("inline; filename=plain.txt", "plain.txt"),
            (
                "attachment; filename=\"fallback.txt\"; filename*=UTF-8''na%C3%AFve.txt",
                "naïve.txt",
            ),
        ];
        for (header, expected) in cases {
            assert_eq!(
                filename_from_disposition(header).as_deref(),
                Some(expected),
                "{header}"
            );
        }
    }

    #[test]
    fn path_components_are_stripped() {
        for (name, expected) in [
            ("../../etc/passwd", Some("passwd")),
            ("C:\\Users\\me\\report.txt", Some("report.txt")),
            ("dir/", None),
            ("..", None),
        ] {
            assert_eq!(clean_filename(name).unwrap().as_deref(), expected, "{name}");
        }
    }

    #[test]
    fn quotes_and_sql_are_kept_verbatim() {
        let name = "Robert'); DROP TABLE documents;--\".txt";
        assert_eq!(clean_filename(name).unwrap().as_deref(), Some(name));
    }

    #[test]
    fn control_characters_and_long_names_are_400() {
        for name in ["bad\nname.txt".to_owned(), "x".repeat(256)] {
            let err = clean_filename(&name).unwrap_err();
            assert_eq!(err.code(), "invalid_filename");
            assert_eq!(err.status(), 400);
        }
        assert!(clean_filename(&"x".repeat(255)).is_ok());
    }

    #[test]
    fn idempotency_keys_are_visible_ascii_up_to_255() {
        assert_eq!(idempotency_key(None), Ok(None));
        assert_eq!(idempotency_key(Some(" key-1 ")), Ok(Some("key-1".into())));
        for bad in ["", "   ", "k\u{7}", "schlüssel"] {
            let err = idempotency_key(Some(bad)).unwrap_err();
            assert_eq!(err.code(), "invalid_idempotency_key", "{bad:?}");
        }
        assert!(idempotency_key(Some(&"k".repeat(255))).is_ok());
        assert!(idempotency_key(Some(&"k".repeat(256))).is_err());
    }

    #[test]
    fn replay_returns_the_original_ids_only_for_the_same_bytes() {
        let (document, job) = (DocumentId::new(), JobId::new());
        let original = IdempotentUpload {
            document_id: document,
            job_id: Some(job),
            sha256: Some("aa".repeat(32)),
            size_bytes: 10,
        };
        let accepted = replay(&original, &"aa".repeat(32), 10).unwrap();
        assert_eq!((accepted.document_id, accepted.job_id), (document, job));
        assert_eq!(accepted.status_url, format!("/v1/jobs/{job}"));
        for (digest, size) in [("bb".repeat(32), 10), ("aa".repeat(32), 11)] {
            let err = replay(&original, &digest, size).unwrap_err();
            assert_eq!(err.status(), 422);
            assert_eq!(err.code(), "idempotency_key_reused");
        }
    }

    #[test]
    fn request_id_is_taken_from_the_client_or_generated() {
        assert_eq!(request_id(Some("abc-1")).unwrap().as_str(), "abc-1");
        assert!(request_id(None).is_ok());
        assert_eq!(request_id(Some("a b")).unwrap_err().status(), 400);
    }
}
