//! # docpipe-jobs
//!
//! The contract between docpipe's two Workers: the upload Worker produces a [`JobMessage`] for
//! every accepted document, the summarizer Worker consumes it. Everything both sides must agree
//! on lives here and nowhere else: the message and its schema version, the id types, the job
//! statuses and the media types the pipeline accepts.
//!
//! This crate depends on serde only (no `worker`), so it compiles and tests natively.
//!
//! ## Layout
//! - [`id`]: [`DocumentId`], [`JobId`] (UUIDv7) and [`RequestId`].
//! - [`message`]: [`JobMessage`], versioned, with a decoder that rejects unknown versions.
//! - [`status`]: [`JobStatus`], the job's lifecycle.
//! - [`media`]: [`MediaType`] and [`ContentType`], what an upload may declare.
//! - [`webhook`]: [`DeliveryMessage`], the wake-up call for one webhook delivery.

pub mod id;
pub mod media;
pub mod message;
pub mod status;
pub mod usage;
pub mod webhook;

pub use id::{DocumentId, IdError, JobId, RequestId};
pub use media::{ContentType, MediaType, MediaTypeError};
pub use message::{DecodeError, JobMessage, SCHEMA_VERSION};
pub use status::{JobStatus, UnknownStatus};
pub use usage::Usage;
pub use webhook::DeliveryMessage;
