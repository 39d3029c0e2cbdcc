//! # docpipe-e2e
//!
//! A harness that runs the real pipeline for end-to-end tests: both Workers in one
//! `wrangler dev` (workerd), on free ports, with a temporary `--persist-to` directory holding
//! local R2, D1 and queue state. Tests talk to it over HTTP, read D1 through
//! `wrangler d1 execute`, and read its logs. Dropping a [`Pipeline`] stops every process it
//! started, also when a test fails.
//!
//! The Workers must be built first (`scripts/build`); `scripts/test` does that.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

pub mod load;
pub mod openai_fake;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn wrangler() -> PathBuf {
    root().join("node_modules/.bin/wrangler")
}

/// A wrangler command with the environment the scripts use.
pub fn wrangler_command() -> Command {
    let mut command = Command::new(wrangler());
    command
        .current_dir(root())
        .env("WRANGLER_SEND_METRICS", "false")
        .env("NO_COLOR", "1");
    command
}

/// A port that is free now. It comes from below Linux's ephemeral range (32768 and up), so no
/// socket that a runtime starting meanwhile binds to port 0 can take it before `wrangler dev`
/// does; each call in this process tries a different one, and processes start apart.
fn free_port() -> Result<u16> {
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = std::process::id().wrapping_mul(7_919);
    for _ in 0..COUNT {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(FIRST + offset.wrapping_add(n) % COUNT)?;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port in {FIRST}..{}", FIRST + COUNT)
}

/// Starts `wrangler dev` with `configs` on the given ports and the state in `dir/state`,
/// logging to a new file in `dir`, in its own process group (so stopping it also stops
/// workerd and anything else it spawns).
fn spawn_dev(
    dir: &Path,
    configs: &[PathBuf],
    port: u16,
    inspector: u16,
) -> Result<(Child, PathBuf)> {
    let mut index = 0;
    let log = loop {
        let candidate = dir.join(format!("wrangler-{index}.log"));
        if !candidate.exists() {
            break candidate;
        }
        index += 1;
    };
    let out = File::create(&log)?;
    let mut command = wrangler_command();
    command.arg("dev");
    for config in configs {
        command.arg("-c").arg(config);
    }
    command
        .arg("--persist-to")
        .arg(dir.join("state"))
        .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
        .args(["--inspector-port", &inspector.to_string()])
        .args(["--test-scheduled", "--show-interactive-dev-session=false"])
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let child = command.spawn().context("starting wrangler dev")?;
    Ok((child, log))
}

/// Starts the pipeline's Workers as `options` lays them out.
fn spawn(dir: &Path, options: &Options, port: u16, inspector: u16) -> Result<(Child, PathBuf)> {
    let configs = write_configs(dir, options)?;
    spawn_dev(dir, &configs, port, inspector)
}

/// The workerd process that runs the Workers of the `wrangler dev` in process group `group`
/// (the other one is wrangler's proxy): the one with an inspector.
pub fn runtime_pid(group: u32) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name: state, ppid, pgrp, ...
        let after_name = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        let pgrp = after_name
            .split_whitespace()
            .nth(2)
            .and_then(|g| g.parse::<u32>().ok());
        if pgrp != Some(group) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("workerd") && cmdline.contains("--inspector-addr") {
            return Some(pid);
        }
    }
    None
}

/// Resident memory of a process, in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The JavaScript baseline Worker (`tests/bench/baseline.toml`), alone in its own workerd.
#[derive(Debug)]
pub struct Baseline {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Baseline {
    pub fn start() -> Result<Baseline> {
        let dir = tempfile::Builder::new()
            .prefix("docpipe-baseline-")
            .tempdir()?;
        let port = free_port()?;
        let config = root().join("tests/bench/baseline.toml");
        let (child, _) = spawn_dev(dir.path(), &[config], port, free_port()?)?;
        let baseline = Baseline { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(90);
        while request(port, "GET", "/healthz", &[], None)
            .ok()
            .map(|r| r.status)
            != Some(200)
        {
            ensure!(Instant::now() < deadline, "baseline Worker did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(baseline)
    }

    pub fn group(&self) -> u32 {
        self.child.id()
    }

    pub fn state_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        signal_group(self.child.id(), "KILL");
        let _ = self.child.wait();
    }
}

/// A running pipeline.
#[derive(Debug)]
pub struct Pipeline {
    child: Child,
    dir: tempfile::TempDir,
    options: Options,
    log: PathBuf,
    running: bool,
    pub port: u16,
    inspector: u16,
}

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
}

impl Options {
    pub fn with_vars(vars: Vec<String>) -> Self {
        Self {
            vars,
            ..Self::default()
        }
    }

    /// Workers AI through the stand-in, with `vars` for every Worker (the stand-in's too).
    pub fn ai_standin(vars: Vec<String>) -> Self {
        Self {
            vars,
            ai_standin: true,
            ..Self::default()
        }
    }
}

/// Writes the configs of this run into `dir/config` with `scripts/wrangler-configs.mjs` (the
/// generator `scripts/dev` uses) and returns their paths, the upload Worker's first.
fn write_configs(dir: &Path, options: &Options) -> Result<Vec<PathBuf>> {
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

impl Pipeline {
    pub fn start() -> Result<Pipeline> {
        Self::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> Result<Pipeline> {
        let builds = if options.summarizer_alone {
            vec!["summarizer/build-bench"]
        } else {
            vec!["upload/build", "summarizer/build"]
        };
        for build in builds {
            let built = root().join(format!("workers/{build}/index.js"));
            ensure!(
                built.exists(),
                "{} is missing: run scripts/build first",
                built.display()
            );
        }
        let dir = tempfile::Builder::new().prefix("docpipe-e2e-").tempdir()?;
        let persist = dir.path().join("state");
        let status = wrangler_command()
            .args(["d1", "migrations", "apply", "DB", "--local", "--persist-to"])
            .arg(&persist)
            .args(["-c", "wrangler/summarizer.toml"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("running wrangler d1 migrations apply")?;
        ensure!(status.success(), "applying migrations failed");
        let (port, inspector) = (free_port()?, free_port()?);
        let (child, log) = spawn(dir.path(), &options, port, inspector)?;
        let mut pipeline = Pipeline {
            child,
            dir,
            options,
            log,
            running: true,
            port,
            inspector,
        };
        // A runtime that fails to start (another process took a port first, say) is given
        // two more tries on other ports; its log stays beside the next one's.
        for tries_left in (0..3).rev() {
            match pipeline.wait_healthy(Duration::from_secs(90)) {
                Ok(()) => break,
                Err(_) if tries_left > 0 && !pipeline.is_running()? => {
                    let last = pipeline.logs();
                    let reason = last.lines().rev().find(|l| l.contains("ERROR"));
                    eprintln!(
                        "wrangler dev exited before it answered ({}); trying other ports",
                        reason.unwrap_or("no error logged").trim()
                    );
                    (pipeline.port, pipeline.inspector) = (free_port()?, free_port()?);
                    pipeline.spawn_again()?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(pipeline)
    }

    /// Starts the runtime again on the same state and port, after [`Pipeline::kill`] or
    /// [`Pipeline::stop`].
    pub fn restart(&mut self) -> Result<()> {
        self.spawn_again()?;
        self.wait_healthy(Duration::from_secs(90))
    }

    /// Stops the runtime if it runs and starts a new one on `self.port`, logging to a new file.
    fn spawn_again(&mut self) -> Result<()> {
        self.stop();
        let (child, log) = spawn(self.dir.path(), &self.options, self.port, self.inspector)?;
        self.child = child;
        self.log = log;
        self.running = true;
        Ok(())
    }

    /// Whether the `wrangler dev` process is still alive.
    fn is_running(&mut self) -> Result<bool> {
        Ok(self.child.try_wait()?.is_none())
    }

    /// Fires the cron trigger (the sweep), as `wrangler dev --test-scheduled` allows.
    pub fn fire_sweep(&self) -> Result<()> {
        let response = self.get("/__scheduled?cron=*+*+*+*+*")?;
        ensure!(
            response.status == 200,
            "sweep answered {}: {}",
            response.status,
            response.text()
        );
        Ok(())
    }

    /// Every log file this pipeline's runtimes wrote, concatenated.
    pub fn all_logs(&self) -> String {
        let mut logs = String::new();
        for index in 0.. {
            let Ok(text) =
                std::fs::read_to_string(self.dir.path().join(format!("wrangler-{index}.log")))
            else {
                break;
            };
            logs.push_str(&text);
        }
        logs
    }

    /// The process group of the running `wrangler dev`.
    pub fn group(&self) -> u32 {
        self.child.id()
    }

    /// The `--persist-to` directory.
    pub fn persist_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn wait_healthy(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(response) = self.get("/healthz")
                && response.status == 200
            {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("wrangler dev exited with {status}:\n{}", self.logs());
            }
            if Instant::now() > deadline {
                bail!("pipeline not healthy after {timeout:?}:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Everything wrangler and the Workers printed so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The calls the Workers AI stand-in got, as it logged them (`model`, `options`,
    /// `input_keys`, `roles`, `max_completion_tokens`, `chat_template_kwargs`, `input_chars`,
    /// `outcome`, `error`, `usage`), oldest first, across restarts.
    pub fn ai_standin_calls(&self) -> Vec<Value> {
        log_events(&self.all_logs())
            .into_iter()
            .filter(|event| event["fields"]["message"] == "ai-standin call")
            .map(|event| event["fields"].clone())
            .collect()
    }

    /// The JSON log lines the Workers wrote.
    pub fn log_events(&self) -> Vec<Value> {
        log_events(&self.logs())
    }

    pub fn get(&self, path: &str) -> Result<HttpResponse> {
        request(self.port, "GET", path, &[], None)
    }

    /// Uploads `body` as a document.
    pub fn upload(&self, body: &[u8], content_type: &str, query: &str) -> Result<HttpResponse> {
        let path = format!("/v1/documents{query}");
        request(
            self.port,
            "POST",
            &path,
            &[("Content-Type", content_type)],
            Some(body),
        )
    }

    /// Polls the job until it is `succeeded` or `failed`, and returns it.
    pub fn wait_for_job(&self, job_id: &str, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let job = self.get(&format!("/v1/jobs/{job_id}"))?.json()?;
            let status = job["status"].as_str().unwrap_or_default();
            if status == "succeeded" || status == "failed" {
                return Ok(job);
            }
            if Instant::now() > deadline {
                bail!("job {job_id} still {status} after {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs SQL against the pipeline's local D1 and returns the rows.
    pub fn sql(&self, query: &str) -> Result<Vec<Value>> {
        d1_query(&self.persist_dir(), query)
    }

    /// The first column of the first row, as an integer.
    pub fn sql_count(&self, query: &str) -> Result<i64> {
        let rows = self.sql(query)?;
        rows.first()
            .and_then(|row| row.as_object()?.values().next()?.as_i64())
            .with_context(|| format!("{query} returned no integer: {rows:?}"))
    }

    /// The keys of the documents' original bytes in the local R2 bucket (not their extracted
    /// text, kept under `<key>.txt`).
    pub fn document_keys(&self) -> Result<Vec<String>> {
        Ok(self
            .r2_keys()?
            .into_iter()
            .filter(|key| !key.ends_with(".txt"))
            .collect())
    }

    /// The first column of the first row of `query`, read straight from the D1 file through
    /// a read-only connection: for polling while the pipeline runs. A `wrangler d1 execute`
    /// is a whole Node process per query, which would compete for the CPU being measured and
    /// briefly lock the database when it closes.
    pub fn peek_count(&self, query: &str) -> Result<i64> {
        let db = rusqlite::Connection::open_with_flags(
            self.d1_file()?,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        db.busy_timeout(Duration::from_secs(5))?;
        Ok(db.query_row(query, [], |row| row.get(0))?)
    }

    /// The SQLite files of a miniflare storage kind (`d1/miniflare-D1DatabaseObject`, …), one
    /// per database or bucket, without the index file.
    fn storage_files(&self, kind: &str) -> Result<Vec<PathBuf>> {
        let dir = self.persist_dir().join("v3").join(kind);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut files = Vec::new();
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "sqlite")
                && path.file_name().is_some_and(|n| n != "metadata.sqlite")
            {
                files.push(path);
            }
        }
        Ok(files)
    }

    /// The SQLite file behind the local D1 database.
    pub fn d1_file(&self) -> Result<PathBuf> {
        self.storage_files("d1/miniflare-D1DatabaseObject")?
            .into_iter()
            .next()
            .context("no local D1 database yet")
    }

    /// The keys of every object in the local R2 bucket.
    pub fn r2_keys(&self) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        for path in self.storage_files("r2/miniflare-R2BucketObject")? {
            let db = rusqlite::Connection::open_with_flags(
                &path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )?;
            let mut statement = db.prepare("SELECT key FROM _mf_objects ORDER BY key")?;
            let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
            for key in rows {
                keys.push(key?);
            }
        }
        Ok(keys)
    }

    /// Stops the pipeline (as Ctrl-C would) and waits until every process it started is gone.
    pub fn stop(&mut self) {
        if !std::mem::replace(&mut self.running, false) {
            return;
        }
        let group = self.child.id();
        signal_group(group, "TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // Reap wrangler itself, so its zombie does not keep the group alive.
            let _ = self.child.try_wait();
            if !group_alive(group) {
                break;
            }
            if Instant::now() > deadline {
                signal_group(group, "KILL");
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.wait();
    }

    /// Kills the runtime abruptly, losing in-memory queue messages, as a crash would.
    pub fn kill(&mut self) {
        if !std::mem::replace(&mut self.running, false) {
            return;
        }
        let group = self.child.id();
        signal_group(group, "KILL");
        let _ = self.child.wait();
        let deadline = Instant::now() + Duration::from_secs(10);
        while group_alive(group) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop();
        // Keep logs and state for a look after a failure, or when asked to.
        if std::thread::panicking() || std::env::var_os("DOCPIPE_E2E_KEEP").is_some() {
            self.dir.disable_cleanup(true);
            eprintln!(
                "pipeline state and logs kept in {}",
                self.dir.path().display()
            );
        }
    }
}

/// The JSON log lines in `logs`: each Worker writes one JSON object per line, which wrangler
/// prefixes with the Worker's name.
fn log_events(logs: &str) -> Vec<Value> {
    logs.lines()
        .filter_map(|line| line.find("{\"timestamp\"").map(|at| &line[at..]))
        // wrangler may decorate a line after the JSON (colors for warnings): read one value.
        .filter_map(|json| {
            serde_json::Deserializer::from_str(json)
                .into_iter::<Value>()
                .next()?
                .ok()
        })
        .collect()
}

fn group_alive(group: u32) -> bool {
    Command::new("kill")
        .args(["-s", "0", "--"])
        .arg(format!("-{group}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn signal_group(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args(["-s", signal, "--"])
        .arg(format!("-{pid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Runs SQL against the local D1 kept in `persist`. The running pipeline shares the SQLite
/// file, so a busy database is waited out.
pub fn d1_query(persist: &Path, query: &str) -> Result<Vec<Value>> {
    let mut attempt = 0;
    let output = loop {
        let output = wrangler_command()
            .args(["d1", "execute", "DB", "--local", "--json", "--persist-to"])
            .arg(persist)
            .args(["-c", "wrangler/summarizer.toml", "--command", query])
            .output()
            .context("running wrangler d1 execute")?;
        // The busy error surfaces on stdout (as an internal error) and on stderr.
        let busy = [&output.stdout, &output.stderr]
            .iter()
            .any(|out| String::from_utf8_lossy(out).contains("SQLITE_BUSY"));
        attempt += 1;
        if output.status.success() || !busy || attempt == 20 {
            break output;
        }
        std::thread::sleep(Duration::from_millis(100 * attempt));
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "wrangler d1 execute failed for {query}:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let start = stdout.find('[').context("no JSON in wrangler output")?;
    let results: Value = serde_json::from_str(&stdout[start..])?;
    let rows = results
        .as_array()
        .and_then(|statements| statements.last())
        .and_then(|last| last["results"].as_array())
        .cloned()
        .unwrap_or_default();
    Ok(rows)
}

/// An HTTP response, whole.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "status {} body is not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A plain HTTP/1.1 request with `Content-Length` set from `body`.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<HttpResponse> {
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body.unwrap_or_default());
    raw_request(port, &raw)
}

/// Sends raw bytes as a request and reads the response, for requests a client library would
/// refuse to make (lying or missing lengths, chunked bodies).
pub fn raw_request(port: u16, raw: &[u8]) -> Result<HttpResponse> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    // The server may answer (say, 413) before it has read the whole body and then close the
    // connection: a failed write is not an error as long as a response arrives.
    let _ = stream.write_all(raw);
    read_response(&mut stream)
}

/// Reads one response: the head, then a body delimited by `Content-Length`, by chunked
/// encoding, or by the end of the connection.
fn read_response(stream: &mut TcpStream) -> Result<HttpResponse> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut chunk)?;
        ensure!(n > 0, "connection closed before the response head");
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut response = HttpResponse {
        status,
        headers,
        body: buffer[head_end + 4..].to_vec(),
    };
    let length = response
        .header("Content-Length")
        .and_then(|v| v.parse::<usize>().ok());
    let chunked = response
        .header("Transfer-Encoding")
        .is_some_and(|v| v.contains("chunked"));
    loop {
        let complete = match (length, chunked) {
            (Some(length), _) => response.body.len() >= length,
            (None, true) => response.body.ends_with(b"0\r\n\r\n"),
            (None, false) => false,
        };
        if complete {
            break;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        response.body.extend_from_slice(&chunk[..n]);
    }
    if chunked {
        response.body = dechunk(&response.body)?;
    }
    Ok(response)
}

fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("bad chunk")?;
        let size_text = String::from_utf8_lossy(&raw[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        ensure!(raw.len() >= size + 2, "truncated chunk");
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// Waits until `check` returns `Some`, polling until `timeout`.
pub fn eventually<T>(timeout: Duration, mut check: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("condition not met within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
