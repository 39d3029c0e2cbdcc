//! # docpipe-pipeline
//!
//! What docpipe's Workers do, without the Workers: the HTTP API's routes, errors and bodies,
//! upload validation, the SQL that moves jobs through their states, and the processing of one
//! job over storage and summarizer traits. The Worker crates are adapters that read requests,
//! bindings and messages into these types and back.
//!
//! No `worker` dependency: everything here compiles and tests natively; the SQL is tested
//! against SQLite with the real migrations.
//!
//! ## Layout
//! - [`api`]: routes, [`api::ApiError`] (status + stable code), response bodies.
//! - [`auth`]: API keys, tenants, scopes.
//! - [`cors`]: which web pages may call the API.
//! - [`quota`]: per-tenant quotas.
//! - [`upload`]: header checks that run before a byte is stored.
//! - [`ingest`]: the upload protocol: store, record, enqueue, or clean up.
//! - [`fetch`]: the `fetching` stage of a job whose document was named by URL.
//! - [`listing`]: listing documents and jobs: filters, pages, cursors.
//! - [`remote`]: which URLs docpipe fetches documents from.
//! - [`resumable`]: resumable uploads (tus 1.0.0), part by part into R2.
//! - [`search`]: full-text search: what is indexed, reading a query.
//! - [`webhooks`]: signed events of finished jobs, their delivery and its retries.
//! - [`objects`]: where documents and their texts live in R2.
//! - [`text`]: the views of a document's text (plain, Markdown, a page).
//! - [`ports`]: the traits the Workers implement over D1, R2, Queues and the clock.
//! - [`db`]: [`db::Statement`], SQL values and database errors.
//! - [`store`]: every statement docpipe runs, by feature; the job state machine.
//! - [`process`]: one job from message to summary, and what to tell the queue.
//! - [`consume`]: a queue message's raw body to an ack or a retry (decoding, dead letters).
//! - [`budget`]: the memory budget concurrent jobs share.
//! - [`sweep`]: the scheduled re-enqueue of lost jobs and clean-up of orphan uploads.
//! - [`config`]: typed, validated vars; binding names.
//! - [`time`]: timestamps and the [`time::Clock`] trait.

pub mod api;
pub mod auth;
pub mod budget;
pub mod config;
pub mod consume;
pub mod cors;
pub mod db;
pub mod fetch;
pub mod ingest;
pub mod listing;
pub mod objects;
pub mod ports;
pub mod process;
pub mod quota;
pub mod remote;
pub mod resumable;
pub mod search;
pub mod store;
pub mod sweep;
pub mod text;
pub mod time;
pub mod upload;
pub mod usage;
pub mod webhooks;

#[cfg(test)]
mod sqlite;
#[cfg(test)]
mod testing;
