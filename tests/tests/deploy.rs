//! The production configs bundle and validate offline, and their vars pass the Workers' own
//! config checks (a retired model, say, is refused here rather than by a failing deploy).

#![allow(clippy::panic)] // Test helpers fail tests by panicking.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, ensure};
use docpipe_e2e::wasm::{LARGEST_FUNCTION_BUDGET, function_sizes};
use docpipe_e2e::{root, wrangler_command};
use docpipe_pipeline::config::{SummarizerConfig, UploadConfig};

/// `wrangler deploy --dry-run` of `config`, in `env` (`""` for the top level); returns the log.
fn dry_run(config: &Path, env: &str) -> Result<String> {
    let out = tempfile::tempdir()?;
    let output = wrangler_command()
        .args(["deploy", "--dry-run", "--env", env, "--outdir"])
        .arg(out.path())
        .arg("-c")
        .arg(config)
        .output()?;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    ensure!(
        output.status.success(),
        "{}: dry-run deploy failed:\n{log}",
        config.display()
    );
    ensure!(log.contains("--dry-run: exiting now."), "{log}");
    Ok(log)
}

/// The `[env.production.vars]` of a wrangler config, as a var lookup.
fn production_vars(config: &str) -> Result<impl Fn(&str) -> Option<String>> {
    let table: toml::Table = config.parse()?;
    let vars = table
        .get("env")
        .and_then(|env| env.get("production"))
        .and_then(|production| production.get("vars"))
        .and_then(toml::Value::as_table)
        .cloned()
        .context("no [env.production.vars]")?;
    Ok(move |name: &str| vars.get(name).and_then(|v| v.as_str()).map(str::to_owned))
}

fn summarizer_config(text: &str) -> Result<SummarizerConfig> {
    Ok(SummarizerConfig::from_vars(production_vars(text)?)?)
}

#[test]
fn production_configs_pass_a_dry_run_deploy_and_the_workers_config_checks() -> Result<()> {
    for worker in ["upload", "summarizer"] {
        let config = root().join(format!("wrangler/{worker}.toml"));
        let log = dry_run(&config, "production")?;
        if worker == "summarizer" {
            ensure!(
                log.contains("env.AI"),
                "production summarizer must bind Workers AI:\n{log}"
            );
        }
        // The dry-run lists the vars it would deploy: no bench or debug switch among them.
        ensure!(
            log.contains("LOG_LEVEL"),
            "the dry-run lists the vars:\n{log}"
        );
        ensure!(
            !log.contains("BENCH_ENDPOINTS"),
            "production must not enable the bench endpoints:\n{log}"
        );
        let text = std::fs::read_to_string(&config)?;
        match worker {
            "upload" => {
                let config = UploadConfig::from_vars(production_vars(&text)?)?;
                ensure!(config.max_upload_bytes > 0, "{config:?}");
            }
            _ => {
                let config = summarizer_config(&text)?;
                let backend = format!("{:?}", config.backend);
                ensure!(
                    backend.contains("WorkersAi") && backend.contains("glm-4.7-flash"),
                    "production summarizes with a current Workers AI model: {backend}"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn both_workers_count_model_tokens_against_the_same_daily_quota() -> Result<()> {
    let upload = std::fs::read_to_string(root().join("wrangler/upload.toml"))?;
    let summarizer = std::fs::read_to_string(root().join("wrangler/summarizer.toml"))?;
    let (upload, summarizer) = (
        UploadConfig::from_vars(production_vars(&upload)?)?,
        summarizer_config(&summarizer)?,
    );
    ensure!(
        upload.quotas.tokens_per_day == summarizer.quotas.tokens_per_day,
        "{:?} vs {:?}",
        upload.quotas,
        summarizer.quotas
    );
    Ok(())
}

#[test]
fn a_retired_model_in_the_production_config_is_refused_with_its_replacement() -> Result<()> {
    let text = std::fs::read_to_string(root().join("wrangler/summarizer.toml"))?;
    let retired = text.replace(
        "AI_MODEL = \"@cf/zai-org/glm-4.7-flash\"",
        "AI_MODEL = \"@cf/facebook/bart-large-cnn\"",
    );
    ensure!(retired != text, "the production config names its model");
    let error = summarizer_config(&retired).expect_err("a retired model must be refused");
    let message = error.to_string();
    ensure!(
        message.contains("AI_MODEL") && message.contains("use @cf/zai-org/glm-4.7-flash"),
        "{message}"
    );
    Ok(())
}

#[test]
fn the_remote_workers_ai_config_of_scripts_dev_passes_a_dry_run() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let output = Command::new("node")
        .current_dir(root())
        .args(["scripts/wrangler-configs.mjs", "--ai", "remote", "--out"])
        .arg(dir.path())
        .output()?;
    ensure!(output.status.success(), "{output:?}");
    let summarizer = dir.path().join("summarizer.toml");
    let text = std::fs::read_to_string(&summarizer)?;
    ensure!(text.contains("remote = true"), "{text}");
    let log = dry_run(&summarizer, "")?;
    ensure!(log.contains("env.AI"), "{log}");
    ensure!(log.contains("SUMMARIZER_BACKEND (\"workers-ai\")"), "{log}");
    Ok(())
}

#[test]
fn deployed_builds_do_not_contain_the_bench_endpoints() -> Result<()> {
    for worker in ["upload", "summarizer"] {
        let wasm = std::fs::read(root().join(format!("workers/{worker}/build/index_bg.wasm")))?;
        let found = wasm.windows(b"/__bench/".len()).any(|w| w == b"/__bench/");
        ensure!(!found, "{worker}'s release build has the bench endpoints");
    }
    Ok(())
}

#[test]
fn no_function_of_a_deployed_build_is_large_for_the_optimizing_compiler() -> Result<()> {
    for worker in ["upload", "summarizer"] {
        let wasm = std::fs::read(root().join(format!("workers/{worker}/build/index_bg.wasm")))?;
        let sizes = function_sizes(&wasm).context("not a WebAssembly module")?;
        ensure!(sizes.len() > 1000, "{worker}: {} functions", sizes.len());
        let largest = sizes.iter().max().copied().unwrap_or_default();
        ensure!(
            largest <= LARGEST_FUNCTION_BUDGET,
            "{worker}'s largest function is {largest} bytes of code (budget \
             {LARGEST_FUNCTION_BUDGET}): a function inlined into its caller, most likely"
        );
    }
    Ok(())
}
