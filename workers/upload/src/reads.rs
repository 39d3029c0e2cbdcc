//! Reading jobs, documents, summaries and extracted text, the caller's tenant's only: another
//! tenant's id answers as an id that does not exist.

use docpipe_cloudflare::bindings;
use docpipe_jobs::{DocumentId, JobId, RequestId};
use docpipe_pipeline::api::{ApiError, JobView, summary_answer, text_missing};
use docpipe_pipeline::auth::Principal;
use docpipe_pipeline::ingest::unavailable;
use docpipe_pipeline::listing;
use docpipe_pipeline::objects::text_key;
use docpipe_pipeline::store::SummaryLookup;
use docpipe_pipeline::text::{self, Format, markdown_key};
use tracing::error;
use worker::{Env, Range, Request, Response};

use crate::{ApiResult, internal, json, platform, set_header};

pub async fn job(env: &Env, caller: &Principal, id: &JobId, request_id: &RequestId) -> ApiResult {
    let job = bindings::store(env)
        .map_err(internal)?
        .job(&caller.tenant, id)
        .await
        .map_err(unavailable("reading a job"))?
        .ok_or(ApiError::JobNotFound)?;
    json(200, &JobView::from(job), request_id)
}

pub async fn document(
    env: &Env,
    caller: &Principal,
    id: &DocumentId,
    request_id: &RequestId,
) -> ApiResult {
    let document = bindings::store(env)
        .map_err(internal)?
        .document(&caller.tenant, id)
        .await
        .map_err(unavailable("reading a document"))?
        .ok_or(ApiError::DocumentNotFound)?;
    json(200, &document, request_id)
}

pub async fn summary(
    env: &Env,
    caller: &Principal,
    id: &DocumentId,
    request_id: &RequestId,
) -> ApiResult {
    let lookup = bindings::store(env)
        .map_err(internal)?
        .latest_summary(&caller.tenant, id)
        .await
        .map_err(unavailable("reading a summary"))?;
    json(200, &summary_answer(lookup)?, request_id)
}

/// `GET /v1/documents/{id}/text`: the text the summary was made from, streamed from R2; as
/// Markdown with `?format=markdown`, one page of either with `?page=N`.
pub async fn text(
    req: &Request,
    env: &Env,
    caller: &Principal,
    id: &DocumentId,
    request_id: &RequestId,
) -> ApiResult {
    let query = text::parse(&query_pairs(req))?;
    let store = bindings::store(env).map_err(internal)?;
    let document = store
        .document(&caller.tenant, id)
        .await
        .map_err(unavailable("reading a document"))?
        .ok_or(ApiError::DocumentNotFound)?;
    let bucket = bindings::documents(env).map_err(internal)?.0;
    let read_range = |key: String, range: Option<Range>| {
        let get = bucket.get(key);
        let get = match range {
            Some(range) => get.range(range),
            None => get,
        }
        .execute();
        async move {
            get.await.map_err(|e| {
                error!(error = %e, "reading the text failed");
                ApiError::Unavailable
            })
        }
    };
    let read = |key: String| read_range(key, None);
    let mut content_type = query.format.content_type().to_owned();
    let object = match read(text_key(&document.object_key)).await? {
        Some(plain) => {
            // Text with no Markdown of its own reads the same as Markdown; a Markdown document
            // is its own.
            let markdown = plain
                .custom_metadata()
                .ok()
                .and_then(|mut metadata| metadata.remove(text::HAS_MARKDOWN));
            match (query.format, markdown.as_deref()) {
                (Format::Markdown, Some(text::MARKDOWN_BESIDE)) => {
                    read(markdown_key(&document.object_key))
                        .await?
                        .unwrap_or(plain)
                }
                (Format::Markdown, Some(text::MARKDOWN_IS_DOCUMENT)) => {
                    match read(document.object_key.clone()).await? {
                        Some(original) => {
                            content_type = text::document_markdown_type(&document.content_type);
                            original
                        }
                        None => plain,
                    }
                }
                _ => plain,
            }
        }
        None => {
            let lookup = store
                .latest_summary(&caller.tenant, id)
                .await
                .map_err(unavailable("reading a job"))?;
            // Plain text that needed no cleaning is its own text (and reads the same as
            // Markdown): the document's bytes where the text is.
            let range = match &lookup {
                SummaryLookup::Ready(row) => row.content.text_range(),
                _ => None,
            };
            let Some((offset, length)) = range else {
                return Err(text_missing(lookup));
            };
            let range = Range::OffsetWithLength { offset, length };
            read_range(document.object_key.clone(), Some(range))
                .await?
                .ok_or_else(|| text_missing(lookup))?
        }
    };
    let body = object.body().ok_or(ApiError::Internal)?;
    let mut response = match query.page {
        None => {
            let body = body.response_body().map_err(platform("R2 body"))?;
            Response::from_body(body).map_err(platform("response"))?
        }
        Some(number) => {
            let all = body.text().await.map_err(platform("R2 body"))?;
            let (page, pages) = text::page(&all, number)?;
            let mut response = Response::ok(page.to_owned()).map_err(platform("response"))?;
            set_header(&mut response, "X-Page-Count", &pages.to_string());
            response
        }
    };
    set_header(&mut response, "Content-Type", &content_type);
    set_header(&mut response, "X-Request-Id", request_id.as_str());
    set_header(&mut response, "Cache-Control", "no-store");
    Ok(response)
}

/// The request's query parameters, percent-decoded.
pub(crate) fn query_pairs(req: &Request) -> Vec<(String, String)> {
    req.url()
        .map(|url| {
            url.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /v1/documents`: a page of the caller's documents.
pub async fn documents(
    req: &Request,
    env: &Env,
    caller: &Principal,
    request_id: &RequestId,
) -> ApiResult {
    let query = listing::parse(&query_pairs(req), true)?;
    let rows = bindings::store(env)
        .map_err(internal)?
        .list_documents(&caller.tenant, &query)
        .await
        .map_err(unavailable("listing documents"))?;
    let (documents, next_cursor) = listing::page(rows, query.limit, |d| d.document_id.to_string());
    json(
        200,
        &serde_json::json!({ "documents": documents, "next_cursor": next_cursor }),
        request_id,
    )
}

/// `GET /v1/jobs`: a page of the caller's jobs.
pub async fn jobs(
    req: &Request,
    env: &Env,
    caller: &Principal,
    request_id: &RequestId,
) -> ApiResult {
    let query = listing::parse(&query_pairs(req), false)?;
    let rows = bindings::store(env)
        .map_err(internal)?
        .list_jobs(&caller.tenant, &query)
        .await
        .map_err(unavailable("listing jobs"))?;
    let (jobs, next_cursor) = listing::page(rows, query.limit, |j| j.id.to_string());
    let jobs: Vec<JobView> = jobs.into_iter().map(JobView::from).collect();
    json(
        200,
        &serde_json::json!({ "jobs": jobs, "next_cursor": next_cursor }),
        request_id,
    )
}

/// `GET /v1/search?q=`: the caller's documents that match, best first.
pub async fn search(
    req: &Request,
    env: &Env,
    caller: &Principal,
    request_id: &RequestId,
) -> ApiResult {
    let query = docpipe_pipeline::search::parse(&query_pairs(req))?;
    let results = bindings::store(env)
        .map_err(internal)?
        .search(&caller.tenant, &query)
        .await
        .map_err(|e| match docpipe_pipeline::search::query_error(&e) {
            Some(refused) => refused,
            None => unavailable("searching")(e),
        })?;
    json(200, &serde_json::json!({ "results": results }), request_id)
}
