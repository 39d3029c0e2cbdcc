#![allow(clippy::panic)]
use anyhow::Result;
use docpipe_e2e::{Options, Pipeline};
use std::time::{Duration, Instant};

#[test]
#[ignore]
fn wedge_loop() -> Result<()> {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let mut html = String::from("<html><body>");
    html.push_str(&"<div>".repeat(1_000_000));
    html.push_str("Deep text sentence.");
    html.push_str(&"</div>".repeat(1_000_000));
    html.push_str("</body></html>");
    let mut big = Vec::with_capacity(90 << 20);
    let mut n = 0u64;
    while big.len() < 90 << 20 {
        big.extend_from_slice(
            format!("Sentence number {n} talks about the harbour and its cranes. ").as_bytes(),
        );
        n += 1;
    }
    let mut wedged = 0;
    for run in 0..runs {
        let vars: Vec<String> = std::env::var("VARS")
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from)
            .collect();
        let pipeline = Pipeline::start_with(Options::with_vars(vars))?;
        let t = Instant::now();
        let mut jobs = Vec::new();
        let mode = std::env::var("MODE").unwrap_or_default();
        let bigs: usize = if mode.contains("nobig") {
            0
        } else {
            std::env::var("BIGS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(3)
        };
        for i in 0..bigs {
            jobs.push((
                format!("big{i}"),
                pipeline.accept(&big, "text/plain", "")?.job_id,
            ));
        }
        if !mode.contains("nodeep") {
            jobs.push((
                "deep".into(),
                pipeline
                    .accept(
                        html.as_bytes(),
                        if mode.contains("deeptext") {
                            "text/plain"
                        } else {
                            "text/html"
                        },
                        "",
                    )?
                    .job_id,
            ));
        }
        for i in 0..3 {
            jobs.push((
                format!("small{i}"),
                pipeline
                    .accept(
                        format!("An ordinary sentence {i}. Another one here.").as_bytes(),
                        "text/plain",
                        "",
                    )?
                    .job_id,
            ));
        }
        eprintln!("run {run}: uploads took {:?}", t.elapsed());
        let mut stuck = false;
        for (name, job) in &jobs {
            let job = pipeline.wait_for_job(job, Duration::from_secs(150));
            eprintln!(
                "run {run}: {name} {:?} at {:?}",
                job.as_ref().map(|j| j.status.clone()),
                t.elapsed()
            );
            stuck |= job.is_err();
        }
        let plain =
            pipeline.accept(b"An ordinary sentence. Another one here.", "text/plain", "")?;
        let next: u64 = std::env::var("NEXT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60);
        let job = pipeline.wait_for_job(&plain.job_id, Duration::from_secs(next));
        eprintln!(
            "run {run}: next job {:?} at {:?}",
            job.as_ref().map(|j| j.status.clone()),
            t.elapsed()
        );
        if job.is_err() || stuck {
            wedged += 1;
            let logs = pipeline.all_logs();
            std::fs::write(format!("/work/scratch/wedge-{run}.log"), logs)?;
        }
    }
    eprintln!("wedged {wedged} of {runs}");
    Ok(())
}
