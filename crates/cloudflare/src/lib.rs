//! # docpipe-cloudflare
//!
//! The adapters both Workers share, each a translation between a binding and a port of
//! `docpipe_pipeline::ports`; the decisions live in `docpipe-pipeline`.
//!
//! ## Layout
//! - [`bindings`]: finding the Worker's bindings, with one error naming what is missing.
//! - [`d1`]: D1 as the `Database`.
//! - [`r2`] and [`stream`]: R2 as the upload sink (bodies streamed in while hashed), the
//!   document source and the sweep's deleter.
//! - [`queue`]: the jobs queue.
//! - [`ai`]: the Workers AI binding and `fetch` for the model backends.
//! - [`origin`]: `fetch` for documents named by URL.
//! - [`webhooks`]: the webhooks queue, and `fetch` posting events to receivers.
//! - [`usage`]: billed operations counted as they happen, for the logs.
//! - [`runtime`]: the Workers clock and vars; [`logging`]: JSON logs to the console;
//!   [`js`]: thrown JavaScript values as text.

pub mod ai;
pub mod bindings;
pub mod d1;
pub mod form;
pub mod js;
pub mod logging;
pub mod origin;
pub mod queue;
pub mod r2;
pub mod runtime;
pub mod stream;
pub mod usage;
pub mod webhooks;

pub use ai::{AiBinding, FetchClient};
pub use bindings::BindingError;
pub use d1::D1;
pub use origin::FetchOrigin;
pub use queue::JobsQueue;
pub use r2::{R2Documents, R2Objects, R2Uploads};
pub use runtime::{WorkerClock, vars, wasm_memory_bytes};
pub use webhooks::{FetchSender, WebhooksQueue};
