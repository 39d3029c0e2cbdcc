//! # docpipe-docproc
//!
//! Everything docpipe does to a document's bytes, as plain Rust: turn them into text, split the
//! text into sentences, and summarize it. No `worker` dependency and no I/O: the summarizer
//! Worker feeds bytes in and stores what comes out, and every function here runs natively in
//! tests and benchmarks exactly as it runs inside workerd.
//!
//! ## Layout
//! - [`extract`]: bytes + declared media type → UTF-8 text, bounded in size.
//! - [`markdown`]: the Markdown writer extractors describe documents to, and its plain text.
//! - [`sentences`]: text → sentences.
//! - [`summarize`]: the [`Summarizer`] trait, the built-in extractive summarizer, and the
//!   map-reduce over Workers AI or an OpenAI-compatible model.

pub mod extract;
pub mod markdown;
pub mod sentences;
pub mod summarize;

pub use extract::{ExtractError, ExtractLimits, Extracted, Input, extract_text, from_markdown};
pub use sentences::split_sentences;
pub use summarize::{
    Backend, ExtractiveSummarizer, SummarizeError, Summarizer, Summary, SummaryOptions,
};
