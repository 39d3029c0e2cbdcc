//! Logs as one JSON object per line on the Workers console, which Workers Logs ingests as
//! structured fields. Spans carry the ids (`request_id`, `job_id`, `document_id`) and every
//! line lists the fields of all spans it is in, so one upload can be followed from its request
//! to its summary.

use std::sync::Once;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::fmt::time::UtcTime;
use tracing_web::MakeConsoleWriter;

static INIT: Once = Once::new();

/// Installs the subscriber at the level the Worker's `LOG_LEVEL` var names.
pub fn init_from(env: &worker::Env) {
    init(crate::vars(env)(docpipe_pipeline::config::names::LOG_LEVEL));
}

/// Installs the subscriber on first use, at the level named by `level` (`error`, `warn`,
/// `info`, `debug`, `trace`; default `info`).
pub fn init(level: Option<String>) {
    INIT.call_once(|| {
        let parsed = level.as_deref().map(str::parse::<LevelFilter>);
        let filter = match parsed {
            Some(Ok(filter)) => filter,
            _ => LevelFilter::INFO,
        };
        let installed = tracing_subscriber::fmt()
            .json()
            .with_ansi(false)
            .with_timer(UtcTime::rfc_3339())
            .with_writer(MakeConsoleWriter)
            .with_current_span(false)
            .with_span_list(true)
            .with_target(false)
            .with_max_level(filter)
            .try_init();
        if let (Ok(()), Some(Err(e))) = (installed, parsed) {
            tracing::warn!(error = %e, value = ?level, "LOG_LEVEL is invalid, logging at info");
        }
    });
}
