//! The Worker's `fetch` as the [`Origin`] of documents named by URL: a `GET` whose redirects
//! are answered, not followed, so the pipeline checks each target first. The body stays a
//! stream for the upload sink.

use docpipe_pipeline::ports::{Origin, OriginError, OriginResponse};
use web_sys::ReadableStream;
use worker::{Fetch, Headers, Method, Request, RequestInit, RequestRedirect};

/// What docpipe says it is when it fetches a document.
const USER_AGENT: &str = "docpipe-fetch/1 (+https://github.com/docpipe)";

/// Fetches documents from their origins.
#[derive(Debug, Clone, Copy, Default)]
pub struct FetchOrigin;

impl Origin for FetchOrigin {
    type Body = ReadableStream;

    async fn get(&self, url: &str) -> Result<OriginResponse<ReadableStream>, OriginError> {
        let error = |e: worker::Error| OriginError(e.to_string());
        let headers = Headers::new();
        headers.set("User-Agent", USER_AGENT).map_err(error)?;
        headers.set("Accept", "*/*").map_err(error)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Get)
            .with_headers(headers)
            .with_redirect(RequestRedirect::Manual);
        let request = Request::new_with_init(url, &init).map_err(error)?;
        let response = Fetch::Request(request).send().await.map_err(error)?;
        let header = |name: &str| response.headers().get(name).ok().flatten();
        let answer = OriginResponse {
            status: response.status_code(),
            location: header("Location"),
            content_type: header("Content-Type"),
            content_disposition: header("Content-Disposition"),
            content_length: header("Content-Length").and_then(|value| value.trim().parse().ok()),
            body: None,
        };
        let body = web_sys::Response::from(response).body();
        Ok(OriginResponse { body, ..answer })
    }
}
