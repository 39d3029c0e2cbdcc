//! Summarizes texts from JSON lines on stdin, for the ROUGE evaluation (`scripts/rouge`).
//! Input lines: `{"id": …, "text": "…"}`; output lines: `{"id": …, "summary": "…",
//! "micros": …}`, where `micros` is the time spent summarizing that text (this process only).
//!
//! `summarize [--lead] [--sentences N]`: docpipe's extractive summarizer, or the first N
//! sentences (lead-N) as split by docpipe's sentence splitter. `summarize --split` outputs
//! `{"id": …, "sentences": [...]}` instead, so other systems can use the same sentences.

use std::io::{BufRead, Write};
use std::time::Instant;

use anyhow::{Context, Result};
use docpipe_docproc::summarize::Tuning;
use docpipe_docproc::{ExtractiveSummarizer, SummaryOptions, split_sentences};
use serde_json::{Value, json};

fn main() -> Result<()> {
    let mut lead = false;
    let mut split = false;
    let mut tuning = Tuning::default();
    let mut sentences = 3;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--lead" => lead = true,
            "--split" => split = true,
            // --tune lead_weight=0.6,lead_decay=3: override scoring knobs (evaluation only).
            "--tune" => {
                for pair in args.next().context("--tune k=v,...")?.split(',') {
                    let (key, value) = pair.split_once('=').context("k=v")?;
                    match key {
                        "lead_weight" => tuning.lead_weight = value.parse()?,
                        "lead_decay" => tuning.lead_decay = value.parse()?,
                        "centroid_terms" => tuning.centroid_terms = value.parse()?,
                        "redundancy" => tuning.redundancy = value.parse()?,
                        "min_words" => tuning.min_words = value.parse()?,
                        "short_factor" => tuning.short_factor = value.parse()?,
                        "graph" => tuning.graph = value.parse()?,
                        "question_factor" => tuning.question_factor = value.parse()?,
                        "length_exponent" => tuning.length_exponent = value.parse()?,
                        "apparatus_factor" => tuning.apparatus_factor = value.parse()?,
                        "backward" => tuning.backward = value.parse()?,
                        "threshold" => tuning.threshold = value.parse()?,
                        other => anyhow::bail!("unknown knob {other}"),
                    }
                }
            }
            "--sentences" => {
                sentences = args.next().context("--sentences N")?.parse()?;
            }
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let options = SummaryOptions {
        max_sentences: sentences,
        max_bytes: 100_000,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in std::io::stdin().lock().lines() {
        let item: Value = serde_json::from_str(&line?)?;
        let text = item["text"].as_str().unwrap_or_default();
        if split {
            writeln!(
                out,
                "{}",
                json!({ "id": item["id"], "sentences": split_sentences(text) })
            )?;
            continue;
        }
        let started = Instant::now();
        let summary = if lead {
            split_sentences(text)
                .into_iter()
                .take(sentences)
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            ExtractiveSummarizer
                .summarize_tuned(text, &options, &tuning)
                .unwrap_or_default()
        };
        let micros = started.elapsed().as_secs_f64() * 1e6;
        writeln!(
            out,
            "{}",
            json!({ "id": item["id"], "summary": summary, "micros": micros })
        )?;
    }
    Ok(())
}
