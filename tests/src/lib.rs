//! # docpipe-e2e
//!
//! A harness that runs the real pipeline for end-to-end tests: both Workers in one
//! `wrangler dev` (workerd), on free ports, with a temporary `--persist-to` directory holding
//! local R2, D1 and queue state. Tests talk to it over HTTP, read D1 with SQL, and read its
//! logs. Dropping a [`Pipeline`] stops every process it started, also when a test fails.
//!
//! The Workers must be built first (`scripts/build`); `scripts/test` does that.
//!
//! ## Layout
//! - [`pipeline`]: starting, restarting, killing and stopping a pipeline; its logs.
//! - [`configs`]: [`Options`], and the configs of a run written by the generator
//!   `scripts/dev` uses.
//! - [`runtime`]: processes: `wrangler dev` in its own group, ports, the runtime's pid and
//!   memory, the JavaScript baseline Worker.
//! - [`storage`]: the local D1 and R2 as miniflare keeps them on disk.
//! - [`http`] and [`api`]: requests (ureq, or a raw socket where that is the point) and the
//!   API's bodies, typed.
//! - [`load`]: many uploads at once, and the exactly-once tally; [`openai_fake`]: a local
//!   OpenAI-compatible server.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

pub mod api;
pub mod configs;
pub mod http;
pub mod load;
pub mod openai_fake;
pub mod pipeline;
pub mod quality;
pub mod runtime;
pub mod storage;
pub mod wasm;

pub use configs::Options;
pub use http::{HttpResponse, raw_request, request};
pub use pipeline::Pipeline;
pub use runtime::{
    Baseline, main_thread_cpu_ms, rss_bytes, runtime_pid, with_peak_rss, wrangler_command,
};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Calls `check` every `interval` until it returns `Some`, for at most `timeout`. The one
/// poller of the harness and the tests: nothing waits a fixed time for something to happen.
pub fn poll<T>(
    timeout: Duration,
    interval: Duration,
    mut check: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("condition not met within {timeout:?}");
        }
        std::thread::sleep(interval);
    }
}

/// [`poll`] every half second.
pub fn eventually<T>(timeout: Duration, check: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    poll(timeout, Duration::from_millis(500), check)
}
