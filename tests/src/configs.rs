//! How a pipeline is laid out: [`Options`], written into wrangler configs by
//! `scripts/wrangler-configs.mjs`, the generator `scripts/dev` uses.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};

use crate::root;

/// How to start a pipeline.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `NAME:value` pairs overriding both Workers' vars.
    pub vars: Vec<String>,
    /// Overrides the jobs queue consumer's `max_batch_size`.
    pub max_batch_size: Option<u32>,
    /// Overrides the jobs queue consumer's `max_retries`.
    pub max_retries: Option<u32>,
    /// Runs the summarizer Worker alone, from its bench build (`scripts/build --bench`), so its
    /// timing endpoints are reachable.
    pub summarizer_alone: bool,
    /// Summarizes with Workers AI through the local stand-in (`tests/standin/ai.js`).
    pub ai_standin: bool,
    /// Starts `wrangler dev` without `--test-scheduled`, so `/__scheduled` is not served, as in
    /// production.
    pub without_test_scheduled: bool,
    /// V8's flags for the runtime (`MINIFLARE_WORKERD_V8_FLAGS`), for measurements.
    pub v8_flags: Option<String>,
}

impl Options {
    /// `NAME:value` vars for every Worker.
    pub fn with_vars<S: Into<String>>(vars: impl IntoIterator<Item = S>) -> Self {
        Self {
            vars: vars.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Workers AI through the stand-in, with `vars` for every Worker (the stand-in's too).
    pub fn ai_standin<S: Into<String>>(vars: impl IntoIterator<Item = S>) -> Self {
        Self {
            ai_standin: true,
            ..Self::with_vars(vars)
        }
    }
}

/// Writes the configs of this run into `dir/config` with `scripts/wrangler-configs.mjs` (the
/// generator `scripts/dev` uses) and returns their paths, the upload Worker's first.
pub(crate) fn write_configs(dir: &Path, options: &Options) -> Result<Vec<PathBuf>> {
    let mut command = Command::new("node");
    command
        .current_dir(root())
        .arg("scripts/wrangler-configs.mjs")
        .arg("--out")
        .arg(dir.join("config"))
        .args(["--ai", if options.ai_standin { "standin" } else { "off" }]);
    for pair in &options.vars {
        let (name, value) = pair.split_once(':').context("vars are NAME:value")?;
        command.arg(format!("--var={name}={value}"));
    }
    if let Some(size) = options.max_batch_size {
        command.args(["--batch-size", &size.to_string()]);
    }
    if let Some(retries) = options.max_retries {
        command.args(["--max-retries", &retries.to_string()]);
    }
    if options.summarizer_alone {
        command.arg("--bench-summarizer");
    }
    let output = command
        .output()
        .context("running scripts/wrangler-configs.mjs")?;
    ensure!(
        output.status.success(),
        "writing the configs failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(PathBuf::from)
        .collect())
}
