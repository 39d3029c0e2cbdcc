//! The real pipeline, started for one test: both Workers (and the Workers AI stand-in, when
//! asked for) in one `wrangler dev`, on free ports, with a temporary `--persist-to` directory.
//! Dropping a [`Pipeline`] stops every process it started, also when a test fails.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::api::{Accepted, Job, Summary};
use crate::configs::{Options, write_configs};
use crate::http::{HttpResponse, request};
use crate::runtime::{free_port, group_alive, signal_group, spawn_dev, wrangler_command};
use crate::storage::LocalState;
use crate::{poll, root};
use docpipe_pipeline::auth::DEFAULT_TENANT;

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
    /// A key of the tenant `default` with both scopes, made when the pipeline started.
    pub key: String,
}

/// Starts the pipeline's Workers as `options` lays them out.
fn spawn(
    dir: &std::path::Path,
    options: &Options,
    port: u16,
    inspector: u16,
) -> Result<(Child, PathBuf)> {
    let configs = write_configs(dir, options)?;
    let test_scheduled = !options.without_test_scheduled;
    spawn_dev(
        dir,
        &configs,
        port,
        inspector,
        test_scheduled,
        options.v8_flags.as_deref(),
    )
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
        let state = LocalState {
            dir: persist.clone(),
        };
        let key = state.create_key(DEFAULT_TENANT, "e2e", "read write")?.key;
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
            key,
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
        poll(timeout, Duration::from_millis(200), || {
            if let Ok(response) = self.get("/healthz")
                && response.status == 200
            {
                return Ok(Some(()));
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("wrangler dev exited with {status}:\n{}", self.logs());
            }
            Ok(None)
        })
        .with_context(|| format!("pipeline not healthy:\n{}", self.logs()))
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

    /// The summarizer's `batch done` lines, once they account for at least `messages`
    /// messages (a batch logs after its handler has returned).
    pub fn batches_done(&self, messages: usize) -> Result<Vec<Value>> {
        crate::eventually(Duration::from_secs(30), || {
            let batches: Vec<Value> = self
                .log_events()
                .into_iter()
                .filter(|e| e["fields"]["message"] == "batch done")
                .collect();
            let logged: u64 = batches
                .iter()
                .filter_map(|e| e["fields"]["messages"].as_u64())
                .sum();
            Ok((logged >= messages as u64).then_some(batches))
        })
    }

    /// A request with the pipeline's key (tenant `default`, read and write).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<HttpResponse> {
        self.request_as(&self.key, method, path, headers, body)
    }

    /// A request with `key`.
    pub fn request_as(
        &self,
        key: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<HttpResponse> {
        let authorization = format!("Bearer {key}");
        let mut all = vec![("Authorization", authorization.as_str())];
        all.extend_from_slice(headers);
        request(self.port, method, path, &all, body)
    }

    pub fn get(&self, path: &str) -> Result<HttpResponse> {
        self.request("GET", path, &[], None)
    }

    /// Uploads `body` as a document.
    pub fn upload(&self, body: &[u8], content_type: &str, query: &str) -> Result<HttpResponse> {
        let path = format!("/v1/documents{query}");
        self.request("POST", &path, &[("Content-Type", content_type)], Some(body))
    }

    /// Uploads `body` and returns its `202`.
    pub fn accept(&self, body: &[u8], content_type: &str, query: &str) -> Result<Accepted> {
        self.upload(body, content_type, query)?.accepted()
    }

    /// Polls the job until it is `succeeded` or `failed`, and returns it.
    pub fn wait_for_job(&self, job_id: &str, timeout: Duration) -> Result<Job> {
        poll(timeout, Duration::from_millis(100), || {
            let job = self.get(&format!("/v1/jobs/{job_id}"))?.job()?;
            Ok(job.is_finished().then_some(job))
        })
        .with_context(|| format!("job {job_id} did not finish"))
    }

    /// The document's summary, which must be there.
    pub fn summary(&self, document_id: &str) -> Result<Summary> {
        self.get(&format!("/v1/documents/{document_id}/summary"))?
            .summary()
    }

    /// The pipeline's local D1 and R2.
    pub fn state(&self) -> LocalState {
        LocalState {
            dir: self.persist_dir(),
        }
    }

    /// Runs SQL against the pipeline's local D1 and returns the rows.
    pub fn sql(&self, query: &str) -> Result<Vec<Value>> {
        self.state().sql(query)
    }

    /// The first column of the first row, as an integer.
    pub fn sql_count(&self, query: &str) -> Result<i64> {
        self.state().sql_count(query)
    }

    /// [`LocalState::peek_count`]: for polling while the pipeline runs.
    pub fn peek_count(&self, query: &str) -> Result<i64> {
        self.state().peek_count(query)
    }

    /// The keys of the documents' original bytes in the local R2 bucket.
    pub fn document_keys(&self) -> Result<Vec<String>> {
        self.state().document_keys()
    }

    /// The keys of every object in the local R2 bucket.
    pub fn r2_keys(&self) -> Result<Vec<String>> {
        self.state().r2_keys()
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
