//! Fuzzes the whole upload path on the pure crates: the request's route and headers (length,
//! type, disposition, `?filename=`, idempotency key, request id) as the upload Worker reads
//! them, then, for an upload that passes, processing of its body as the declared type; and the
//! other request readers: a JSON URL request and the URL rules, listing and search queries,
//! tus headers. Any input must give an answer or an error, never a panic or a hang, and what
//! is accepted must keep the rules: 4xx errors with a JSON body, file names without path,
//! control or format characters, keys and request ids within their alphabets, URLs that are
//! http(s) without credentials, text within its limit.
#![no_main]

use docpipe_docproc::{ExtractLimits, ExtractiveSummarizer, Input, SummaryOptions, extract_text};
use docpipe_jobs::RequestId;
use docpipe_pipeline::api::{ApiError, Route};
use docpipe_pipeline::ports::BodyLength;
use docpipe_pipeline::remote::{self, AllowedHosts};
use docpipe_pipeline::webhooks;
use docpipe_pipeline::resumable::{self, TusHeaders};
use docpipe_pipeline::upload::{self, UploadHeaders};
use docpipe_pipeline::{listing, search};
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
    /// Query parameters, for the listing and search readers.
    query: Vec<(String, String)>,
    /// tus headers: Upload-Length, Upload-Metadata, Upload-Checksum.
    tus: (Option<&'a str>, Option<&'a str>, Option<&'a str>),
    /// A redirect target, resolved against the body's URL.
    location: &'a str,
}

const MAX_UPLOAD_BYTES: u64 = 1 << 20;

fn refused(error: &ApiError) {
    assert!((400..500).contains(&error.status()), "{error:?}");
    let body = error.body("req-1");
    assert_eq!(body["error"]["code"], error.code());
}

/// The readers of URL requests, queries and tus headers.
fn other_readers(request: &Request<'_>) {
    if let Some(read) = upload::url_request(request.body) {
        match read {
            Ok(url_request) => {
                if let Ok(url) = remote::check(&url_request.url, &AllowedHosts::default()) {
                    assert!(matches!(url.scheme(), "http" | "https"), "{url}");
                    assert!(url.username().is_empty() && url.password().is_none(), "{url}");
                    if let Ok(next) = remote::redirect(&url, request.location, &AllowedHosts::default()) {
                        assert!(matches!(next.scheme(), "http" | "https"), "{next}");
                    }
                    let _ = remote::filename(&url);
                }
            }
            Err(e) => refused(&e),
        }
    }
    for documents in [true, false] {
        match listing::parse(&request.query, documents) {
            Ok(query) => assert!((1..=listing::MAX_LIMIT).contains(&query.limit)),
            Err(e) => refused(&e),
        }
    }
    match webhooks::endpoint_request(request.body, &AllowedHosts::default()) {
        Ok(endpoint) => {
            assert!(remote::check(&endpoint.url, &AllowedHosts::default()).is_ok());
            assert!(!endpoint.events.is_empty());
            assert!(endpoint.events.iter().all(|e| webhooks::EVENT_TYPES.contains(&e.as_str())));
        }
        Err(e) => refused(&e),
    }
    match webhooks::deliveries_query(&request.query) {
        Ok(query) => assert!((1..=listing::MAX_LIMIT).contains(&query.limit)),
        Err(e) => refused(&e),
    }
    match search::parse(&request.query) {
        Ok(query) => assert!(!query.q.is_empty() && query.q.len() <= search::MAX_QUERY_BYTES),
        Err(e) => refused(&e),
    }
    let tus = TusHeaders {
        tus_resumable: Some(resumable::TUS_VERSION),
        upload_length: request.tus.0,
        upload_metadata: request.tus.1,
        upload_checksum: request.tus.2,
        ..TusHeaders::default()
    };
    match resumable::creation(&tus, MAX_UPLOAD_BYTES) {
        Ok((length, _)) => assert!(length > 0 && length <= MAX_UPLOAD_BYTES),
        Err(e) => refused(&e),
    }
    if let Err(e) = resumable::checksum(&tus) {
        refused(&e);
    }
}

fuzz_target!(|request: Request<'_>| {
    other_readers(&request);
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
    match valid.length {
        BodyLength::Exactly(size) => assert!(size > 0 && size <= MAX_UPLOAD_BYTES),
        BodyLength::AtMost(limit) => assert_eq!(limit, MAX_UPLOAD_BYTES),
    }
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
