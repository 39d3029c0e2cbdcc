//! Deciding whether an upload may proceed, from its headers alone, before a byte is stored.
//!
//! Checks run in this order, so a client sees the most fundamental problem first:
//! `411` no `Content-Length` → `400` bad length → `413` over the limit → `400` empty body →
//! `415` missing or unsupported media type → `400` bad filename or request id.

use docpipe_jobs::{ContentType, MediaType, MediaTypeError, RequestId};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::api::{ApiError, UploadAccepted};
use crate::ports::BodyLength;
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
    /// `Content-Length`, or, for a body without one (chunked), at most the upload limit.
    pub length: BodyLength,
    pub content_type: ContentType,
    pub filename: Option<String>,
}

pub fn validate(headers: &UploadHeaders<'_>, max_bytes: u64) -> Result<ValidUpload, ApiError> {
    let length = match headers.content_length {
        None => BodyLength::AtMost(max_bytes),
        Some(raw_length) => {
            let size: u64 =
                raw_length
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
            BodyLength::Exactly(size)
        }
    };
    let content_type = ContentType::parse(headers.content_type).map_err(media_error)?;
    let filename = match (headers.filename_param, headers.content_disposition) {
        (Some(name), _) => Some(name.to_owned()),
        (None, Some(header)) => filename_from_disposition(header)?,
        (None, None) => None,
    };
    let filename = filename.map(|name| clean_filename(&name)).transpose()?;
    Ok(ValidUpload {
        length,
        content_type,
        filename: filename.flatten(),
    })
}

fn accepted() -> String {
    MediaType::accepted().collect::<Vec<_>>().join(", ")
}

/// A `Content-Type`'s media type without its parameters.
pub fn essence(content_type: Option<&str>) -> Option<&str> {
    content_type
        .and_then(|value| value.split(';').next())
        .map(str::trim)
}

/// Whether a `Content-Type` names `media` (case aside), whatever its parameters.
pub fn essence_is(content_type: Option<&str>, media: &str) -> bool {
    essence(content_type).is_some_and(|essence| essence.eq_ignore_ascii_case(media))
}

/// Whether a request's `Content-Type` is a form (`multipart/form-data`), whose file parts are
/// documents.
pub fn is_form(content_type: Option<&str>) -> bool {
    essence_is(content_type, "multipart/form-data")
}

/// A file part of a form, as an upload of unknown length: its own `Content-Type` (a part
/// without one is `application/octet-stream`, read by its bytes) and its file name, under the
/// same rules as a whole request's.
pub fn validate_part(
    filename: Option<&str>,
    content_type: Option<&str>,
    max_bytes: u64,
) -> Result<ValidUpload, ApiError> {
    let content_type = ContentType::parse(Some(content_type.unwrap_or("application/octet-stream")))
        .map_err(media_error)?;
    let filename = filename.map(clean_filename).transpose()?.flatten();
    Ok(ValidUpload {
        length: BodyLength::AtMost(max_bytes),
        content_type,
        filename,
    })
}

/// The largest body read as a possible URL request; a larger JSON body is a document.
pub const MAX_URL_REQUEST_BYTES: u64 = 8 * 1024;

/// A document named by URL, for docpipe to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRequest {
    pub url: String,
    pub filename: Option<String>,
    /// Where the document's webhook events also go (checked with the URL).
    pub callback_url: Option<String>,
}

/// Whether an upload's `Content-Type` and `Content-Length` may make it a URL request: JSON of
/// at most [`MAX_URL_REQUEST_BYTES`].
pub fn may_be_url_request(content_type: Option<&str>, content_length: Option<&str>) -> bool {
    let json = essence_is(content_type, "application/json");
    let small = content_length
        .and_then(|length| length.trim().parse::<u64>().ok())
        .is_some_and(|length| length <= MAX_URL_REQUEST_BYTES);
    json && small
}

/// A small JSON body read as a URL request: an object whose keys are `url` (or `file_url`)
/// and, optionally, `filename`, and nothing else. `None` when it is not one (it is then a
/// JSON document to store).
pub fn url_request(body: &[u8]) -> Option<Result<UrlRequest, ApiError>> {
    const KEYS: [&str; 4] = ["url", "file_url", "filename", "callback_url"];
    let serde_json::Value::Object(fields) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    let names_a_url = fields.contains_key("url") || fields.contains_key("file_url");
    if !names_a_url || fields.keys().any(|key| !KEYS.contains(&key.as_str())) {
        return None;
    }
    let invalid = |reason: &str| ApiError::InvalidUrlRequest {
        reason: reason.into(),
    };
    let text = |key: &str| match fields.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(invalid(&format!("`{key}` must be a string"))),
    };
    Some((|| {
        let url = match (text("url")?, text("file_url")?) {
            (Some(a), Some(b)) if a != b => {
                return Err(invalid("`url` and `file_url` name different URLs"));
            }
            (Some(url), _) | (None, Some(url)) => url,
            (None, None) => return Err(invalid("the URL is missing")),
        };
        let filename = text("filename")?
            .map(|name| clean_filename(&name))
            .transpose()?
            .flatten();
        Ok(UrlRequest {
            url,
            filename,
            callback_url: text("callback_url")?,
        })
    })())
}

/// A document fetched from its origin, as an upload of unknown length: the origin's
/// `Content-Type` (none is `application/octet-stream`, read by its bytes) and a file name, the
/// client's if it gave one, else the origin's `Content-Disposition`, else the URL's last path
/// segment, under the same rules as an upload's.
pub fn validate_fetched(
    client_filename: Option<&str>,
    content_type: Option<&str>,
    content_disposition: Option<&str>,
    url_filename: Option<String>,
    max_bytes: u64,
) -> Result<ValidUpload, ApiError> {
    let filename = match (client_filename, content_disposition) {
        (Some(name), _) => Some(name.to_owned()),
        (None, Some(header)) => filename_from_disposition(header)?.or(url_filename),
        (None, None) => url_filename,
    };
    validate_part(filename.as_deref(), content_type, max_bytes)
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

/// The file name of a `Content-Disposition` (RFC 6266): `filename*` (RFC 8187, UTF-8 or
/// ISO-8859-1, percent-encoded) in preference to `filename`. A header that does not parse, or a
/// `filename*` that does not decode, is refused rather than read some other way.
fn filename_from_disposition(header: &str) -> Result<Option<String>, ApiError> {
    let invalid = |e: parse_net::ParseError| ApiError::InvalidFilename {
        reason: format!("Content-Disposition: {e}"),
    };
    let disposition = parse_net::parse_content_disposition(header.as_bytes()).map_err(invalid)?;
    let Some(name) = disposition.filename() else {
        return Ok(None);
    };
    let mut decoded = vec![0; name.max_decoded_len()];
    let name = name.decode_into(&mut decoded).map_err(invalid)?;
    Ok(Some(name.to_owned()))
}

/// Keeps the last path component; refuses over-long names and names with characters that
/// make a name show something other than what it is: controls, line and paragraph separators,
/// and format characters (Unicode category Cf: bidirectional controls such as U+202E that turn
/// `invoice\u{202e}fdp.exe` into "invoiceexe.pdf" on screen, zero-width spaces and joiners, the
/// BOM, soft hyphens, tags). The name is only ever stored and shown, never used as a path or
/// key, so quotes, SQL and the like are kept as given.
fn clean_filename(name: &str) -> Result<Option<String>, ApiError> {
    if let Some((at, c)) = name.char_indices().find(|&(_, c)| misleading(c)) {
        return Err(ApiError::InvalidFilename {
            reason: format!(
                "{} U+{:04X} at byte {at} is not allowed in a file name",
                misleading_kind(c),
                u32::from(c)
            ),
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

/// Whether a file name may not contain `c`: controls, line and paragraph separators, and
/// format characters: the rule `validate` applies to every file name.
pub fn misleading(c: char) -> bool {
    c.is_control()
        || matches!(
            c.general_category(),
            GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
}

fn misleading_kind(c: char) -> &'static str {
    match c {
        '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{061c}' => "bidirectional control",
        '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}' => "zero-width character",
        c if c.is_control() => "control character",
        _ => "invisible format character",
    }
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
        assert_eq!(upload.length, BodyLength::Exactly(12));
        assert_eq!(upload.content_type.media_type, MediaType::PlainText);
        assert_eq!(upload.filename, None);
    }

    #[test]
    fn form_parts_are_uploads_of_unknown_length_under_the_same_rules() {
        assert!(is_form(Some("multipart/form-data; boundary=x")));
        assert!(is_form(Some("Multipart/Form-Data")));
        assert!(!is_form(Some("text/plain")) && !is_form(None));
        let part = validate_part(Some("dir/report.md"), Some("text/markdown"), LIMIT).unwrap();
        assert_eq!(part.length, BodyLength::AtMost(LIMIT));
        assert_eq!(part.filename.as_deref(), Some("report.md"));
        assert_eq!(part.content_type.media_type, MediaType::Markdown);
        let untyped = validate_part(Some("scan.pdf"), None, LIMIT).unwrap();
        assert_eq!(untyped.content_type.media_type, MediaType::Unspecified);
        let err = validate_part(Some("a\u{202e}b.txt"), Some("text/plain"), LIMIT).unwrap_err();
        assert_eq!(err.code(), "invalid_filename");
        let err =
            validate_part(Some("x.exe"), Some("application/x-msdownload"), LIMIT).unwrap_err();
        assert_eq!(err.status(), 415);
    }

    #[test]
    fn a_body_without_a_length_may_be_up_to_the_limit() {
        assert_eq!(
            validate(&headers(None, Some("text/plain")), LIMIT)
                .unwrap()
                .length,
            BodyLength::AtMost(LIMIT)
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
        let err = validate(&headers(Some("101"), Some("image/gif")), LIMIT).unwrap_err();
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
            status(validate(&headers(Some("5"), Some("image/gif")), LIMIT)),
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
                filename_from_disposition(header).unwrap().as_deref(),
                Some(expected),
                "{header}"
            );
        }
    }

    #[test]
    fn decodes_rfc_8187_names_in_latin_1_and_refuses_broken_ones() {
        for (header, expected) in [
            ("attachment; filename*=ISO-8859-1''caf%E9.txt", "café.txt"),
            (
                "attachment; filename*=utf-8'en'%E2%82%AC%20rates.txt",
                "€ rates.txt",
            ),
            (
                "attachment; filename*=UTF-8''plain.txt; filename=\"x.txt\"",
                "plain.txt",
            ),
        ] {
            assert_eq!(
                filename_from_disposition(header).unwrap().as_deref(),
                Some(expected),
                "{header}"
            );
        }
        assert_eq!(filename_from_disposition("inline").unwrap(), None);
        for header in [
            // Truncated escape, invalid UTF-8, unknown charset, a control once decoded.
            "attachment; filename*=UTF-8''report%E",
            "attachment; filename*=UTF-8''%FF.txt",
            "attachment; filename*=KOI8-R''%E1.txt",
            "attachment; filename*=UTF-8''a%0Ab.txt",
            "attachment; filename=\"unterminated",
        ] {
            let err = filename_from_disposition(header).unwrap_err();
            assert_eq!(err.code(), "invalid_filename", "{header}");
            assert!(err.to_string().contains("Content-Disposition"), "{err}");
        }
    }

    #[test]
    fn names_that_display_other_than_they_are_are_refused_naming_the_character() {
        for (name, kind) in [
            (
                "invoice\u{202e}fdp.exe",
                "bidirectional control U+202E at byte 7",
            ),
            (
                "\u{2067}report.pdf",
                "bidirectional control U+2067 at byte 0",
            ),
            ("in\u{200b}voice.pdf", "zero-width character U+200B"),
            ("\u{feff}notes.txt", "zero-width character U+FEFF"),
            ("soft\u{ad}hyphen.txt", "invisible format character U+00AD"),
            ("tag\u{e0041}.txt", "invisible format character U+E0041"),
            ("line\u{2028}break.txt", "invisible format character U+2028"),
            ("bell\u{7}.txt", "control character U+0007"),
        ] {
            let err = clean_filename(name).unwrap_err();
            assert_eq!(err.code(), "invalid_filename");
            assert!(err.to_string().contains(kind), "{name:?}: {err}");
        }
        for fine in [
            "naïve résumé.txt",
            "日本語.pdf",
            "отчёт 2026.docx",
            "a😀b.md",
        ] {
            assert_eq!(clean_filename(fine).unwrap().as_deref(), Some(fine));
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

    #[test]
    fn a_small_json_object_naming_a_url_is_a_url_request() {
        assert!(may_be_url_request(
            Some("application/json; charset=utf-8"),
            Some("60")
        ));
        assert!(!may_be_url_request(Some("application/json"), Some("8193")));
        assert!(!may_be_url_request(Some("application/json"), None));
        assert!(!may_be_url_request(Some("text/plain"), Some("60")));
        let read = |json: &str| url_request(json.as_bytes());
        assert_eq!(
            read(r#"{"url": "https://example.com/a.pdf", "filename": "a.pdf"}"#),
            Some(Ok(UrlRequest {
                url: "https://example.com/a.pdf".into(),
                filename: Some("a.pdf".into()),
                callback_url: None,
            }))
        );
        assert_eq!(
            read(r#"{"file_url": "https://example.com/b"}"#),
            Some(Ok(UrlRequest {
                url: "https://example.com/b".into(),
                filename: None,
                callback_url: None,
            }))
        );
        // Any other JSON is a document.
        for document in [
            r#"{"url": "x", "title": "a"}"#,
            r#"{"name": 1}"#,
            "[1]",
            "{",
        ] {
            assert_eq!(read(document), None, "{document}");
        }
        let refused = |json: &str| read(json).unwrap().unwrap_err().code();
        assert_eq!(refused(r#"{"url": 7}"#), "invalid_url_request");
        assert_eq!(
            refused(r#"{"url": "https://a.example/x", "file_url": "https://b.example/x"}"#),
            "invalid_url_request"
        );
        assert_eq!(refused(r#"{"url": null}"#), "invalid_url_request");
        assert_eq!(
            refused(r#"{"url": "https://a.example/x", "filename": "a\u202efdp.exe"}"#),
            "invalid_filename"
        );
    }
}
