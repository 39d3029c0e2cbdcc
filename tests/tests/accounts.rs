//! Accounts: every `/v1` route asks for a key and answers only within the key's tenant; quotas
//! hold under concurrent uploads; pages from other origins are refused; keys are managed with
//! `scripts/keys`; nothing internal is served without the local flags.

#![allow(clippy::panic)] // Test helpers fail tests by panicking.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Barrier;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use docpipe_e2e::storage::NewKey;
use docpipe_e2e::{HttpResponse, Options, Pipeline, eventually, root};
use docpipe_pipeline::auth::{key_from_bytes, key_hash};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(120);

/// An id of either kind that no row has.
const NO_SUCH_ID: &str = "019a0000-0000-7000-8000-000000000000";

/// What refused requests must leave as it was: the rows that record work and the objects.
fn snapshot(pipeline: &Pipeline) -> Result<(Vec<Value>, Vec<String>)> {
    let rows = pipeline.sql(
        "SELECT (SELECT COUNT(*) FROM documents) AS documents, \
         (SELECT COUNT(*) FROM summaries) AS summaries, \
         (SELECT COUNT(*) FROM uploads) AS uploads, \
         (SELECT COUNT(*) FROM idempotency_keys) AS idempotency_keys, \
         (SELECT group_concat(id || ' ' || status || ' ' || attempts, ', ') FROM \
            (SELECT * FROM jobs ORDER BY id)) AS jobs, \
         (SELECT group_concat(tenant_id || ' ' || documents || ' ' || bytes || ' ' || tokens, \
            ', ') FROM (SELECT * FROM tenant_usage ORDER BY tenant_id)) AS usage",
    )?;
    Ok((rows, pipeline.r2_keys()?))
}

/// Fails if any key or its hash, as given, appears in what the runtime logged.
fn assert_no_key_logged(pipeline: &Pipeline, keys: &[&str]) {
    let logs = pipeline.all_logs();
    for key in keys {
        assert!(!logs.contains(key), "a key is in the log");
        assert!(!logs.contains(&key_hash(key)), "a key's hash is in the log");
    }
}

/// Every row of the tables that hold work belongs to a tenant that exists, and a job, summary
/// or idempotency key to the same tenant as its document.
fn assert_every_row_owned(pipeline: &Pipeline) -> Result<()> {
    let orphans = pipeline.sql_count(
        "SELECT (SELECT COUNT(*) FROM documents WHERE tenant_id NOT IN (SELECT id FROM tenants)) \
         + (SELECT COUNT(*) FROM jobs j JOIN documents d ON d.id = j.document_id \
            WHERE j.tenant_id IS NOT d.tenant_id) \
         + (SELECT COUNT(*) FROM summaries s JOIN documents d ON d.id = s.document_id \
            WHERE s.tenant_id IS NOT d.tenant_id) \
         + (SELECT COUNT(*) FROM idempotency_keys k JOIN documents d ON d.id = k.document_id \
            WHERE k.tenant_id IS NOT d.tenant_id) \
         + (SELECT COUNT(*) FROM documents \
            WHERE object_key NOT LIKE 'tenants/' || tenant_id || '/documents/%')",
    )?;
    ensure!(orphans == 0, "{orphans} rows are not owned as they must be");
    Ok(())
}

/// A well-formed key that D1 does not know.
fn unknown_key() -> String {
    key_from_bytes(&[7; 32])
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Caller {
    NoKey,
    Malformed,
    Unknown,
    Revoked,
    OtherTenant,
    ReadOnly,
    Owner,
}

struct Callers {
    owner: NewKey,
    read_only: NewKey,
    revoked: NewKey,
    other: NewKey,
}

impl Callers {
    fn send(
        &self,
        pipeline: &Pipeline,
        caller: Caller,
        route: &Route,
        path: &str,
    ) -> Result<HttpResponse> {
        let authorization = match caller {
            Caller::NoKey => None,
            Caller::Malformed => Some("Bearer not-a-docpipe-key".to_owned()),
            Caller::Unknown => Some(format!("Bearer {}", unknown_key())),
            Caller::Revoked => Some(format!("Bearer {}", self.revoked.key)),
            Caller::OtherTenant => Some(format!("Bearer {}", self.other.key)),
            Caller::ReadOnly => Some(format!("Bearer {}", self.read_only.key)),
            Caller::Owner => Some(format!("Bearer {}", self.owner.key)),
        };
        let mut headers = vec![("Content-Type", "text/plain")];
        if let Some(authorization) = &authorization {
            headers.push(("Authorization", authorization));
        }
        docpipe_e2e::request(pipeline.port, route.method, path, &headers, route.body)
    }
}

struct Route {
    method: &'static str,
    /// The path, with `{id}` where the document's or job's id goes.
    path: &'static str,
    writes: bool,
    body: Option<&'static [u8]>,
}

impl Route {
    fn path(&self, document: &str, job: &str) -> String {
        let id = if self.path.starts_with("/v1/jobs") {
            job
        } else {
            document
        };
        self.path.replace("{id}", id)
    }

    /// Whether the route names an existing thing (every one but creating a document).
    fn names_a_thing(&self) -> bool {
        self.path.contains("{id}")
    }
}

const ROUTES: [Route; 6] = [
    Route {
        method: "POST",
        path: "/v1/documents?filename=note.txt",
        writes: true,
        body: Some(b"A short note about the quarterly harbour inspection."),
    },
    Route {
        method: "GET",
        path: "/v1/jobs/{id}",
        writes: false,
        body: None,
    },
    Route {
        method: "GET",
        path: "/v1/documents/{id}",
        writes: false,
        body: None,
    },
    Route {
        method: "GET",
        path: "/v1/documents/{id}/summary",
        writes: false,
        body: None,
    },
    Route {
        method: "GET",
        path: "/v1/documents/{id}/text",
        writes: false,
        body: None,
    },
    Route {
        method: "POST",
        path: "/v1/documents/{id}/reprocess",
        writes: true,
        body: None,
    },
];

#[test]
fn every_route_answers_each_kind_of_caller_exactly_and_refusals_change_nothing() -> Result<()> {
    // The owner reprocesses right after the upload: no minimum interval here.
    let pipeline = Pipeline::start_with(Options::with_vars(["REPROCESS_MIN_INTERVAL_SECONDS:0"]))?;
    let state = pipeline.state();
    let callers = Callers {
        owner: state.create_key("acme", "owner", "read write")?,
        read_only: state.create_key("acme", "dashboard", "read")?,
        revoked: state.create_key("acme", "old laptop", "read write")?,
        other: state.create_key("globex", "globex", "read write")?,
    };
    state.revoke_key(&callers.revoked.id)?;

    let owner = |method: &str, path: &str, body: Option<&[u8]>| {
        let headers = [("Content-Type", "text/plain")];
        pipeline.request_as(&callers.owner.key, method, path, &headers, body)
    };
    let accepted = owner(
        "POST",
        "/v1/documents?filename=minutes.txt",
        Some(b"The harbour board approved the new crane. The dredging starts in May."),
    )?
    .accepted()?;
    let (document, job) = (accepted.document_id.as_str(), accepted.job_id.as_str());
    eventually(WAIT, || {
        let job = owner("GET", &format!("/v1/jobs/{job}"), None)?.job()?;
        Ok(job.is_finished().then_some(()))
    })?;

    // Every refusal first, with what the store holds compared before and after.
    let before = snapshot(&pipeline)?;
    for route in &ROUTES {
        let path = route.path(document, job);
        let what = format!("{} {path}", route.method);
        for caller in [
            Caller::NoKey,
            Caller::Malformed,
            Caller::Unknown,
            Caller::Revoked,
        ] {
            let response = callers.send(&pipeline, caller, route, &path)?;
            let code = if caller == Caller::NoKey {
                "missing_api_key"
            } else {
                "invalid_api_key"
            };
            response
                .expect_error(401, code)
                .with_context(|| format!("{what} as {caller:?}"))?;
            let challenge = response.header("WWW-Authenticate").unwrap_or_default();
            assert!(challenge.starts_with("Bearer "), "{what}: {challenge}");
        }

        let response = callers.send(&pipeline, Caller::ReadOnly, route, &path)?;
        if route.writes {
            let body = response
                .expect_error(403, "insufficient_scope")
                .with_context(|| what.clone())?;
            assert_eq!(body.error.field("scope"), Some("write"), "{what}");
            let challenge = response.header("WWW-Authenticate").unwrap_or_default();
            assert!(challenge.contains("insufficient_scope"), "{what}");
        } else {
            assert_eq!(response.status, 200, "{what}: {}", response.text());
        }

        // Another tenant's id answers exactly as an id that does not exist.
        if route.names_a_thing() {
            let theirs = callers.send(&pipeline, Caller::OtherTenant, route, &path)?;
            let missing = route.path(NO_SUCH_ID, NO_SUCH_ID);
            let none = callers.send(&pipeline, Caller::OtherTenant, route, &missing)?;
            assert_eq!(theirs.status, 404, "{what}: {}", theirs.text());
            assert_eq!(theirs.api_error()?.error, none.api_error()?.error, "{what}");
        }
    }
    assert_eq!(
        snapshot(&pipeline)?,
        before,
        "refused requests changed state"
    );

    // The owner may do everything; another tenant's upload lands in its own tenant.
    for route in &ROUTES {
        let path = route.path(document, job);
        let response = callers.send(&pipeline, Caller::Owner, route, &path)?;
        let status = if route.writes { 202 } else { 200 };
        assert_eq!(
            response.status,
            status,
            "{} {path}: {}",
            route.method,
            response.text()
        );
    }
    let theirs = callers
        .send(&pipeline, Caller::OtherTenant, &ROUTES[0], ROUTES[0].path)?
        .accepted()?;
    assert_eq!(
        pipeline.state().column(&format!(
            "SELECT tenant_id FROM documents WHERE id = '{}'",
            theirs.document_id
        ))?,
        vec!["globex"]
    );

    // An Idempotency-Key is the tenant's own: another tenant's use of it reveals nothing.
    let with_key = |key: &NewKey, body: &[u8]| {
        pipeline.request_as(
            &key.key,
            "POST",
            "/v1/documents",
            &[
                ("Content-Type", "text/plain"),
                ("Idempotency-Key", "invoice-2026-0001"),
            ],
            Some(body),
        )
    };
    let acme = with_key(&callers.owner, b"Invoice 1 from acme: ten cranes.")?.accepted()?;
    let globex = with_key(&callers.other, b"Invoice 1 from globex: two ships.")?.accepted()?;
    assert_ne!(acme.document_id, globex.document_id);
    let replay = with_key(&callers.other, b"Invoice 1 from globex: two ships.")?;
    assert_eq!(replay.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(replay.accepted()?, globex);
    let reused = with_key(&callers.other, b"Something else entirely.")?
        .expect_error(422, "idempotency_key_reused")?;
    assert_eq!(
        reused.error.field("document_id"),
        Some(globex.document_id.as_str())
    );

    assert_every_row_owned(&pipeline)?;
    let unknown = unknown_key();
    assert_no_key_logged(
        &pipeline,
        &[
            &callers.owner.key,
            &callers.read_only.key,
            &callers.revoked.key,
            &callers.other.key,
            &unknown,
            &pipeline.key,
        ],
    );
    Ok(())
}

#[test]
fn two_tenants_uploading_at_once_each_see_only_their_own() -> Result<()> {
    const EACH: usize = 6;
    let pipeline = Pipeline::start()?;
    let state = pipeline.state();
    let tenants = [
        (
            "north",
            "lighthouse",
            state.create_key("north", "north", "read write")?,
        ),
        (
            "south",
            "vineyard",
            state.create_key("south", "south", "read write")?,
        ),
    ];
    let accepted = std::thread::scope(|scope| {
        let uploads: Vec<_> = tenants
            .iter()
            .map(|(_, word, key)| {
                let pipeline = &pipeline;
                scope.spawn(move || -> Result<Vec<_>> {
                    (0..EACH)
                        .map(|i| {
                            let body = format!(
                                "Report {i} on the {word}. The {word} keepers met on day {i}. \
                                 Every {word} needs care and the {word} budget grew."
                            );
                            pipeline
                                .request_as(
                                    &key.key,
                                    "POST",
                                    "/v1/documents",
                                    &[("Content-Type", "text/plain")],
                                    Some(body.as_bytes()),
                                )?
                                .accepted()
                        })
                        .collect()
                })
            })
            .collect();
        uploads
            .into_iter()
            .map(|upload| {
                upload
                    .join()
                    .unwrap_or_else(|_| panic!("uploader panicked"))
            })
            .collect::<Result<Vec<_>>>()
    })?;

    for (((tenant, word, key), mine), (_, other_word, other)) in
        tenants.iter().zip(&accepted).zip(tenants.iter().rev())
    {
        for upload in mine {
            let job = eventually(WAIT, || {
                let job = pipeline
                    .request_as(&key.key, "GET", &upload.status_url, &[], None)?
                    .job()?;
                Ok(job.is_finished().then_some(job))
            })?;
            assert_eq!(job.status, "succeeded", "{job:?}");
            let id = &upload.document_id;
            let text = pipeline.request_as(
                &key.key,
                "GET",
                &format!("/v1/documents/{id}/text"),
                &[],
                None,
            )?;
            assert_eq!(text.status, 200);
            assert!(text.text().contains(word) && !text.text().contains(other_word));
            let summary = pipeline.request_as(&key.key, "GET", &upload.summary_url, &[], None)?;
            assert!(summary.summary()?.summary.contains(word));
            for path in [
                upload.status_url.clone(),
                format!("/v1/documents/{id}"),
                upload.summary_url.clone(),
                format!("/v1/documents/{id}/text"),
            ] {
                let response = pipeline.request_as(&other.key, "GET", &path, &[], None)?;
                assert_eq!(response.status, 404, "{path} for the other tenant");
            }
        }
        let ids: BTreeSet<String> = mine.iter().map(|a| a.document_id.clone()).collect();
        for table in ["documents", "summaries"] {
            let column = if table == "documents" {
                "id"
            } else {
                "document_id"
            };
            let owned: BTreeSet<String> = state
                .column(&format!(
                    "SELECT {column} FROM {table} WHERE tenant_id = '{tenant}'"
                ))?
                .into_iter()
                .collect();
            assert_eq!(owned, ids, "{tenant}'s {table}");
        }
        let objects: BTreeSet<String> = pipeline
            .r2_keys()?
            .into_iter()
            .filter(|k| k.starts_with(&format!("tenants/{tenant}/documents/")))
            .collect();
        // Plain text that needed no cleaning is its own text: it has no copy.
        let copies = state.sql_count(&format!(
            "SELECT COUNT(*) FROM summaries WHERE tenant_id = '{tenant}' AND text_offset IS NULL"
        ))?;
        assert_eq!(
            objects.len() as i64,
            EACH as i64 + copies,
            "{tenant}'s originals and texts: {objects:?}"
        );
    }
    let copies = pipeline.sql_count("SELECT COUNT(*) FROM summaries WHERE text_offset IS NULL")?;
    assert_eq!(pipeline.r2_keys()?.len() as i64, 2 * EACH as i64 + copies);
    assert_every_row_owned(&pipeline)?;
    assert_no_key_logged(&pipeline, &[&tenants[0].2.key, &tenants[1].2.key]);
    Ok(())
}

/// Fails unless `response` is a `429` for `quota` at `used` of `limit`, with a `Retry-After`
/// no later than the next UTC day.
fn assert_over_quota(response: &HttpResponse, quota: &str, used: u64, limit: u64) -> Result<()> {
    let body = response.expect_error(429, "quota_exceeded")?;
    assert_eq!(body.error.field("quota"), Some(quota), "{body:?}");
    assert_eq!(
        body.error.extra["used"],
        serde_json::json!(used),
        "{body:?}"
    );
    assert_eq!(
        body.error.extra["limit"],
        serde_json::json!(limit),
        "{body:?}"
    );
    let retry: u32 = response
        .header("Retry-After")
        .context("no Retry-After")?
        .parse()?;
    assert!((1..=86_400).contains(&retry), "Retry-After {retry}");
    Ok(())
}

#[test]
fn quotas_hold_under_32_concurrent_clients_and_each_says_which_is_used_up() -> Result<()> {
    const CLIENTS: usize = 32;
    const PER_DAY: usize = 20;
    let pipeline = Pipeline::start_with(Options::ai_standin([
        format!("QUOTA_DOCUMENTS_PER_DAY:{PER_DAY}"),
        "REPROCESS_MIN_INTERVAL_SECONDS:0".into(),
    ]))?;
    let state = pipeline.state();

    // Documents per day: 32 clients at once against a quota of 20.
    let edge = state.create_key("edge", "edge", "read write")?;
    let start = Barrier::new(CLIENTS);
    let answers: Vec<(usize, HttpResponse)> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let (pipeline, edge, start) = (&pipeline, &edge, &start);
                scope.spawn(move || -> Result<(usize, HttpResponse)> {
                    let body = format!("Client {i} writes. {}", "More words follow. ".repeat(i));
                    start.wait();
                    let response = pipeline.request_as(
                        &edge.key,
                        "POST",
                        "/v1/documents",
                        &[("Content-Type", "text/plain")],
                        Some(body.as_bytes()),
                    )?;
                    Ok((body.len(), response))
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|client| client.join().unwrap_or_else(|_| panic!("client panicked")))
            .collect::<Result<_>>()
    })?;
    let mut accepted_bytes = 0;
    let mut accepted_ids = BTreeSet::new();
    for (size, response) in &answers {
        if response.status == 202 {
            accepted_bytes += size;
            accepted_ids.insert(response.accepted()?.document_id);
        } else {
            assert_over_quota(
                response,
                "documents_per_day",
                PER_DAY as u64,
                PER_DAY as u64,
            )?;
        }
    }
    assert_eq!(
        accepted_ids.len(),
        PER_DAY,
        "accepted at a quota of {PER_DAY}"
    );
    let stored: BTreeSet<String> = state
        .column("SELECT id FROM documents WHERE tenant_id = 'edge'")?
        .into_iter()
        .collect();
    assert_eq!(stored, accepted_ids);
    let prefix = "tenants/edge/documents/";
    let objects = pipeline.document_keys()?;
    let objects: BTreeSet<&str> = objects
        .iter()
        .filter_map(|k| k.strip_prefix(prefix))
        .collect();
    assert_eq!(objects, accepted_ids.iter().map(String::as_str).collect());
    assert_eq!(
        state.sql("SELECT documents, bytes FROM tenant_usage WHERE tenant_id = 'edge'")?,
        vec![serde_json::json!({ "documents": PER_DAY, "bytes": accepted_bytes })]
    );
    assert_eq!(
        state.sql_count("SELECT COUNT(*) FROM uploads WHERE tenant_id = 'edge'")?,
        0
    );

    let upload_as = |key: &NewKey, body: &[u8]| {
        pipeline.request_as(
            &key.key,
            "POST",
            "/v1/documents",
            &[("Content-Type", "text/plain")],
            Some(body),
        )
    };
    let wait = |key: &NewKey, job: &str| {
        eventually(WAIT, || {
            let job = pipeline
                .request_as(&key.key, "GET", &format!("/v1/jobs/{job}"), &[], None)?
                .job()?;
            Ok(job.is_finished().then_some(job))
        })
    };

    // Bytes per day, from the tenant's own limit; exactly at it is fine.
    let bytes = state.create_key("bytes", "bytes", "read write")?;
    state.sql("UPDATE tenants SET max_bytes_per_day = 1000 WHERE id = 'bytes'")?;
    upload_as(&bytes, &[b'a'; 600])?.accepted()?;
    assert_over_quota(
        &upload_as(&bytes, &[b'b'; 600])?,
        "bytes_per_day",
        600,
        1000,
    )?;
    upload_as(&bytes, &[b'c'; 400])?.accepted()?;

    // Jobs in flight: a job still queued holds the only slot until it is done.
    let busy = state.create_key("busy", "busy", "read write")?;
    state.sql("UPDATE tenants SET max_jobs_in_flight = 1 WHERE id = 'busy'")?;
    let first = upload_as(&busy, b"The first of the busy tenant's documents.")?.accepted()?;
    wait(&busy, &first.job_id)?;
    let waiting = "019a0000-0000-7000-8000-0000000000aa";
    state.insert_queued_job(waiting, &first.document_id, "2999-01-01T00:00:00.000Z")?;
    let refused = upload_as(&busy, b"The second of the busy tenant's documents.")?;
    assert_over_quota(&refused, "jobs_in_flight", 1, 1)?;
    state.sql(&format!("DELETE FROM jobs WHERE id = '{waiting}'"))?;
    upload_as(&busy, b"The second of the busy tenant's documents.")?.accepted()?;

    // Model tokens per day: spent by Workers AI, then new work is refused, and a job that was
    // already admitted is summarized without a model.
    let thrifty = state.create_key("thrifty", "thrifty", "read write")?;
    state.sql("UPDATE tenants SET max_tokens_per_day = 10 WHERE id = 'thrifty'")?;
    let spent = upload_as(
        &thrifty,
        b"The thrifty tenant wrote a long letter. It asked about costs. It asked again.",
    )?
    .accepted()?;
    assert_eq!(wait(&thrifty, &spent.job_id)?.status, "succeeded");
    let summary = pipeline
        .request_as(&thrifty.key, "GET", &spent.summary_url, &[], None)?
        .summary()?;
    assert_eq!(summary.backend, "workers-ai", "{summary:?}");
    let tokens = u64::try_from(
        state.sql_count("SELECT tokens FROM tenant_usage WHERE tenant_id = 'thrifty'")?,
    )?;
    assert!(tokens >= 10, "tokens counted: {tokens}");
    assert_over_quota(
        &upload_as(&thrifty, b"One more.")?,
        "tokens_per_day",
        tokens,
        10,
    )?;
    let reprocess = pipeline.request_as(
        &thrifty.key,
        "POST",
        &format!("/v1/documents/{}/reprocess", spent.document_id),
        &[],
        None,
    )?;
    assert_over_quota(&reprocess, "tokens_per_day", tokens, 10)?;
    let calls = pipeline.ai_standin_calls().len();
    let admitted = "019a0000-0000-7000-8000-0000000000bb";
    state.insert_queued_job(admitted, &spent.document_id, "2000-01-01T00:00:00.000Z")?;
    pipeline.fire_sweep()?;
    assert_eq!(wait(&thrifty, admitted)?.status, "succeeded");
    let row = state.sql(&format!(
        "SELECT backend, fallback_from, fallback_reason FROM summaries WHERE job_id = '{admitted}'"
    ))?;
    assert_eq!(row[0]["backend"], "extractive", "{row:?}");
    assert_eq!(row[0]["fallback_from"], "workers-ai", "{row:?}");
    let reason = row[0]["fallback_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("model tokens for today are used up"),
        "{reason}"
    );
    assert_eq!(pipeline.ai_standin_calls().len(), calls, "no model call");

    assert_every_row_owned(&pipeline)?;
    Ok(())
}

#[test]
fn pages_from_other_origins_are_refused_before_anything_is_stored() -> Result<()> {
    const APP: &str = "https://app.example.com";
    let pipeline =
        Pipeline::start_with(Options::with_vars([format!("CORS_ALLOWED_ORIGINS:{APP}")]))?;
    let key = pipeline.key.as_str();
    let upload = |origin: &str, key: Option<&str>| {
        let authorization = key.map(|k| format!("Bearer {k}"));
        let mut headers = vec![("Content-Type", "text/plain"), ("Origin", origin)];
        if let Some(authorization) = &authorization {
            headers.push(("Authorization", authorization));
        }
        docpipe_e2e::request(
            pipeline.port,
            "POST",
            "/v1/documents",
            &headers,
            Some(b"Sent from a web page."),
        )
    };
    let preflight = |origin: &str| {
        docpipe_e2e::request(
            pipeline.port,
            "OPTIONS",
            "/v1/documents",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                (
                    "Access-Control-Request-Headers",
                    "authorization, content-type",
                ),
            ],
            None,
        )
    };

    // A page elsewhere: refused whether or not it holds a key, and told nothing readable.
    for key in [None, Some(key)] {
        let refused = upload("https://evil.example", key)?;
        refused.expect_error(403, "origin_not_allowed")?;
        assert_eq!(refused.header("Access-Control-Allow-Origin"), None);
    }
    preflight("https://evil.example")?.expect_error(403, "origin_not_allowed")?;
    assert_eq!(pipeline.sql_count("SELECT COUNT(*) FROM documents")?, 0);
    assert_eq!(pipeline.r2_keys()?, Vec::<String>::new());

    // The listed origin: the preflight says what it may send, and answers are readable.
    let allowed = preflight(APP)?;
    assert_eq!(allowed.status, 204, "{}", allowed.text());
    assert_eq!(allowed.header("Access-Control-Allow-Origin"), Some(APP));
    let methods = allowed
        .header("Access-Control-Allow-Methods")
        .unwrap_or_default();
    assert!(methods.contains("POST"), "{methods}");
    let headers = allowed
        .header("Access-Control-Allow-Headers")
        .unwrap_or_default();
    assert!(headers.contains("Authorization"), "{headers}");
    let accepted = upload(APP, Some(key))?;
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    assert_eq!(accepted.header("Access-Control-Allow-Origin"), Some(APP));
    assert_eq!(accepted.header("Vary"), Some("Origin"));
    let exposed = accepted
        .header("Access-Control-Expose-Headers")
        .unwrap_or_default();
    assert!(exposed.contains("X-Request-Id"), "{exposed}");
    let no_key = upload(APP, None)?;
    no_key.expect_error(401, "missing_api_key")?;
    assert_eq!(no_key.header("Access-Control-Allow-Origin"), Some(APP));

    // The API's own origin, and clients that send none.
    let own = upload(&pipeline.url(""), Some(key))?;
    assert_eq!(own.status, 202, "{}", own.text());
    pipeline.accept(b"Sent by curl.", "text/plain", "")?;
    assert_eq!(pipeline.sql_count("SELECT COUNT(*) FROM documents")?, 3);
    Ok(())
}

/// Runs `scripts/keys` against the pipeline's local D1.
fn keys(pipeline: &Pipeline, args: &[&str]) -> Result<std::process::Output> {
    Ok(Command::new(root().join("scripts/keys"))
        .args(args)
        .env("DOCPIPE_STATE", pipeline.persist_dir())
        .output()?)
}

#[test]
fn keys_are_managed_with_scripts_keys_and_no_internal_route_is_served() -> Result<()> {
    let pipeline = Pipeline::start_with(Options {
        without_test_scheduled: true,
        ..Options::default()
    })?;

    // Without `--test-scheduled` (as in production) the cron trigger cannot be fired over HTTP.
    for method in ["GET", "POST"] {
        let response = pipeline.request(method, "/__scheduled?cron=*+*+*+*+*", &[], None)?;
        response.expect_error(404, "not_found")?;
    }

    let created = keys(
        &pipeline,
        &[
            "create", "ci bot", "--tenant", "robots", "--scopes", "read", "--json",
        ],
    )?;
    ensure!(created.status.success(), "{created:?}");
    let created: Value = serde_json::from_slice(&created.stdout)?;
    let (id, key) = (
        created["id"].as_str().context("id")?,
        created["key"].as_str().context("key")?,
    );
    assert_eq!(created["tenant"], "robots");
    assert!(key.starts_with("dpk_") && key.len() >= 4 + 22, "{key}");
    let read = pipeline.request_as(
        key,
        "GET",
        &format!("/v1/documents/{NO_SUCH_ID}"),
        &[],
        None,
    )?;
    read.expect_error(404, "document_not_found")?;
    let write = pipeline.request_as(
        key,
        "POST",
        "/v1/documents",
        &[("Content-Type", "text/plain")],
        Some(b"Hi."),
    )?;
    write.expect_error(403, "insufficient_scope")?;

    let listed = keys(&pipeline, &["list", "--json"])?;
    ensure!(listed.status.success(), "{listed:?}");
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(
        !stdout.contains(key) && !stdout.contains(&key_hash(key)),
        "{stdout}"
    );
    let listed: Vec<Value> = serde_json::from_str(&stdout)?;
    let row = listed
        .iter()
        .find(|row| row["id"] == id)
        .context("the new key is listed")?;
    assert_eq!(row["tenant_id"], "robots");
    assert_eq!(row["scopes"], "read");
    assert_eq!(row["revoked_at"], Value::Null);
    eventually(WAIT, || {
        let used = pipeline.state().column(&format!(
            "SELECT last_used_at FROM api_keys WHERE id = '{id}' AND last_used_at IS NOT NULL"
        ))?;
        Ok((!used.is_empty()).then_some(()))
    })?;

    let revoked = keys(&pipeline, &["revoke", id])?;
    ensure!(revoked.status.success(), "{revoked:?}");
    pipeline
        .request_as(
            key,
            "GET",
            &format!("/v1/documents/{NO_SUCH_ID}"),
            &[],
            None,
        )?
        .expect_error(401, "invalid_api_key")?;
    assert_eq!(keys(&pipeline, &["revoke", id])?.status.code(), Some(2));
    let bad_tenant = keys(&pipeline, &["create", "x", "--tenant", "Not A Tenant"])?;
    assert_eq!(bad_tenant.status.code(), Some(2));
    let bad_scope = keys(&pipeline, &["create", "x", "--scopes", "admin"])?;
    assert_eq!(bad_scope.status.code(), Some(2));
    assert_no_key_logged(&pipeline, &[key]);
    Ok(())
}
