//! Webhooks end to end: endpoints registered over the API, events signed and delivered through
//! the webhooks queue to a local receiver that checks every signature on its own (HMAC-SHA256
//! over `"{t}.{body}"`, as a receiver written from the README would), is down for the first
//! three attempts at each event and still gets it; a receiver that never answers ends in a
//! dead-letter record; redelivery; the address rules on receivers.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, ensure};
use docpipe_e2e::{Options, Pipeline, eventually};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// One request the receiver got, and what it made of it.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    signature: String,
    body: String,
    event: Value,
}

/// A local receiver: `/flaky` answers 503 to the first three attempts at each event, then
/// 200; `/callback` answers 200; `/silent` reads the request and never answers.
#[derive(Debug, Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(&self) -> Result<u16> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let receiver = self.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let receiver = receiver.clone();
                std::thread::spawn(move || {
                    let _ = receiver.serve(stream);
                });
            }
        });
        Ok(port)
    }

    fn serve(&self, mut stream: std::net::TcpStream) -> Result<()> {
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
        let (mut length, mut signature) = (0usize, String::new());
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            if line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse()?,
                    "docpipe-signature" => signature = value.trim().to_owned(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let body = String::from_utf8(body)?;
        let event: Value = serde_json::from_str(&body)?;
        let earlier = {
            let mut got = self.got.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            let earlier = got
                .iter()
                .filter(|r| r.path == path && r.event["id"] == event["id"])
                .count();
            got.push(Received {
                path: path.clone(),
                signature,
                body,
                event,
            });
            earlier
        };
        let status = match path.as_str() {
            "/flaky" if earlier < 3 => "503 Service Unavailable",
            "/silent" => {
                std::thread::sleep(Duration::from_secs(60));
                return Ok(());
            }
            _ => "200 OK",
        };
        write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        Ok(())
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().map(|got| got.clone()).unwrap_or_default()
    }
}

/// Checks a `Docpipe-Signature` as the README tells receivers to: `v1` is the hex
/// HMAC-SHA256 of `"{t}.{body}"` under the secret, and `t` is recent.
fn verify(secret: &str, header: &str, body: &str) -> Result<()> {
    let field = |name: &str| {
        header
            .split(',')
            .find_map(|part| part.strip_prefix(&format!("{name}=")))
            .with_context(|| format!("no `{name}` in `{header}`"))
    };
    let t: u64 = field("t")?.parse()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    ensure!(now.abs_diff(t) < 300, "t={t} is not recent");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())?;
    mac.update(format!("{t}.{body}").as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    ensure!(field("v1")? == expected, "bad signature {header}");
    Ok(())
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn post_json(pipeline: &Pipeline, path: &str, body: &str) -> Result<docpipe_e2e::HttpResponse> {
    pipeline.request(
        "POST",
        path,
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    )
}

#[test]
fn signed_events_reach_a_receiver_that_was_down_and_a_silent_one_ends_dead() -> Result<()> {
    let receiver = Receiver::default();
    let port = receiver.start()?;
    let pipeline = Pipeline::start_with(Options::with_vars([
        format!("FETCH_ALLOWED_HOSTS:127.0.0.1:{port}"),
        "WEBHOOK_RETRY_BASE_SECONDS:1".into(),
        "WEBHOOK_MAX_ATTEMPTS:5".into(),
        "WEBHOOK_TIMEOUT_SECONDS:2".into(),
    ]))?;
    let base = format!("http://127.0.0.1:{port}");
    let timeout = Duration::from_secs(120);

    // Receivers follow the address rules of URL ingestion.
    for refused in [
        r#"{"url": "http://169.254.169.254/latest/meta-data"}"#,
        r#"{"url": "http://10.0.0.8/hook"}"#,
        r#"{"url": "file:///etc/passwd"}"#,
        r#"{"url": "https://hooks.example.com/", "events": ["job.started"]}"#,
    ] {
        post_json(&pipeline, "/v1/webhooks", refused)?.expect_error(400, "invalid_webhook")?;
    }
    pipeline
        .upload(
            b"text",
            "text/plain",
            "?callback_url=http%3A%2F%2F192.168.1.1%2Fhook",
        )?
        .expect_error(400, "invalid_callback_url")?;
    ensure!(pipeline.sql_count("SELECT COUNT(*) FROM documents")? == 0);

    let flaky = post_json(
        &pipeline,
        "/v1/webhooks",
        &format!(r#"{{"url": "{base}/flaky", "description": "ops"}}"#),
    )?;
    ensure!(flaky.status == 201, "{flaky:?}");
    let flaky = flaky.json()?;
    let secret = flaky["secret"].as_str().context("no secret")?.to_owned();
    ensure!(secret.starts_with("whsec_"), "{secret}");
    let flaky_id = flaky["id"].as_str().context("no id")?.to_owned();
    let silent = post_json(
        &pipeline,
        "/v1/webhooks",
        &format!(r#"{{"url": "{base}/silent", "events": ["job.failed"]}}"#),
    )?
    .json()?;
    let silent_id = silent["id"].as_str().context("no id")?.to_owned();
    ensure!(silent["secret"] == secret.as_str(), "one secret per tenant");
    let listed = pipeline.get("/v1/webhooks")?.json()?;
    ensure!(
        listed["webhooks"].as_array().map(Vec::len) == Some(2),
        "{listed}"
    );
    ensure!(
        listed["webhooks"][0].get("secret").is_none(),
        "listing shows no secret"
    );
    ensure!(pipeline.get("/v1/webhooks/secret")?.json()?["secret"] == secret.as_str());

    // One document succeeds (to /flaky and its callback URL), one fails (to /flaky and
    // /silent).
    let callback = format!("{base}/callback")
        .replace(':', "%3A")
        .replace('/', "%2F");
    let good = pipeline.accept(
        b"The harbour reopened in spring. Boats returned the same week. The ferry ran again.",
        "text/plain",
        &format!("?filename=harbour.txt&callback_url={callback}"),
    )?;
    let bad = pipeline.accept(b"%PDF-1.4\nnot a pdf at all", "application/pdf", "")?;
    // A resumable (tus) upload names its callback URL in its metadata.
    let body = b"The lighthouse keeper wrote in the log every night. The lamp never failed.";
    let metadata = format!(
        "filename {},filetype {},callback_url {}",
        base64(b"log.txt"),
        base64(b"text/plain"),
        base64(format!("{base}/callback").as_bytes())
    );
    let created = pipeline.request(
        "POST",
        "/v1/uploads",
        &[
            ("Tus-Resumable", "1.0.0"),
            ("Upload-Length", &body.len().to_string()),
            ("Upload-Metadata", &metadata),
        ],
        None,
    )?;
    ensure!(created.status == 201, "{created:?}");
    let location = created
        .header("Location")
        .context("no Location")?
        .to_owned();
    let tus_job = created
        .header("Docpipe-Job-Id")
        .context("no job id")?
        .to_owned();
    let patched = pipeline.request(
        "PATCH",
        &location,
        &[
            ("Tus-Resumable", "1.0.0"),
            ("Upload-Offset", "0"),
            ("Content-Type", "application/offset+octet-stream"),
        ],
        Some(body),
    )?;
    ensure!(patched.status == 204, "{patched:?}");
    ensure!(pipeline.wait_for_job(&good.job_id, timeout)?.status == "succeeded");
    ensure!(pipeline.wait_for_job(&bad.job_id, timeout)?.status == "failed");
    ensure!(pipeline.wait_for_job(&tus_job, timeout)?.status == "succeeded");

    // Each event reaches /flaky on its fourth attempt.
    let deliveries_of = |id: &str| -> Result<Vec<Value>> {
        let page = pipeline
            .get(&format!("/v1/webhooks/{id}/deliveries"))?
            .json()?;
        Ok(page["deliveries"].as_array().cloned().unwrap_or_default())
    };
    let delivered = eventually(timeout, || {
        let deliveries = deliveries_of(&flaky_id)?;
        let done = deliveries.len() == 3 && deliveries.iter().all(|d| d["state"] == "delivered");
        Ok(done.then_some(deliveries))
    })?;
    for delivery in &delivered {
        let statuses: Vec<&Value> = delivery["attempt_log"]
            .as_array()
            .context("no attempt log")?
            .iter()
            .map(|a| &a["status"])
            .collect();
        ensure!(
            statuses == [&Value::from(503), &503.into(), &503.into(), &200.into()],
            "{delivery}"
        );
        ensure!(delivery["attempts"] == 4, "{delivery}");
    }

    // The silent receiver times out on every attempt, and its delivery is dead-lettered.
    let dead = eventually(timeout, || {
        let deliveries = deliveries_of(&silent_id)?;
        Ok(deliveries.first().filter(|d| d["state"] == "dead").cloned())
    })?;
    ensure!(
        dead["attempts"] == 5 && !dead["dead_at"].is_null(),
        "{dead}"
    );
    ensure!(
        dead["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("no response within")),
        "{dead}"
    );
    ensure!(dead["type"] == "job.failed" && dead["job_id"] == bad.job_id.as_str());
    let rows = pipeline.sql(&format!(
        "SELECT state, dead_at FROM webhook_deliveries WHERE endpoint_id = '{silent_id}'"
    ))?;
    ensure!(rows.len() == 1 && rows[0]["state"] == "dead", "{rows:?}");

    // The callback URLs got their own documents' successes only: the upload's and the tus
    // upload's.
    let callbacks = eventually(timeout, || {
        let deliveries = deliveries_of("callbacks")?;
        let done = deliveries.len() == 2 && deliveries.iter().all(|d| d["state"] == "delivered");
        Ok(done.then_some(deliveries))
    })?;
    let jobs: BTreeSet<&str> = callbacks
        .iter()
        .filter_map(|d| d["job_id"].as_str())
        .collect();
    ensure!(
        jobs == BTreeSet::from([good.job_id.as_str(), tus_job.as_str()]),
        "{callbacks:?}"
    );

    // Every request the receiver got is signed with the tenant's secret; each event carries
    // what the job ended with.
    let received = receiver.received();
    ensure!(
        received.len() >= 15,
        "3 × 4 to /flaky, 2 to /callback, at least 1 to /silent: {received:?}"
    );
    for r in &received {
        verify(&secret, &r.signature, &r.body).with_context(|| format!("{r:?}"))?;
    }
    let mut events: BTreeMap<String, Value> = BTreeMap::new();
    for r in received.iter().filter(|r| r.path == "/flaky") {
        events.insert(
            r.event["id"].as_str().unwrap_or_default().to_owned(),
            r.event.clone(),
        );
    }
    ensure!(events.len() == 3, "{events:?}");
    let of_job = |job: &str| {
        events
            .values()
            .find(|e| e["job_id"] == job)
            .with_context(|| format!("no event of job {job}"))
    };
    let succeeded = of_job(&good.job_id)?;
    ensure!(succeeded["type"] == "job.succeeded" && succeeded["status"] == "succeeded");
    ensure!(
        succeeded["summary_url"] == format!("/v1/documents/{}/summary", good.document_id).as_str()
    );
    let failed = of_job(&bad.job_id)?;
    ensure!(failed["type"] == "job.failed" && failed["status"] == "failed");
    ensure!(failed["document_id"] == bad.document_id.as_str() && failed["error"].is_string());
    let paths: BTreeSet<&str> = received.iter().map(|r| r.path.as_str()).collect();
    ensure!(
        paths == BTreeSet::from(["/callback", "/flaky", "/silent"]),
        "{paths:?}"
    );

    // Redelivery: the same event, as a new delivery; receivers drop it by its id.
    let first = &delivered[0];
    let again = pipeline.request(
        "POST",
        &format!(
            "/v1/webhooks/{flaky_id}/deliveries/{}/redeliver",
            first["id"]
        ),
        &[],
        None,
    )?;
    ensure!(again.status == 202, "{again:?}");
    let again = again.json()?;
    ensure!(again["event_id"] == first["event_id"] && again["id"] != first["id"]);
    eventually(timeout, || {
        let n = receiver
            .received()
            .iter()
            .filter(|r| r.path == "/flaky" && r.event["id"] == first["event_id"])
            .count();
        Ok((n == 5).then_some(()))
    })?;
    pipeline
        .request(
            "POST",
            "/v1/webhooks/callbacks/deliveries/999999/redeliver",
            &[],
            None,
        )?
        .expect_error(404, "delivery_not_found")?;

    // Another tenant sees none of it.
    let other = pipeline.state().create_key("acme", "acme", "read write")?;
    pipeline
        .request_as(
            &other.key,
            "GET",
            &format!("/v1/webhooks/{flaky_id}"),
            &[],
            None,
        )?
        .expect_error(404, "webhook_not_found")?;
    let theirs = pipeline
        .request_as(
            &other.key,
            "GET",
            "/v1/webhooks/callbacks/deliveries",
            &[],
            None,
        )?
        .json()?;
    ensure!(theirs["deliveries"] == Value::Array(Vec::new()), "{theirs}");

    // Deleting an endpoint removes it with its deliveries.
    let deleted = pipeline.request("DELETE", &format!("/v1/webhooks/{silent_id}"), &[], None)?;
    ensure!(deleted.status == 204, "{deleted:?}");
    pipeline
        .get(&format!("/v1/webhooks/{silent_id}/deliveries"))?
        .expect_error(404, "webhook_not_found")?;
    let left = pipeline.sql_count(&format!(
        "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = '{silent_id}'"
    ))?;
    ensure!(left == 0, "{left} deliveries left");
    Ok(())
}
