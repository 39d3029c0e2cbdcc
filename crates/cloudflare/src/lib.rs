//! # docpipe-cloudflare
//!
//! The adapters both Workers share: D1 as a [`docpipe_pipeline::db::Database`], R2 as a
//! [`docpipe_pipeline::process::DocumentSource`], the jobs queue, streaming uploads with a
//! running SHA-256, the Workers clock, vars lookup, and logging to the Workers console. Each is a translation between a binding and a pipeline type; the
//! decisions live in `docpipe-pipeline`.

pub mod ai;
pub mod d1;
pub mod logging;
pub mod queue;
pub mod r2;
pub mod runtime;
pub mod stream;

pub use ai::{AiBinding, FetchClient};
pub use d1::D1;
pub use queue::JobsQueue;
pub use r2::{R2Documents, R2Objects};
pub use runtime::{WorkerClock, vars};
