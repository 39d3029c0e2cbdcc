//! The production configs bundle and validate offline.

#![allow(clippy::panic)] // Test helpers fail tests by panicking.

use anyhow::{Result, ensure};
use docpipe_e2e::wrangler_command;

#[test]
fn production_configs_pass_a_dry_run_deploy() -> Result<()> {
    for worker in ["upload", "summarizer"] {
        let out = tempfile::tempdir()?;
        let output = wrangler_command()
            .args(["deploy", "--dry-run", "--env", "production", "--outdir"])
            .arg(out.path())
            .args(["-c", &format!("wrangler/{worker}.toml")])
            .output()?;
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        ensure!(
            output.status.success(),
            "{worker}: dry-run deploy failed:\n{log}"
        );
        ensure!(log.contains("--dry-run: exiting now."), "{worker}: {log}");
        if worker == "summarizer" {
            ensure!(
                log.contains("env.AI"),
                "production summarizer must bind Workers AI:\n{log}"
            );
        }
    }
    Ok(())
}
