//! `scripts/bench`: docpipe's benchmarks. Each figure is measured next to a baseline in the
//! same run on the same machine, and reported as a ratio; absolute times are context only.
//! Writes `BENCHMARKS.md`.
//!
//! `bench [--quick] [--out PATH] [SECTION...]`, sections: sizes, startup, upload, pipeline,
//! summarizer, search, cost (default: all). `--quick` uses fewer runs and smaller inputs, for a smoke test.

#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use docpipe_docproc::{ExtractLimits, ExtractiveSummarizer, Input, SummaryOptions, extract_text};
use docpipe_e2e::load::{Document, corpus, upload_all, upload_corpus};
use docpipe_e2e::{
    Baseline, Options, Pipeline, eventually, main_thread_cpu_ms, root, runtime_pid, with_peak_rss,
};
use docpipe_jobs::{ContentType, MediaType};
use serde_json::Value;

const MB: usize = 1_000_000;

struct Args {
    quick: bool,
    out: std::path::PathBuf,
    sections: Vec<String>,
}

fn args() -> Args {
    let mut args = Args {
        quick: false,
        out: root().join("BENCHMARKS.md"),
        sections: Vec::new(),
    };
    let mut out = None;
    let mut raw = std::env::args().skip(1);
    while let Some(arg) = raw.next() {
        match arg.as_str() {
            "--quick" => args.quick = true,
            "--out" => out = raw.next().map(Into::into),
            section => args.sections.push(section.to_owned()),
        }
    }
    // Only a full run replaces BENCHMARKS.md; a partial or quick one writes beside the build.
    if !args.sections.is_empty() || args.quick {
        args.out = root().join("target/BENCHMARKS.partial.md");
    }
    if let Some(out) = out {
        args.out = out;
    }
    if args.sections.is_empty() {
        args.sections = [
            "sizes",
            "startup",
            "upload",
            "summarizer",
            "pipeline",
            "search",
            "cost",
        ]
        .map(String::from)
        .to_vec();
    }
    args
}

/// Repeated measurements of one thing.
#[derive(Debug, Clone, Default)]
struct Samples(Vec<f64>);

impl Samples {
    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v
    }
    fn median(&self) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return f64::NAN;
        }
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }
    fn percentile(&self, p: f64) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
        v[rank.min(v.len() - 1)]
    }
    fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }
    fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }
    fn range(&self, digits: usize) -> String {
        format!("{:.digits$}–{:.digits$}", self.min(), self.max())
    }
}

/// Deterministic pseudo-random bytes (xorshift), so every run uploads the same bodies.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Prose of about `len` bytes over a large synthetic vocabulary, with paragraph breaks, so the
/// summarizer sees realistic term statistics at every size.
fn prose(len: usize, seed: u64) -> String {
    let syllables = [
        "ka", "lo", "mi", "ta", "ren", "sol", "vi", "dor", "pe", "nu", "gra", "est",
    ];
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let vocabulary: Vec<String> = (0..5_000)
        .map(|_| {
            let n = 1 + (next() % 3) as usize;
            (0..n).map(|_| syllables[(next() % 12) as usize]).collect()
        })
        .collect();
    let mut text = String::with_capacity(len + 200);
    let mut sentence = 0;
    while text.len() < len {
        let words = 8 + (next() % 18) as usize;
        for w in 0..words {
            // Zipf-like: frequent words are reused often.
            let rank = ((next() % 1_000_000) as f64 / 1_000_000.0).powi(3) * 5_000.0;
            let word = &vocabulary[(rank as usize).min(4_999)];
            if w == 0 {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    text.extend(first.to_uppercase());
                    text.push_str(chars.as_str());
                }
            } else {
                text.push(' ');
                text.push_str(word);
            }
        }
        text.push_str(". ");
        sentence += 1;
        if sentence % 6 == 0 {
            text.push_str("\n\n");
        }
    }
    text
}

/// Sends one request with a body written from memory (with `Content-Length`, or chunked in
/// 1 MB chunks); returns the status and the seconds from connecting to the end of the response.
fn timed_post(
    port: u16,
    path: &str,
    content_type: &str,
    body: &[u8],
    chunked: bool,
    key: Option<&str>,
) -> Result<(u16, f64)> {
    let auth = key.map_or(String::new(), |key| {
        format!("Authorization: Bearer {key}\r\n")
    });
    let started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(600)))?;
    if chunked {
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
        )?;
        for part in body.chunks(1 << 20) {
            write!(stream, "{:x}\r\n", part.len())?;
            stream.write_all(part)?;
            stream.write_all(b"\r\n")?;
        }
        stream.write_all(b"0\r\n\r\n")?;
    } else {
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )?;
        stream.write_all(body)?;
    }
    let mut response = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..n]);
        if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if let Some(length) = length
                && response.len() >= end + 4 + length
            {
                break;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let status = String::from_utf8_lossy(&response)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status in response")?;
    Ok((status, elapsed))
}

struct Report {
    markdown: String,
    misses: Vec<String>,
}

impl Report {
    fn section(&mut self, title: &str, command: &str, intro: &str) {
        let _ = write!(
            self.markdown,
            "\n## {title}\n\n{intro}\n\nCommand: `{command}`\n\n"
        );
        println!("== {title}");
    }
    fn line(&mut self, line: &str) {
        self.markdown.push_str(line);
        self.markdown.push('\n');
    }
    fn miss(&mut self, what: String) {
        println!("MISSED: {what}");
        self.misses.push(what);
    }
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let workerd = Command::new(root().join("node_modules/.bin/workerd"))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{cpus} CPUs ({model}), {workerd}")
}

fn sizes(report: &mut Report) -> Result<()> {
    report.section(
        "4. Worker sizes",
        "scripts/size",
        "Release builds (`worker-build --release`, wasm-opt `-Oz`, inlining no function over \
         2,000 of its measures into its one caller). Budget: 1 MB gzipped per Worker (the Free \
         plan's limit is 3 MB compressed); `scripts/test` fails over budget. Largest function: \
         its code bytes; V8 compiles a hot WebAssembly function again with its optimizing \
         compiler, in memory that grows with the function (section 1's fresh runtime), and the \
         deploy tests fail over its budget.",
    );
    report.line("| Worker | wasm raw | wasm gzip -9 | budget (gzip) | share of budget | largest function (budget) |");
    report.line("| --- | ---: | ---: | ---: | ---: | ---: |");
    for worker in ["upload", "summarizer"] {
        let wasm = root().join(format!("workers/{worker}/build/index_bg.wasm"));
        let bytes = std::fs::read(&wasm)
            .with_context(|| format!("{}: run scripts/build", wasm.display()))?;
        let gz = Command::new("gzip")
            .args(["-9", "-c"])
            .arg(&wasm)
            .output()?
            .stdout
            .len();
        let budget = 1024 * 1024;
        let largest = docpipe_e2e::wasm::function_sizes(&bytes)
            .and_then(|sizes| sizes.into_iter().max())
            .context("not a WebAssembly module")?;
        report.line(&format!(
            "| {worker} | {} KB | {} KB | {} KB | {:.2} | {:.1} KB ({} KB) |",
            bytes.len() / 1024,
            gz / 1024,
            budget / 1024,
            gz as f64 / budget as f64,
            largest as f64 / 1024.0,
            docpipe_e2e::wasm::LARGEST_FUNCTION_BUDGET / 1024
        ));
        if gz > budget {
            report.miss(format!(
                "{worker} Worker is {gz} bytes gzipped, over its budget"
            ));
        }
    }
    report.line(
        "\nBefore the summarizer read real formats (commit `9cf4707`: plain text and Markdown \
         only), the same build made it 551 KB raw, 234 KB gzipped. Format detection, legacy \
         encodings (`chardetng`, `encoding_rs`), HTML (`lol_html`), CSV, JSON, PDF (`lopdf` \
         with docpipe's own text interpreter) and Word (`zip`, `quick-xml`) add the rest.",
    );
    Ok(())
}

fn startup(report: &mut Report, quick: bool) -> Result<()> {
    let runs = if quick { 1 } else { 3 };
    report.section(
        "5. Startup",
        "scripts/bench startup",
        "Cold start: from spawning `wrangler dev` (which starts workerd) to the first `200` from \
         `GET /healthz`, docpipe's two Workers against the JavaScript baseline Worker alone, \
         same command otherwise. Wasm: compiling and instantiating each Worker's module in V8 \
         (Node's), median of 20.",
    );
    let mut pipeline = Samples::default();
    let mut baseline = Samples::default();
    for _ in 0..runs {
        let started = Instant::now();
        drop(Baseline::start()?);
        baseline.0.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let p = Pipeline::start()?;
        pipeline.0.push(started.elapsed().as_secs_f64());
        drop(p);
    }
    report.line("| what | median s | min–max s | ratio to baseline |");
    report.line("| --- | ---: | ---: | ---: |");
    report.line(&format!(
        "| JS baseline Worker, cold start to first `/healthz` | {:.2} | {} | 1.00 |",
        baseline.median(),
        baseline.range(2)
    ));
    report.line(&format!(
        "| docpipe (upload + summarizer), cold start to first `/healthz` | {:.2} | {} | {:.2} |",
        pipeline.median(),
        pipeline.range(2),
        pipeline.median() / baseline.median()
    ));
    report.line("");
    report.line("| Worker | compile ms (median) | compile min–max ms | instantiate ms (median) |");
    report.line("| --- | ---: | ---: | ---: |");
    for worker in ["upload", "summarizer"] {
        let node = std::env::var("DOCPIPE_BENCH_NODE").unwrap_or_else(|_| "node".into());
        let out = Command::new(node)
            .arg(root().join("tests/bench/instantiate.mjs"))
            .arg(root().join(format!("workers/{worker}/build/index_bg.wasm")))
            .output()?;
        let timing: Value = serde_json::from_slice(&out.stdout)
            .with_context(|| String::from_utf8_lossy(&out.stderr).into_owned())?;
        report.line(&format!(
            "| {worker} | {:.2} | {:.2}–{:.2} | {:.2} |",
            timing["compile_ms"].as_f64().unwrap_or(f64::NAN),
            timing["compile_min_ms"].as_f64().unwrap_or(f64::NAN),
            timing["compile_max_ms"].as_f64().unwrap_or(f64::NAN),
            timing["instantiate_ms"].as_f64().unwrap_or(f64::NAN),
        ));
    }
    Ok(())
}

fn upload(report: &mut Report, quick: bool) -> Result<()> {
    report.section(
        "1. Streaming upload",
        "scripts/bench upload",
        "One client uploads a body of random bytes; time is from connecting to the end of the \
         response; memory is the peak growth of the resident set of the workerd process that \
         runs the Workers, sampled every 2 ms. *baseline*: a JavaScript Worker doing \
         `env.BUCKET.put(key, request.body)`. *docpipe*: `POST /v1/documents` (streams into R2 \
         while computing SHA-256, records the upload, document and job in D1, enqueues). \
         *docpipe, chunked*: the same body sent without a length, in 1 MB chunks (R2 multipart \
         parts of 8 MiB above one part). *hashing*: the JavaScript Worker streaming the body into R2 and through \
         `crypto.DigestStream` (SHA-256) at once, the least that gives what docpipe needs. \
         *buffered*: the JavaScript Worker reading the whole body, then putting it. Each in its \
         own `wrangler dev` (same workerd build, local R2 on disk); runs alternate between them. \
         Ratio: baseline median time / the handler's median time (target for docpipe ≥ 0.95).",
    );
    let baseline = Baseline::start()?;
    let pipeline = Pipeline::start_with(Options::with_vars([
        "MAX_UPLOAD_BYTES:300000000",
        // The summarizer only needs to see the start of these random bodies to refuse them.
        "MAX_DOCUMENT_BYTES:1000",
    ]))?;
    let baseline_pid = runtime_pid(baseline.group()).context("baseline workerd")?;
    let pipeline_pid = runtime_pid(pipeline.group()).context("docpipe workerd")?;
    let plan: &[(usize, usize)] = if quick {
        &[(MB, 3), (20 * MB, 1)]
    } else {
        &[(MB, 15), (20 * MB, 9), (200 * MB, 5)]
    };
    report.line(
        "| body | handler | median s | min–max s | MB/s | ratio | peak RSS growth MB (median) |",
    );
    report.line("| ---: | --- | ---: | ---: | ---: | ---: | ---: |");
    for &(size, runs) in plan {
        let body = random_bytes(size, size as u64);
        let mut times: [Samples; 5] = Default::default();
        let mut rss: [Samples; 5] = Default::default();
        for _ in 0..runs {
            let targets = [
                (baseline.port, baseline_pid, "/put", 201, false),
                (pipeline.port, pipeline_pid, "/v1/documents", 202, false),
                (baseline.port, baseline_pid, "/buffered", 201, false),
                (baseline.port, baseline_pid, "/hashed", 201, false),
                (
                    pipeline.port,
                    pipeline_pid,
                    "/v1/documents?filename=chunked.txt",
                    202,
                    true,
                ),
            ];
            for (i, &(port, pid, path, expected, chunked)) in targets.iter().enumerate() {
                let key = (port == pipeline.port).then_some(pipeline.key.as_str());
                let ((status, secs), growth) = with_peak_rss(pid, || {
                    timed_post(port, path, "text/plain", &body, chunked, key)
                })?;
                ensure!(status == expected, "{path} answered {status}");
                times[i].0.push(secs);
                rss[i].0.push(growth);
            }
        }
        let base = times[0].median();
        for (i, name) in [
            "baseline (JS put)",
            "docpipe",
            "buffered (JS)",
            "hashing (JS put + SHA-256)",
            "docpipe, chunked (no length)",
        ]
        .iter()
        .enumerate()
        {
            let ratio = base / times[i].median();
            report.line(&format!(
                "| {} MB | {name} | {:.3} | {} | {:.1} | {:.2} | {:.1} |",
                size / MB,
                times[i].median(),
                times[i].range(3),
                size as f64 / 1e6 / times[i].median(),
                ratio,
                rss[i].median()
            ));
        }
        // Profile of docpipe's time: the streaming part as the Worker measured it, and the
        // rest (the D1 upload marker, the document + job transaction, the queue send).
        let streaming = Samples(
            pipeline
                .sql(&format!(
                    "SELECT upload_ms FROM documents WHERE size_bytes = {size} AND filename IS NULL"
                ))?
                .iter()
                .filter_map(|row| row["upload_ms"].as_f64())
                .map(|ms| ms / 1_000.0)
                .collect(),
        );
        report.line(&format!(
            "| {} MB | docpipe, streaming into R2 only (`upload_ms`) | {:.3} | {} | {:.1} | {:.2} | |",
            size / MB,
            streaming.median(),
            streaming.range(3),
            size as f64 / 1e6 / streaming.median(),
            base / streaming.median(),
        ));
        let ratio = base / times[1].median();
        if ratio < 0.95 {
            let fixed_ms = (times[1].median() - streaming.median()) * 1_000.0;
            report.miss(format!(
                "upload throughput ratio {ratio:.2} at {} MB (target 0.95). Profile: streaming \
                 the body into R2 while hashing takes {:.3} s (ratio {:.2} to the baseline's \
                 whole request; a JavaScript Worker doing only that, put + SHA-256, gets \
                 {:.2}); the other {fixed_ms:.0} ms are the key's lookup before anything and \
                 the D1 transaction for the document and its job that makes the upload safe \
                 to acknowledge, each a round trip; the queue send follows the answer. The D1 \
                 upload marker is written while the body streams (R2 gets the body's last \
                 bytes only once it is in, so it is part of the streaming time): in production \
                 that saves a round trip to D1; here D1 runs on the stream's thread, and the \
                 overlap saves little.",
                size / MB,
                streaming.median(),
                base / streaming.median(),
                base / times[3].median(),
            ));
        }
        if size == 200 * MB && rss[1].median() >= 64.0 {
            report.miss(format!(
                "peak RSS growth {:.1} MB at 200 MB (target < 64)",
                rss[1].median()
            ));
        }
    }
    drop((baseline, pipeline));
    fresh_runtime_memory(report, quick)
}

/// Waits for the newest job of `pipeline` (if any) to end.
fn last_job_ends(pipeline: Option<&Pipeline>) -> Result<()> {
    let Some(pipeline) = pipeline else {
        return Ok(());
    };
    let jobs = pipeline.sql("SELECT id FROM jobs ORDER BY id DESC LIMIT 1")?;
    let job = jobs[0]["id"].as_str().unwrap_or_default().to_owned();
    let job = pipeline.wait_for_job(&job, Duration::from_secs(120))?;
    ensure!(
        job.status == "failed" || job.status == "succeeded",
        "{job:?}"
    );
    Ok(())
}

/// Resident growth of a fresh runtime over its first uploads, docpipe against the JavaScript
/// `put` baseline, each in a runtime started for it: as V8 runs by default, and without its
/// optimizing compiler (`--liftoff-only`), which sets apart the memory the runtime spends
/// compiling docpipe's WebAssembly from the memory its requests hold.
fn fresh_runtime_memory(report: &mut Report, quick: bool) -> Result<()> {
    let size = if quick { 20 * MB } else { 90 * MB };
    let body = random_bytes(size, 90);
    let uploads = 3;
    // Resident growth is noisy (the baseline's own first uploads differ by tens of MB from one
    // fresh runtime to the next): each handler gets several fresh runtimes, in turn, and each
    // cell is the median of its runs.
    let runs = if quick { 1 } else { 3 };
    let modes = [None, Some(LIFTOFF_ONLY)];
    let mut rows: Vec<(String, Vec<f64>)> = Vec::new();
    for flags in modes {
        let mut samples: [Vec<Vec<f64>>; 2] = [Vec::new(), Vec::new()];
        for handler in (0..runs).flat_map(|_| [0, 1]) {
            samples[handler].push(fresh_runtime_run(handler == 1, flags, &body, uploads)?);
        }
        for (name, runs) in ["baseline (JS put)", "docpipe"].iter().zip(samples) {
            let cells = (0..=uploads + 1)
                .map(|cell| Samples(runs.iter().map(|run| run[cell]).collect()).median())
                .collect();
            let name = match flags {
                None => (*name).to_owned(),
                Some(flags) => format!("{name}, `{flags}`"),
            };
            rows.push((name, cells));
        }
    }
    report.line("");
    report.line(&format!(
        "Fresh runtime: each handler in a `wrangler dev` started for it (its Worker already \
         answered `/healthz`); one 17-byte document goes through first (for docpipe, until its \
         job ends: the consumer's first batch compiles and instantiates the summarizer), then \
         {uploads} uploads of {} MB one after the other, each once the job of the one before has \
         ended (the consumer reads each back, so each upload is measured alone). Peak resident \
         growth of workerd during each, and the resident set after the last upload's job \
         against before the first document; each the median of {runs} fresh runtimes per \
         handler, started in turn. Then the same with V8's optimizing compiler off \
         (`MINIFLARE_WORKERD_V8_FLAGS={LIFTOFF_ONLY}`: WebAssembly stays as V8's baseline \
         compiler, Liftoff, made it), which sets apart the memory the runtime spends compiling \
         hot functions again: it grows with the largest function (section 4), and took 70–80 \
         MB once per runtime, whatever the documents' size, while the summarizer's readers \
         were one 200 KB function. Target: each upload within 16 MB of the baseline's, as V8 \
         runs by default.",
        size / MB
    ));
    report.line("");
    report.line("| handler | first document, end to end (MB) | upload 1 (MB) | upload 2 (MB) | upload 3 (MB) | resident after the last (MB) |");
    report.line("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (name, row) in &rows {
        let cells: Vec<String> = row.iter().map(|mb| format!("{mb:.1}")).collect();
        report.line(&format!("| {name} | {} |", cells.join(" | ")));
    }
    let over = |baseline: &[f64], docpipe: &[f64]| {
        (1..=uploads)
            .map(|i| docpipe[i] - baseline[i])
            .fold(f64::MIN, f64::max)
    };
    let with_compiler = over(&rows[0].1, &rows[1].1);
    let requests_alone = over(&rows[2].1, &rows[3].1);
    report.line("");
    report.line(&format!(
        "Most an upload grew over the baseline's: {with_compiler:.1} MB ({requests_alone:.1} MB \
         without the optimizing compiler)."
    ));
    if with_compiler > 16.0 {
        report.miss(format!(
            "a fresh runtime's upload grew {with_compiler:.1} MB more than the baseline's \
             (target ≤ 16; {requests_alone:.1} without V8's optimizing compiler)"
        ));
    }
    Ok(())
}

/// V8's flag that keeps WebAssembly on its baseline compiler.
const LIFTOFF_ONLY: &str = "--liftoff-only";

/// One fresh runtime of the baseline (or docpipe) under V8's `flags`: its resident growth over
/// a first small document, each of `uploads` uploads of `body`, and in all.
fn fresh_runtime_run(
    docpipe: bool,
    flags: Option<&str>,
    body: &[u8],
    uploads: usize,
) -> Result<Vec<f64>> {
    let mut growth = Vec::new();
    let (baseline, pipeline) = if docpipe {
        let pipeline = Pipeline::start_with(Options {
            v8_flags: flags.map(str::to_owned),
            ..Options::with_vars(["MAX_UPLOAD_BYTES:300000000", "MAX_DOCUMENT_BYTES:1000"])
        })?;
        (None, Some(pipeline))
    } else {
        (Some(Baseline::start_with_v8_flags(flags)?), None)
    };
    let (port, pid, path, expected, key) = match (&baseline, &pipeline) {
        (Some(baseline), _) => {
            let pid = runtime_pid(baseline.group()).context("baseline workerd")?;
            (baseline.port, pid, "/put", 201, None)
        }
        (_, Some(pipeline)) => {
            let pid = runtime_pid(pipeline.group()).context("docpipe workerd")?;
            (
                pipeline.port,
                pid,
                "/v1/documents",
                202,
                Some(pipeline.key.clone()),
            )
        }
        _ => bail!("no runtime"),
    };
    // One small document first, end to end: docpipe's consumer starts on its first batch
    // (compiling and instantiating the summarizer), which is not the upload's doing.
    let start = docpipe_e2e::rss_bytes(pid).context("workerd is gone")?;
    let ((), first) = with_peak_rss(pid, || {
        let (status, _) = timed_post(
            port,
            path,
            "text/plain",
            b"A first document.",
            false,
            key.as_deref(),
        )?;
        ensure!(status == expected, "{path} answered {status}");
        last_job_ends(pipeline.as_ref())
    })?;
    growth.push(first);
    for _ in 0..uploads {
        let ((status, _), peak) = with_peak_rss(pid, || {
            timed_post(port, path, "text/plain", body, false, key.as_deref())
        })?;
        ensure!(status == expected, "{path} answered {status}");
        growth.push(peak);
        // Its job ends before the next upload, so each upload is measured alone.
        last_job_ends(pipeline.as_ref())?;
    }
    let end = docpipe_e2e::rss_bytes(pid).context("workerd is gone")?;
    growth.push(end.saturating_sub(start) as f64 / 1e6);
    Ok(growth)
}

fn summarizer(report: &mut Report, quick: bool) -> Result<()> {
    report.section(
        "3. Summarizer cost",
        "scripts/bench summarizer",
        "Extraction plus extractive summarization of generated prose (a 5,000-word vocabulary \
         with Zipf-like frequencies). *native*: this machine's CPU, release build, one thread. \
         *workerd*: the summarizer Worker alone with `BENCH_ENDPOINTS=true`; a request's time \
         minus the median time of an echo request with the same body (the transport). \
         *per MB vs 1 MB*: cost per MB at this size divided by cost per MB at 1 MB — near 1 at \
         every size means cost grows linearly with the text.",
    );
    let plan: &[(usize, usize)] = if quick {
        &[(10_000, 5), (100_000, 3), (MB, 2)]
    } else {
        &[(10_000, 20), (100_000, 10), (MB, 5), (10 * MB, 3)]
    };
    let pipeline = Pipeline::start_with(Options {
        vars: vec![
            "BENCH_ENDPOINTS:true".into(),
            "MAX_TEXT_BYTES:16000000".into(),
        ],
        summarizer_alone: true,
        ..Options::default()
    })?;
    let plain = ContentType::new(MediaType::PlainText);
    let limits = ExtractLimits {
        max_text_bytes: 16_000_000,
        ..ExtractLimits::default()
    };
    let options = SummaryOptions::default();
    let mut rows = Vec::new();
    for &(size, runs) in plan {
        let text = prose(size, 7);
        let mut native = Samples::default();
        for _ in 0..runs {
            let started = Instant::now();
            let extracted = extract_text(&Input::whole(text.as_bytes(), &plain), &limits)?;
            let summary = ExtractiveSummarizer.summarize_text(&extracted.text, &options)?;
            std::hint::black_box(summary);
            native.0.push(started.elapsed().as_secs_f64() * 1_000.0);
        }
        let mut echo = Samples::default();
        let mut work = Samples::default();
        for _ in 0..runs {
            let (status, secs) = timed_post(
                pipeline.port,
                "/__bench/echo",
                "text/plain",
                text.as_bytes(),
                false,
                Some(&pipeline.key),
            )?;
            ensure!(status == 200, "echo answered {status}");
            echo.0.push(secs * 1_000.0);
            let (status, secs) = timed_post(
                pipeline.port,
                "/__bench/summarize",
                "text/plain",
                text.as_bytes(),
                false,
                Some(&pipeline.key),
            )?;
            ensure!(status == 200, "summarize answered {status}");
            work.0.push(secs * 1_000.0);
        }
        let inside = (work.median() - echo.median()).max(0.0);
        rows.push((size, native, inside, work));
    }
    let per_mb = |ms: f64, size: usize| ms / (size as f64 / 1e6);
    let reference = rows
        .iter()
        .find(|r| r.0 == MB)
        .map(|r| (per_mb(r.1.median(), r.0), per_mb(r.2, r.0)))
        .unwrap_or((f64::NAN, f64::NAN));
    report.line("| text | native ms (median, min–max) | native ms/MB | per MB vs 1 MB | workerd ms | workerd ms/MB | per MB vs 1 MB | workerd / native |");
    report.line("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (size, native, inside, _) in &rows {
        let native_per_mb = per_mb(native.median(), *size);
        let inside_per_mb = per_mb(*inside, *size);
        report.line(&format!(
            "| {} KB | {:.2} ({}) | {:.1} | {:.2} | {:.1} | {:.1} | {:.2} | {:.2} |",
            size / 1_000,
            native.median(),
            native.range(2),
            native_per_mb,
            native_per_mb / reference.0,
            inside,
            inside_per_mb,
            inside_per_mb / reference.1,
            inside / native.median()
        ));
        if *size >= MB && native_per_mb / reference.0 > 1.5 {
            report.miss(format!(
                "summarizer cost per MB grows {:.2}× at {} KB",
                native_per_mb / reference.0,
                size / 1_000
            ));
        }
    }
    Ok(())
}

/// A pipeline's run of the corpus: documents per second end to end, the uploads' seconds, and
/// the CPU milliseconds per document of the workerd thread that runs it all.
struct Run {
    rate: f64,
    uploads_secs: f64,
    cpu_ms: f64,
}

/// The CPU its runtime thread spends while `f` runs, in ms per document.
fn thread_cpu<T>(group: u32, documents: usize, f: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let pid = runtime_pid(group).context("workerd of the run")?;
    let cpu = || main_thread_cpu_ms(pid).context("workerd's CPU time");
    let before = cpu()?;
    let result = f()?;
    Ok((result, (cpu()? - before) / documents as f64))
}

/// The reference pipeline's run of the corpus at one batch size: documents per second from
/// the first upload's start to the last summary's row, and the uploads' own time. `mimic`:
/// the reference making docpipe's storage calls too.
fn reference_run(documents: &[Document], batch: u32, mimic: bool) -> Result<Run> {
    let reference = Baseline::reference(batch, mimic)?;
    let port = std::sync::atomic::AtomicU16::new(reference.port);
    let epoch_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1_000.0)
    };
    let started_ms = epoch_ms();
    let ((run, last_ms), cpu_ms) = thread_cpu(reference.group(), documents.len(), || {
        let run = upload_all(&port, "", documents, 16, Duration::from_secs(600))?;
        let last_ms = eventually(Duration::from_secs(900), || {
            let done = docpipe_e2e::request(reference.port, "GET", "/done", &[], None)?.json()?;
            let complete = done["n"].as_u64() == Some(documents.len() as u64);
            Ok(complete.then(|| done["last"].as_f64()).flatten())
        })?;
        Ok((run, last_ms))
    })?;
    Ok(Run {
        rate: documents.len() as f64 / ((last_ms - started_ms) / 1_000.0),
        uploads_secs: run.elapsed.as_secs_f64(),
        cpu_ms,
    })
}

fn pipeline_throughput(report: &mut Report, quick: bool) -> Result<()> {
    let documents_count = if quick { 60 } else { 500 };
    report.section(
        "2. Pipeline throughput, against the reference pattern",
        "scripts/bench pipeline",
        &format!(
            "{documents_count} documents, 1 KB to 1 MB (geometric spread, half Markdown), uploaded \
             by 16 concurrent clients, through docpipe and through the reference pipeline it grew \
             from (`tests/bench/reference.js`, Cloudflare's Async Data Pipeline pattern in \
             JavaScript: `BUCKET.put` + `QUEUE.send`; the consumer `get`s, takes `text()`, keeps \
             the first three sentences and writes one D1 row, one message after another), each in \
             its own `wrangler dev` with the same queue settings, one after the other at each \
             `max_batch_size`. End to end is from the first upload's start to the last summary's \
             row in D1; uploads is the 16 clients' time to have every document accepted. \
             Ratio: docpipe's documents per second / the reference's (target ≥ 0.6). Stage \
             timings are docpipe's, from what it records in D1: upload = streaming the body into \
             R2 (`documents.upload_ms`), queue wait = job created → lease taken, fetch = reading \
             the document from R2, job = lease taken → job finished (fetching, extracting, \
             storing the text while summarizing, the finishing write), D1 write = the \
             lease-taking update's round trip. A Worker's clock advances only across I/O, so \
             computation reads 0 ms (its cost is in section 3). The fifth column is the \
             reference making, beside its own, the storage calls docpipe makes and nothing else \
             with them (`MIMIC_DOCPIPE` in `tests/bench/reference.js`): the most docpipe could \
             reach here with those calls. The sixth is the CPU time per document of the \
             workerd thread that runs each pipeline's Workers, R2, D1 and queue broker (from \
             `/proc`, over the run): that thread sets the pace here. The machine's load moves \
             a run's rate by up to half, so each batch size runs twice, the three pipelines in \
             turn: rates are medians, a \
             ratio is the median of the two rounds' ratios (each round's in brackets), and the \
             stage timings pool both rounds."
        ),
    );
    let documents: Vec<Document> = corpus(documents_count, MB);
    let total_bytes: usize = documents.iter().map(|d| d.body.len()).sum();
    report.line(&format!(
        "Corpus: {documents_count} documents, {:.1} MB in all.\n",
        total_bytes as f64 / 1e6
    ));
    report.line("| max_batch_size | reference docs/s | docpipe docs/s | ratio | reference with docpipe's storage calls: docs/s, ratio | CPU ms per document: reference / with docpipe's calls / docpipe | uploads s, reference / docpipe | upload ms p50 / p95 | queue wait ms p50 / p95 | fetch ms p50 / p95 | job ms p50 / p95 | D1 write ms p50 / p95 |");
    report.line(
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    // BENCH_BATCHES=10 (comma-separated) runs only those batch sizes, BENCH_VARS=NAME:value,…
    // overrides docpipe's vars, BENCH_LOG=path keeps docpipe's log: for experiments, not for
    // the report.
    let batches: Vec<u32> = std::env::var("BENCH_BATCHES").map_or(vec![1, 10, 100], |list| {
        list.split(',')
            .filter_map(|b| b.trim().parse().ok())
            .collect()
    });
    let vars: Vec<String> = std::env::var("BENCH_VARS").map_or(Vec::new(), |list| {
        list.split(',').map(str::to_owned).collect()
    });
    // The machine's load moves a run's rate by up to half: each batch size runs `rounds`
    // times, the three pipelines in turn, and the ratios are the medians of each round's.
    let rounds = if quick { 1 } else { 2 };
    for batch in batches {
        let mut runs = Vec::new();
        for _ in 0..rounds {
            let reference = reference_run(&documents, batch, false)?;
            let mimic = reference_run(&documents, batch, true)?;
            let docpipe = docpipe_run(&documents, batch, &vars)?;
            println!(
                "batch {batch}: docpipe {:.1} docs/s ({:.1} CPU ms each), reference {:.1} \
                 ({:.1}), with docpipe's calls {:.1} ({:.1}); uploads took {:.1} s with {} \
                 retries",
                docpipe.run.rate,
                docpipe.run.cpu_ms,
                reference.rate,
                reference.cpu_ms,
                mimic.rate,
                mimic.cpu_ms,
                docpipe.run.uploads_secs,
                docpipe.retries
            );
            runs.push(Round {
                reference,
                mimic,
                docpipe,
            });
        }
        let median =
            |value: &dyn Fn(&Round) -> f64| Samples(runs.iter().map(value).collect()).median();
        let each = |value: &dyn Fn(&Round) -> f64| {
            let values: Vec<String> = runs
                .iter()
                .map(|run| format!("{:.2}", value(run)))
                .collect();
            if values.len() > 1 {
                format!(" ({})", values.join(", "))
            } else {
                String::new()
            }
        };
        let ratio_of = |run: &Round| run.docpipe.run.rate / run.reference.rate;
        let mimic_of = |run: &Round| run.mimic.rate / run.reference.rate;
        let (reference_rate, rate) = (
            median(&|run| run.reference.rate),
            median(&|run| run.docpipe.run.rate),
        );
        let (ratio, mimic_ratio) = (median(&ratio_of), median(&mimic_of));
        let (reference_uploads, uploads) = (
            median(&|run| run.reference.uploads_secs),
            median(&|run| run.docpipe.run.uploads_secs),
        );
        let (reference_cpu, mimic_cpu, cpu) = (
            median(&|run| run.reference.cpu_ms),
            median(&|run| run.mimic.cpu_ms),
            median(&|run| run.docpipe.run.cpu_ms),
        );
        let pooled = |column: &dyn Fn(&DocpipeRun) -> &Samples| {
            Samples(
                runs.iter()
                    .flat_map(|run| column(&run.docpipe).0.clone())
                    .collect(),
            )
        };
        let (upload, queue, fetch, job, write) = (
            pooled(&|run| &run.upload),
            pooled(&|run| &run.queue),
            pooled(&|run| &run.fetch),
            pooled(&|run| &run.job),
            pooled(&|run| &run.write),
        );
        report.line(&format!(
            "| {batch} | {reference_rate:.1} | {rate:.1} | {ratio:.2}{} | {:.1}, {mimic_ratio:.2}{} | {reference_cpu:.1} / {mimic_cpu:.1} / {cpu:.1} | {reference_uploads:.1} / {uploads:.1} | {:.0} / {:.0} | {:.0} / {:.0} | {:.0} / {:.0} | {:.0} / {:.0} | {:.0} / {:.0} |",
            each(&ratio_of),
            median(&|run| run.mimic.rate),
            each(&mimic_of),
            upload.median(),
            upload.percentile(95.0),
            queue.median(),
            queue.percentile(95.0),
            fetch.median(),
            fetch.percentile(95.0),
            job.median(),
            job.percentile(95.0),
            write.median(),
            write.percentile(95.0),
        ));
        if ratio < 0.6 {
            let pace = if batch == 1 {
                format!(
                    "At batch 1 the local queue broker sends the next batch only when the \
                     running one returns (`#flush` in \
                     `node_modules/miniflare/dist/src/workers/queues/broker.worker.js`; \
                     production runs up to `max_concurrency` batches at once); a job took \
                     {:.0} ms p50 from its lease to its finish, and a batch's closing write \
                     (its jobs' usage) runs after its handler returns.",
                    job.median()
                )
            } else {
                format!(
                    "The uploads, which run on the same thread as the consumer, took \
                     {uploads:.1} s against the reference's {reference_uploads:.1} s."
                )
            };
            report.miss(format!(
                "pipeline at max_batch_size {batch}: {ratio:.2} of the reference (target 0.6). \
                 Profile: every Worker, R2, D1 and the queue broker run on one workerd thread \
                 here (the machine's second core mostly idle), and that thread's CPU per \
                 document sets the pace: {reference_cpu:.1} ms for the reference, \
                 {mimic_cpu:.1} ms for the reference making docpipe's storage calls, \
                 {cpu:.1} ms for docpipe (sixth column; the reference's over docpipe's is \
                 {:.2}, near the throughput ratio). The reference making docpipe's storage calls \
                 and nothing else with them (fifth column) runs at {mimic_ratio:.2} of itself: \
                 those calls (per upload a D1 read of the key, the D1 upload marker, the D1 \
                 record of the document and its job; per job its lease unless its batch took it \
                 with others, the finishing write, and the text's R2 put for a text that is not \
                 its document; per batch its usage), each kept for a guarantee (the key before \
                 anything, the marker before the object exists, the durable record before the \
                 answer, the lease before the work), leave docpipe at most that; its own work \
                 takes the rest. `perf record -a` of the thread (2026-12-03, batch 10, \
                 `MINIFLARE_WORKERD_V8_FLAGS=--perf-basic-prof`) split one round's CPU ms per \
                 document: the reference 9.6, with docpipe's calls 18.0, docpipe 24.8, whose \
                 6.8 over the calls are its WebAssembly (extraction and summarization, section \
                 3) 4.4, SQLite's search row (FTS5) 0.7, and 1.7 of the runtime's work around \
                 the larger payloads its bindings carry (the text into R2 and the search index), \
                 with no single hot spot. {pace}",
                reference_cpu / cpu,
            ));
        }
    }
    Ok(())
}

/// One round at a batch size: the reference, the reference making docpipe's calls, docpipe.
struct Round {
    reference: Run,
    mimic: Run,
    docpipe: DocpipeRun,
}

/// docpipe's run of the corpus at one batch size: its rate, end to end, and its stages.
struct DocpipeRun {
    run: Run,
    retries: usize,
    upload: Samples,
    queue: Samples,
    fetch: Samples,
    job: Samples,
    write: Samples,
}

fn docpipe_run(documents: &[Document], batch: u32, vars: &[String]) -> Result<DocpipeRun> {
    let pipeline = Pipeline::start_with(Options {
        max_batch_size: Some(batch),
        vars: vars.to_vec(),
        ..Options::default()
    })?;
    let started = Instant::now();
    let (run, cpu_ms) = thread_cpu(pipeline.group(), documents.len(), || {
        let run = upload_corpus(&pipeline, documents, 16)?;
        eventually(Duration::from_secs(900), || {
            let done = pipeline
                .peek_count("SELECT COUNT(*) FROM jobs WHERE status IN ('succeeded', 'failed')")?;
            Ok((done == documents.len() as i64).then_some(()))
        })?;
        Ok(run)
    })?;
    let client_secs = started.elapsed().as_secs_f64();
    if let Ok(path) = std::env::var("BENCH_LOG") {
        std::fs::write(path, pipeline.all_logs())?;
    }
    let failed = pipeline.sql_count("SELECT COUNT(*) FROM jobs WHERE status = 'failed'")?;
    ensure!(failed == 0, "{failed} jobs failed");
    let rows = pipeline.sql(
        "SELECT d.upload_ms, j.fetch_ms, j.lease_write_ms, \
         CAST((julianday(j.started_at) - julianday(j.created_at)) * 86400000 AS INTEGER) AS queue_ms, \
         CAST((julianday(j.finished_at) - julianday(j.started_at)) * 86400000 AS INTEGER) AS job_ms, \
         CAST((julianday((SELECT MAX(finished_at) FROM jobs)) - julianday((SELECT MIN(created_at) FROM documents))) * 86400000 AS INTEGER) AS span_ms \
         FROM jobs j JOIN documents d ON d.id = j.document_id",
    )?;
    let column = |name: &str| Samples(rows.iter().filter_map(|r| r[name].as_f64()).collect());
    let span_ms = rows
        .first()
        .and_then(|r| r["span_ms"].as_f64())
        .unwrap_or(f64::NAN);
    // The first upload started a little before its document row was written.
    let first_upload = column("upload_ms").max() / 1_000.0;
    let end_to_end = (span_ms / 1_000.0 + first_upload).min(client_secs);
    Ok(DocpipeRun {
        run: Run {
            rate: documents.len() as f64 / end_to_end,
            uploads_secs: run.elapsed.as_secs_f64(),
            cpu_ms,
        },
        retries: run.retries,
        upload: column("upload_ms"),
        queue: column("queue_ms"),
        fetch: column("fetch_ms"),
        job: column("job_ms"),
        write: column("lease_write_ms"),
    })
}

/// Published prices (USD) of what a document costs, as read on 2026-12-02 from Cloudflare's
/// pricing pages (Workers, D1, R2, Queues), beyond each plan's included amounts.
const PRICES_READ_ON: &str = "2026-12-02";
const PRICE_REQUEST: f64 = 0.30 / 1e6;
const PRICE_CPU_MS: f64 = 0.02 / 1e6;
const PRICE_D1_ROW_READ: f64 = 0.001 / 1e6;
const PRICE_D1_ROW_WRITTEN: f64 = 1.00 / 1e6;
const PRICE_R2_CLASS_A: f64 = 4.50 / 1e6;
const PRICE_R2_CLASS_B: f64 = 0.36 / 1e6;
/// Per queue operation; a message of up to 64 KB is written, read and deleted: 3 operations.
const PRICE_QUEUE_OPERATION: f64 = 0.40 / 1e6;

/// Billed operations per document.
#[derive(Default, Clone, Copy)]
struct PerDocument {
    requests: f64,
    cpu_ms: f64,
    d1_read: f64,
    d1_written: f64,
    r2_a: f64,
    r2_b: f64,
    queue_ops: f64,
}

impl PerDocument {
    fn cost_per_thousand(&self) -> f64 {
        1_000.0
            * (self.requests * PRICE_REQUEST
                + self.cpu_ms * PRICE_CPU_MS
                + self.d1_read * PRICE_D1_ROW_READ
                + self.d1_written * PRICE_D1_ROW_WRITTEN
                + self.r2_a * PRICE_R2_CLASS_A
                + self.r2_b * PRICE_R2_CLASS_B
                + self.queue_ops * PRICE_QUEUE_OPERATION)
    }
}

/// The last totals a Worker logged with `message`, as numbers by field.
fn last_totals(events: &[Value], message: &str) -> Option<Value> {
    events
        .iter()
        .rev()
        .find(|e| e["fields"]["message"] == message)
        .map(|e| e["fields"].clone())
}

fn cost(report: &mut Report, quick: bool) -> Result<()> {
    report.section(
        "9. Cost per 1,000 documents",
        "scripts/bench cost",
        &format!(
            "Counted, not estimated: each Worker counts its billed operations as it makes them \
             (D1 rows read and written from every result's `meta`, R2 class A and B calls, queue \
             messages; `crates/cloudflare/src/usage.rs`) and logs the totals (`request done` at \
             debug level, `batch done`); a fresh pipeline takes documents of one size, one after \
             the other, and the totals are divided by their number. Requests are the uploads plus \
             the consumer's invocations (one per batch); queue operations are 3 per message of up \
             to 64 KB (write, read, delete); CPU is extraction and summarization measured natively \
             here (section 3: workerd is within 1.2× of native). The reference pipeline's \
             operations are read off its code (`tests/bench/reference.js`: one put and one \
             message per upload, one get and one one-row `INSERT` per message; its CPU is a \
             regular expression over the text, taken as 0). Prices as published on \
             {PRICES_READ_ON} beyond the plans' included amounts: requests $0.30/M, CPU $0.02/M ms, \
             D1 $0.001/M rows read and $1.00/M rows written, R2 $4.50/M class A and $0.36/M \
             class B, Queues $0.40/M operations. Storage (R2 $0.015/GB-month for the original and \
             its text; D1 for rows and the search index, section 8) and model tokens (recorded \
             per job in `jobs.ai_*`; 0 with the extractive summarizer measured here) come on top. \
             The third row of each size is the same run read back from D1: each job's own counts \
             in `job_usage` (its upload, carried in its message, and its processing), averaged; \
             they leave out what is not any one job's (the sweep, the statement's reads that \
             claim webhook deliveries)."
        ),
    );
    let classes: &[(&str, usize, usize)] = if quick {
        &[("10 KB", 10_000, 5), ("1 MB", MB, 2)]
    } else {
        &[
            ("10 KB", 10_000, 40),
            ("1 MB", MB, 10),
            ("20 MB", 20 * MB, 3),
        ]
    };
    report.line("| document | pipeline | requests | CPU ms | D1 rows read | D1 rows written | R2 class A | R2 class B | queue ops | $ per 1,000 documents | ratio to the reference |");
    report.line("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for &(label, size, count) in classes {
        let pipeline = Pipeline::start_with(Options::with_vars(["LOG_LEVEL:debug"]))?;
        let texts: Vec<String> = (0..count).map(|i| prose(size, 7_000 + i as u64)).collect();
        let mut jobs = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let accepted = pipeline.accept(
                text.as_bytes(),
                "text/plain",
                &format!("?filename=cost-{i}.txt"),
            )?;
            jobs.push(accepted.job_id);
        }
        for job in &jobs {
            let job = pipeline.wait_for_job(job, Duration::from_secs(600))?;
            ensure!(job.status == "succeeded", "{job:?}");
        }
        // The totals are logged once the last batch is done.
        pipeline.batches_done(count)?;
        let events = pipeline.log_events();
        let upload = last_totals(&events, "request done").context("no upload totals")?;
        let consumer = last_totals(&events, "batch done").context("no consumer totals")?;
        let batches = events
            .iter()
            .filter(|e| e["fields"]["message"] == "batch done")
            .count() as f64;
        let total = |name: &str| {
            upload[name].as_f64().unwrap_or(0.0) + consumer[name].as_f64().unwrap_or(0.0)
        };
        let n = count as f64;
        let cpu_ms = {
            let limits = ExtractLimits::default();
            let options = SummaryOptions::default();
            let content_type = ContentType::new(MediaType::PlainText);
            let started = Instant::now();
            for text in &texts {
                let input = Input {
                    bytes: text.as_bytes(),
                    content_type: &content_type,
                    complete: true,
                };
                let extracted = extract_text(&input, &limits)?;
                ExtractiveSummarizer.summarize_text(&extracted.text, &options)?;
            }
            started.elapsed().as_secs_f64() * 1_000.0 / n
        };
        // Messages of up to 64 KB are one operation each way; docpipe's are ids only.
        let docpipe = PerDocument {
            requests: (n + batches) / n,
            cpu_ms,
            d1_read: total("d1_rows_read_total") / n,
            d1_written: total("d1_rows_written_total") / n,
            r2_a: total("r2_class_a_total") / n,
            r2_b: total("r2_class_b_total") / n,
            queue_ops: 3.0 * total("queue_messages_total") / n,
        };
        // The same operations as each job recorded them in D1 (`job_usage`).
        let recorded = eventually(Duration::from_secs(30), || {
            let rows = pipeline.sql(
                "SELECT COUNT(*) AS jobs, AVG(requests) AS requests, AVG(d1_rows_read) AS read, \
                 AVG(d1_rows_written) AS written, AVG(r2_class_a) AS a, AVG(r2_class_b) AS b, \
                 AVG(queue_operations) AS queue FROM job_usage",
            )?;
            let row = rows.into_iter().next().unwrap_or_default();
            Ok((row["jobs"].as_u64() == Some(count as u64)).then_some(row))
        })?;
        let number = |name: &str| recorded[name].as_f64().unwrap_or(0.0);
        let per_job = PerDocument {
            requests: number("requests"),
            cpu_ms,
            d1_read: number("read"),
            d1_written: number("written"),
            r2_a: number("a"),
            r2_b: number("b"),
            queue_ops: number("queue"),
        };
        let reference = PerDocument {
            requests: (n + batches) / n,
            cpu_ms: 0.0,
            d1_read: 0.0,
            d1_written: 1.0,
            r2_a: 1.0,
            r2_b: 1.0,
            queue_ops: 3.0,
        };
        for (name, row) in [
            ("reference", reference),
            ("docpipe", docpipe),
            ("docpipe, as its jobs recorded it (`job_usage`)", per_job),
        ] {
            report.line(&format!(
                "| {label} | {name} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.4} | {:.2} |",
                row.requests,
                row.cpu_ms,
                row.d1_read,
                row.d1_written,
                row.r2_a,
                row.r2_b,
                row.queue_ops,
                row.cost_per_thousand(),
                row.cost_per_thousand() / reference.cost_per_thousand(),
            ));
        }
        println!(
            "cost {label}: {:.4} $ per 1,000 documents",
            docpipe.cost_per_thousand()
        );
    }
    Ok(())
}

/// The bytes D1's search index takes per document, measured on SQLite (D1's engine) with
/// docpipe's migrations, and what that means for one database.
fn search_index(report: &mut Report, quick: bool) -> Result<()> {
    report.section(
        "8. Search index size",
        "scripts/bench search",
        "Documents of generated prose indexed as docpipe indexes them (name, a 600-character \
         summary, the first 256 KiB of text) into `search_index` (FTS5, unicode61) in a SQLite \
         database made by `migrations/`; bytes are the database's pages before and after, so \
         they include FTS5's own tables (which keep a copy of what is indexed, for snippets). D1 \
         holds at most 10 GB per database.",
    );
    let count = if quick { 100 } else { 400 };
    let mut rows = Vec::new();
    for &size in &[2_000usize, 20_000, 200_000, 1_000_000] {
        let db = rusqlite::Connection::open_in_memory()?;
        let mut files: Vec<_> = std::fs::read_dir(root().join("migrations"))?
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        for file in files {
            db.execute_batch(&std::fs::read_to_string(file)?)?;
        }
        let bytes = |db: &rusqlite::Connection| -> Result<i64> {
            let pages: i64 = db.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            let size: i64 = db.query_row("PRAGMA page_size", [], |r| r.get(0))?;
            Ok(pages * size)
        };
        let before = bytes(&db)?;
        let started = Instant::now();
        for i in 0..count {
            let text = prose(size, i as u64 + 1);
            let indexed = docpipe_pipeline::search::indexed_prefix(&text);
            let summary: String = text.chars().take(600).collect();
            db.execute(
                "INSERT INTO search_index (rowid, document_id, tenant_id, filename, summary, body) \
                 VALUES (?1, ?2, 'default', ?3, ?4, ?5)",
                rusqlite::params![
                    i as i64 + 1,
                    format!("doc-{i}"),
                    format!("report-{i}.txt"),
                    summary,
                    indexed
                ],
            )?;
        }
        let elapsed = started.elapsed().as_secs_f64() * 1_000.0 / count as f64;
        let per_doc = (bytes(&db)? - before) as f64 / count as f64;
        let indexed = size.min(docpipe_pipeline::search::INDEXED_TEXT_BYTES);
        rows.push(format!(
            "| {size} | {indexed} | {:.0} | {:.2} | {:.0} | {:.2} |",
            per_doc,
            per_doc / indexed as f64,
            10e9 / per_doc / 1e3,
            elapsed
        ));
    }
    report.line(
        "| text bytes | indexed bytes | index bytes / document | per indexed byte | documents per 10 GB, index alone (thousands) | ms / insert (native) |",
    );
    report.line("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for row in rows {
        report.line(&row);
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = args();
    let started = Instant::now();
    let mut report = Report {
        markdown: String::new(),
        misses: Vec::new(),
    };
    for section in &args.sections {
        match section.as_str() {
            "sizes" => sizes(&mut report)?,
            "startup" => startup(&mut report, args.quick)?,
            "upload" => upload(&mut report, args.quick)?,
            "fresh" => fresh_runtime_memory(&mut report, args.quick)?,
            "summarizer" => summarizer(&mut report, args.quick)?,
            "pipeline" => pipeline_throughput(&mut report, args.quick)?,
            "search" => search_index(&mut report, args.quick)?,
            "cost" => cost(&mut report, args.quick)?,
            other => bail!("unknown section {other}"),
        }
    }
    let mut out = format!(
        "# docpipe benchmarks\n\nProduced by `scripts/bench{}` in {:.0} s on {}. Every ratio \
         compares against a baseline measured in the same run; absolute times on a shared \
         machine are context only. Medians, with min–max.\n",
        if args.quick { " --quick" } else { "" },
        started.elapsed().as_secs_f64(),
        machine()
    );
    out.push_str(&report.markdown);
    out.push_str("\n## Targets missed\n\n");
    if report.misses.is_empty() {
        out.push_str("None in this run.\n");
    } else {
        for miss in &report.misses {
            let _ = writeln!(out, "- {miss}");
        }
    }
    // Sections measured by other commands (6: scripts/rouge, 7: the memory tests, 10:
    // scripts/extract-quality); keep them.
    if let Ok(previous) = std::fs::read_to_string(&args.out) {
        for name in ["rouge", "memory", "extract"] {
            let (open, close) = (format!("<!-- {name} -->"), format!("<!-- /{name} -->"));
            if let (Some(start), Some(end)) = (previous.find(&open), previous.find(&close)) {
                out.push('\n');
                out.push_str(&previous[start..end + close.len()]);
                out.push('\n');
            }
        }
    }
    std::fs::write(&args.out, out)?;
    println!(
        "wrote {} in {:.0} s",
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
