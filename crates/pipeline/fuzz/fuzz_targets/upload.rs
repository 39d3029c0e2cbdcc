//! Fuzzes the whole upload path on the pure crates: the request's route and headers (length,
//! type, disposition, `?filename=`, idempotency key, request id) as the upload Worker reads
//! them, then, for an upload that passes, processing of its body as the declared type. Any
//! input must give an answer or an error, never a panic or a hang, and what is accepted must
//! keep the rules: 4xx errors with a JSON body, file names without path, control or format
//! characters, keys and request ids within their alphabets, text within its limit.
#![no_main]

use docpipe_docproc::{ExtractLimits, ExtractiveSummarizer, Input, SummaryOptions, extract_text};
use docpipe_jobs::RequestId;
use docpipe_pipeline::api::{ApiError, Route};
use docpipe_pipeline::upload::{self, UploadHeaders};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    content_length: Option<&'a str>,
    content_type: Option<&'a str>,
    content_disposition: Option<&'a str>,
    filename: Option<&'a str>,
    idempotency_key: Option<&'a str>,
    request_id: Option<&'a str>,
    cut: bool,
    body: &'a [u8],
}

const MAX_UPLOAD_BYTES: u64 = 1 << 20;

fn refused(error: &ApiError) {
    assert!((400..500).contains(&error.status()), "{error:?}");
    let body = error.body("req-1");
    assert_eq!(body["error"]["code"], error.code());
}

fuzz_target!(|request: Request<'_>| {
    if let Err(e) = Route::parse(request.method, request.path) {
        refused(&e);
    }
    if let Some(id) = request.request_id
        && let Ok(id) = RequestId::parse(id)
    {
        let id = id.as_str();
        assert!((1..=64).contains(&id.len()), "{id:?}");
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b)));
    }
    match upload::idempotency_key(request.idempotency_key) {
        // Printable ASCII, spaces only inside, at most 255.
        Ok(Some(key)) => {
            assert!((1..=255).contains(&key.len()), "{key:?}");
            assert!(key.bytes().all(|b| (0x20..0x7f).contains(&b)), "{key:?}");
            assert_eq!(key.trim(), key);
        }
        Ok(None) => assert!(request.idempotency_key.is_none()),
        Err(e) => refused(&e),
    }
    let headers = UploadHeaders {
        content_length: request.content_length,
        content_type: request.content_type,
        content_disposition: request.content_disposition,
        filename_param: request.filename,
    };
    let valid = match upload::validate(&headers, MAX_UPLOAD_BYTES) {
        Ok(valid) => valid,
        Err(e) => return refused(&e),
    };
    assert!(valid.size > 0 && valid.size <= MAX_UPLOAD_BYTES);
    if let Some(name) = &valid.filename {
        assert!(!name.is_empty() && name.len() <= 255, "{name:?}");
        assert!(!name.contains(['/', '\\']), "{name:?}");
        assert!(!name.chars().any(upload::misleading), "{name:?}");
    }
    // The stored body is what arrived: all of it, or its start when it was cut.
    let limits = ExtractLimits {
        max_text_bytes: 1 << 18,
        max_decompressed_bytes: 1 << 22,
        max_pages: 64,
    };
    let input = Input {
        bytes: request.body,
        content_type: &valid.content_type,
        complete: !request.cut,
    };
    if let Ok(extracted) = extract_text(&input, &limits) {
        assert!(extracted.text.len() <= limits.max_text_bytes);
        let _ = ExtractiveSummarizer.summarize_text(&extracted.text, &SummaryOptions::default());
    }
});
