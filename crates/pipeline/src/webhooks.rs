//! Webhooks: when a job succeeds or fails, docpipe POSTs a signed JSON event to the tenant's
//! registered endpoints and to the `callback_url` its upload named.
//!
//! - **Events** are recorded with the job's end, in its transaction ([`crate::store::webhooks`]),
//!   with one `pending` delivery per receiver. The finishing consumer then sends one message
//!   per delivery on the webhooks queue ([`dispatch`]); the sweep sends again any delivery
//!   whose message should have come and did not.
//! - **Delivery** ([`deliver`]): one attempt per message, under a short lease. A `2xx` answer
//!   delivers; anything else (another status, a redirect, no answer within the timeout) is
//!   retried through the queue with exponential backoff, up to `WEBHOOK_MAX_ATTEMPTS`; then
//!   the delivery is `dead` (its dead-letter record). Every attempt is logged in D1.
//!   Delivery is at least once: receivers drop repeats by the event `id`.
//! - **Signatures**: `Docpipe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
//!   `"{t}.{body}"`, keyed with the tenant's signing secret (the whole `whsec_…` string), the
//!   scheme Stripe uses. Receivers should also refuse old `t`s.
//! - **Receivers** follow the address rules of URL ingestion ([`crate::remote`]), checked when
//!   registered and again before each attempt.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use docpipe_jobs::{DeliveryMessage, DocumentId, JobId};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tracing::{error, info, warn};

use crate::api::{ApiError, summary_url};
use crate::config::WebhookConfig;
use crate::listing::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::ports::{Clock, Database, DeliveryQueue, WebhookSender};
use crate::process::Action;
use crate::remote::{self, AllowedHosts};
use crate::store::webhooks::{AttemptEnd, AttemptResult, NewEndpoint, OutgoingDelivery};
use crate::store::{JobUsage, Store};
use crate::time::{Millis, timestamp};

/// The event types, each sent to the endpoints that asked for it.
pub const EVENT_TYPES: [&str; 2] = ["job.succeeded", "job.failed"];
/// The largest endpoint registration body.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024;
/// The longest endpoint description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 200;
/// What docpipe says it is when it delivers an event.
pub const USER_AGENT: &str = "docpipe-webhooks/1";
/// How long an attempt holds its delivery beyond the receiver's timeout.
const LEASE_SLACK_MS: i64 = 30_000;
/// How long a message waits before it is tried again when D1 could not be reached.
const STORE_RETRY_MS: i64 = 30_000;

/// A new signing secret: `whsec_` and 32 random bytes in hex.
pub fn new_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a secret: {e}"))?;
    Ok(format!("whsec_{}", hex(&bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `Docpipe-Signature` value of `body` sent at `t` (unix seconds).
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    // HMAC takes a key of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return format!("t={t}"),
    };
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex(&mac.finalize().into_bytes()))
}

/// A callback URL (or endpoint URL) if events may be sent there.
pub fn check_url(raw: &str, allowed: &AllowedHosts) -> Result<String, ApiError> {
    remote::check(raw.trim(), allowed)
        .map(|url| url.to_string())
        .map_err(|refused| ApiError::InvalidCallbackUrl {
            reason: refused.to_string(),
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointRequest {
    url: String,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    description: Option<String>,
}

/// Reads `POST /v1/webhooks`: `{"url", "events"?, "description"?}`. Events default to all.
pub fn endpoint_request(body: &[u8], allowed: &AllowedHosts) -> Result<NewEndpoint, ApiError> {
    let invalid = |reason: String| ApiError::InvalidWebhook { reason };
    if body.len() > MAX_REQUEST_BYTES {
        return Err(invalid(format!(
            "the body is larger than {MAX_REQUEST_BYTES} bytes"
        )));
    }
    let request: EndpointRequest = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("the body is not a webhook: {e}")))?;
    let url = remote::check(request.url.trim(), allowed)
        .map_err(|refused| invalid(format!("events are not sent to this URL: {refused}")))?;
    let mut events = request
        .events
        .unwrap_or_else(|| EVENT_TYPES.map(str::to_owned).to_vec());
    if events.is_empty() {
        return Err(invalid("`events` is empty".into()));
    }
    if let Some(unknown) = events.iter().find(|e| !EVENT_TYPES.contains(&e.as_str())) {
        return Err(invalid(format!(
            "`{unknown}` is not an event type (known: {})",
            EVENT_TYPES.join(", ")
        )));
    }
    events.sort();
    events.dedup();
    let description = request.description.map(|d| d.trim().to_owned());
    if description.as_ref().is_some_and(|d| {
        d.chars().count() > MAX_DESCRIPTION_CHARS || d.chars().any(char::is_control)
    }) {
        return Err(invalid(format!(
            "`description` is at most {MAX_DESCRIPTION_CHARS} characters, without control characters"
        )));
    }
    Ok(NewEndpoint {
        id: crate::store::webhooks::new_id(),
        url: url.to_string(),
        events,
        description: description.filter(|d| !d.is_empty()),
    })
}

/// The event as receivers get it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub created_at: String,
    pub job_id: JobId,
    pub document_id: DocumentId,
    /// `succeeded` or `failed`.
    pub status: String,
    /// Where the summary is (`job.succeeded`), relative to the API's origin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary_url: Option<String>,
    /// Why the job failed (`job.failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Event {
    pub fn of(delivery: &OutgoingDelivery) -> Self {
        let succeeded = delivery.event_type == "job.succeeded";
        Event {
            id: delivery.event_id.clone(),
            event_type: delivery.event_type.clone(),
            created_at: timestamp(delivery.event_created_at.0),
            job_id: delivery.job_id,
            document_id: delivery.document_id,
            status: if succeeded { "succeeded" } else { "failed" }.into(),
            summary_url: succeeded.then(|| summary_url(&delivery.document_id)),
            error: (!succeeded).then(|| delivery.error.clone().unwrap_or_default()),
        }
    }
}

/// A page of a deliveries listing: `limit` and the `cursor` it came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveriesQuery {
    pub limit: u32,
    pub before: Option<i64>,
}

/// The cursor that continues after the delivery `id`.
pub fn deliveries_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:d{id}"))
}

/// Reads `limit` and `cursor` of `GET /v1/webhooks/{id}/deliveries`.
pub fn deliveries_query(pairs: &[(String, String)]) -> Result<DeliveriesQuery, ApiError> {
    let invalid = |reason: &str| ApiError::InvalidQuery {
        reason: reason.into(),
    };
    let mut query = DeliveriesQuery {
        limit: DEFAULT_LIMIT,
        before: None,
    };
    for (key, value) in pairs {
        match key.as_str() {
            "limit" => {
                query.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| invalid("`limit` must be a whole number from 1 to 100"))?;
            }
            "cursor" => {
                let bad = || invalid("`cursor` is not one this API gave out");
                let bytes = URL_SAFE_NO_PAD.decode(value.trim()).map_err(|_| bad())?;
                let text = String::from_utf8(bytes).map_err(|_| bad())?;
                let id = text.strip_prefix("v1:d").ok_or_else(bad)?;
                query.before = Some(id.parse().map_err(|_| bad())?);
            }
            other => {
                return Err(invalid(&format!(
                    "unknown parameter `{other}`: deliveries take `limit` and `cursor`"
                )));
            }
        }
    }
    Ok(query)
}

/// Cuts a page out of up to `limit + 1` deliveries: the first `limit`, and the cursor after
/// the last of them when more follow.
pub fn deliveries_page(
    mut rows: Vec<crate::store::DeliveryRow>,
    limit: u32,
) -> (Vec<crate::store::DeliveryRow>, Option<String>) {
    if rows.len() <= usize::try_from(limit).unwrap_or(usize::MAX) {
        return (rows, None);
    }
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = rows.last().map(|last| deliveries_cursor(last.id));
    (rows, next)
}

/// Records what a consumer batch cost its jobs and sends the wake-up messages of the
/// deliveries these jobs' ends created (one round trip for all of them). A failure is logged:
/// the sweep sends the deliveries later; that batch's usage is not recorded.
pub async fn dispatch<D: Database>(
    store: &Store<D>,
    queue: &impl DeliveryQueue,
    clock: &impl Clock,
    jobs: &[JobId],
    usage: &[JobUsage],
) {
    match store
        .record_usage_and_claim_deliveries(usage, jobs, clock.now_ms())
        .await
    {
        Ok(ids) => {
            send(queue, &ids).await;
        }
        Err(e) => {
            warn!(error = %e, jobs = jobs.len(), "could not claim webhook deliveries nor record usage; the sweep will send them")
        }
    }
}

/// Sends one message per delivery, 100 at a time; whether all went. A failure is logged: the
/// sweep sends them again once they are overdue.
pub async fn send(queue: &impl DeliveryQueue, ids: &[i64]) -> bool {
    let messages: Vec<DeliveryMessage> = ids.iter().copied().map(DeliveryMessage::new).collect();
    for chunk in messages.chunks(100) {
        if let Err(e) = queue.send_batch(chunk).await {
            warn!(error = %e, deliveries = chunk.len(), "could not enqueue webhook deliveries");
            return false;
        }
    }
    if !ids.is_empty() {
        info!(deliveries = ids.len(), "webhook deliveries enqueued");
    }
    true
}

/// The sweep's part: sends again up to 100 pending deliveries whose message should have come
/// `grace_ms` ago (lost, or its send failed). Returns how many.
pub async fn resend_overdue<D: Database>(
    store: &Store<D>,
    queue: &impl DeliveryQueue,
    clock: &impl Clock,
    grace_ms: i64,
) -> Result<usize, String> {
    let now = clock.now_ms();
    let ids = store
        .claim_overdue_deliveries(now - grace_ms, now, 100)
        .await
        .map_err(|e| format!("claiming overdue webhook deliveries: {e}"))?;
    if send(queue, &ids).await {
        Ok(ids.len())
    } else {
        Err("could not enqueue overdue webhook deliveries".into())
    }
}

/// What the sender reaches the outside through.
#[derive(Debug)]
pub struct Deliverer<'a, D, W, C> {
    pub store: &'a Store<D>,
    pub sender: &'a W,
    pub clock: &'a C,
    pub config: &'a WebhookConfig,
}

impl<D: Database, W: WebhookSender, C: Clock> Deliverer<'_, D, W, C> {
    /// One message of the webhooks queue: one attempt at its delivery.
    pub async fn deliver(&self, body: &str) -> Action {
        let Some(message) = DeliveryMessage::decode(body) else {
            error!(body, "unreadable webhook message; dropping it");
            return Action::Ack;
        };
        let id = message.delivery_id;
        let delivery = match self.store.outgoing_delivery(id).await {
            Ok(Some(delivery)) => delivery,
            Ok(None) => {
                info!(
                    delivery_id = id,
                    "delivery is gone (its document or webhook was deleted)"
                );
                return Action::Ack;
            }
            Err(e) => {
                warn!(error = %e, delivery_id = id, "could not read the delivery; retrying");
                return Action::retry_after_ms(STORE_RETRY_MS);
            }
        };
        let now = self.clock.now_ms();
        if delivery.state != "pending" {
            return Action::Ack;
        }
        // Early copies (a sweep's resend) and attempts in flight: the delivery's own message
        // comes when it is due, and the sweep covers a lost one.
        if delivery.next_attempt_at.0 > now + 5_000
            || delivery.lease_until.is_some_and(|until| until.0 >= now)
        {
            info!(
                delivery_id = id,
                "delivery not due or in flight; message dropped"
            );
            return Action::Ack;
        }
        let lease_ms = i64::try_from(self.config.timeout_ms).unwrap_or(60_000) + LEASE_SLACK_MS;
        match self
            .store
            .begin_attempt(id, delivery.attempts, now, now + lease_ms)
            .await
        {
            Ok(true) => {}
            Ok(false) => return Action::Ack,
            Err(e) => {
                warn!(error = %e, delivery_id = id, "could not begin an attempt; retrying");
                return Action::retry_after_ms(STORE_RETRY_MS);
            }
        }
        let attempt = delivery.attempts + 1;
        let result = self.attempt(&delivery, attempt, now).await;
        let end = result.end.clone();
        let finished = self.clock.now_ms();
        if let Err(e) = self.store.end_attempt(id, &result, finished).await {
            // The attempt's lease keeps others off until it expires; then this runs again.
            error!(error = %e, delivery_id = id, "could not record the attempt; retrying");
            return Action::retry_after_ms(lease_ms);
        }
        let (event_id, url) = (&delivery.event_id, &delivery.url);
        match end {
            AttemptEnd::Delivered => {
                info!(delivery_id = id, event_id, url, attempt, status = ?result.status, "webhook delivered");
                Action::Ack
            }
            AttemptEnd::Retry { at } => {
                warn!(delivery_id = id, event_id, url, attempt, error = ?result.error, retry_in_ms = at - finished, "webhook delivery failed; retrying");
                Action::retry_after_ms(at - finished)
            }
            AttemptEnd::Dead => {
                warn!(delivery_id = id, event_id, url, attempt, error = ?result.error, "webhook delivery failed for good; dead-lettered");
                Action::Ack
            }
        }
    }

    async fn attempt(
        &self,
        delivery: &OutgoingDelivery,
        attempt: u32,
        started: Millis,
    ) -> AttemptResult {
        let failed = |status: Option<u16>, error: String, end: AttemptEnd| AttemptResult {
            attempt,
            started_at: started,
            duration_ms: self.clock.now_ms() - started,
            status,
            error: Some(error),
            end,
        };
        if let Err(refused) = remote::check(&delivery.url, &self.config.allowed_hosts) {
            let error = format!("events are not sent to this URL: {refused}");
            return failed(None, error, AttemptEnd::Dead);
        }
        let secret = match &delivery.secret {
            Some(secret) => secret.clone(),
            None => match self.secret(delivery).await {
                Ok(secret) => secret,
                Err(e) => return failed(None, e, self.after_failure(attempt)),
            },
        };
        let body = serde_json::to_string(&Event::of(delivery)).unwrap_or_default();
        let headers = [
            ("Content-Type", "application/json".to_owned()),
            ("User-Agent", USER_AGENT.to_owned()),
            ("Docpipe-Event-Id", delivery.event_id.clone()),
            ("Docpipe-Delivery-Id", delivery.id.to_string()),
            ("Docpipe-Attempt", attempt.to_string()),
            (
                "Docpipe-Signature",
                signature(&secret, started.div_euclid(1_000), &body),
            ),
        ];
        let answer = self
            .sender
            .post(&delivery.url, &headers, body, self.config.timeout_ms)
            .await;
        match answer {
            Ok(status) if (200..300).contains(&status) => AttemptResult {
                attempt,
                started_at: started,
                duration_ms: self.clock.now_ms() - started,
                status: Some(status),
                error: None,
                end: AttemptEnd::Delivered,
            },
            Ok(status) => {
                let error = if (300..400).contains(&status) {
                    format!("the receiver answered {status}; redirects are not followed")
                } else {
                    format!("the receiver answered {status}")
                };
                failed(Some(status), error, self.after_failure(attempt))
            }
            Err(e) => failed(None, e.0, self.after_failure(attempt)),
        }
    }

    /// The tenant's secret when its row did not exist yet (an upload's callback URL only).
    async fn secret(&self, delivery: &OutgoingDelivery) -> Result<String, String> {
        let candidate = new_secret()?;
        self.store
            .signing_secret(&delivery.tenant_id, &candidate, self.clock.now_ms())
            .await
            .map_err(|e| format!("could not read the signing secret: {e}"))
    }

    /// What follows failed attempt number `attempt`: another after a backoff, or none.
    fn after_failure(&self, attempt: u32) -> AttemptEnd {
        let retry = &self.config.retry;
        if attempt >= retry.max_attempts {
            return AttemptEnd::Dead;
        }
        let delay = retry.delay_ms(attempt, self.clock.random_unit());
        AttemptEnd::Retry {
            at: self.clock.now_ms() + delay,
        }
    }
}

/// A message the webhooks queue gave up on (the sender kept failing before it could record an
/// attempt): the delivery is given up with the reason.
pub async fn dead_letter<D: Database>(store: &Store<D>, clock: &impl Clock, body: &str) -> Action {
    let Some(message) = DeliveryMessage::decode(body) else {
        error!(body, "unreadable webhook dead letter; dropping it");
        return Action::Ack;
    };
    let reason = "the queue gave up delivering this event after its maximum retries";
    match store
        .kill_delivery(message.delivery_id, reason, clock.now_ms())
        .await
    {
        Ok(()) => {
            warn!(
                delivery_id = message.delivery_id,
                "webhook delivery dead-lettered"
            );
            Action::Ack
        }
        Err(e) => {
            error!(error = %e, "could not record a dead-lettered delivery; retrying");
            Action::retry_after_ms(STORE_RETRY_MS)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};

    use pollster::block_on;

    use super::*;
    use crate::ports::OriginError;
    use crate::sqlite::{ManualClock, Sqlite};
    use crate::store::fixtures::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_time_and_body() {
        // Computed with Python's hmac module.
        assert_eq!(
            signature("whsec_test", 1_700_000_000, r#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
        let secret = new_secret().unwrap();
        assert!(
            secret.starts_with("whsec_") && secret.len() == 6 + 64,
            "{secret}"
        );
        assert_ne!(secret, new_secret().unwrap());
    }

    #[test]
    fn an_endpoint_is_read_and_checked_like_a_fetched_url() {
        let allowed = AllowedHosts::default();
        let read = |json: &str| endpoint_request(json.as_bytes(), &allowed);
        let endpoint = read(r#"{"url": "https://hooks.example.com/in"}"#).unwrap();
        assert_eq!(endpoint.url, "https://hooks.example.com/in");
        assert_eq!(endpoint.events, ["job.failed", "job.succeeded"]);
        let endpoint = read(
            r#"{"url": "https://a.example/x", "events": ["job.failed"], "description": " ops "}"#,
        )
        .unwrap();
        assert_eq!(endpoint.events, ["job.failed"]);
        assert_eq!(endpoint.description.as_deref(), Some("ops"));
        for bad in [
            r#"{"url": "http://169.254.169.254/latest"}"#,
            r#"{"url": "http://localhost:8080/"}"#,
            r#"{"url": "ftp://example.com/"}"#,
            r#"{"url": "https://a.example/", "events": []}"#,
            r#"{"url": "https://a.example/", "events": ["job.started"]}"#,
            r#"{"url": "https://a.example/", "secret": "mine"}"#,
            r#"{"url": "https://a.example/", "description": "a\u0000b"}"#,
            "[]",
        ] {
            let err = read(bad).unwrap_err();
            assert_eq!(
                (err.status(), err.code()),
                (400, "invalid_webhook"),
                "{bad}"
            );
        }
        let local = AllowedHosts::parse("127.0.0.1:9000").unwrap();
        assert!(endpoint_request(br#"{"url": "http://127.0.0.1:9000/hook"}"#, &local).is_ok());
        assert_eq!(
            check_url("http://10.1.2.3/", &allowed).unwrap_err().code(),
            "invalid_callback_url"
        );
    }

    #[test]
    fn a_deliveries_cursor_round_trips_and_a_forged_one_is_400() {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let query = deliveries_query(&pairs(&[("cursor", &deliveries_cursor(42))])).unwrap();
        assert_eq!(query.before, Some(42));
        for bad in [("cursor", "abc"), ("limit", "0"), ("status", "dead")] {
            assert_eq!(deliveries_query(&pairs(&[bad])).unwrap_err().status(), 400);
        }
    }

    /// One request a receiver got: URL, headers, body.
    type Posted = (String, Vec<(&'static str, String)>, String);

    /// A receiver that answers with the scripted statuses (then 200), or not at all.
    #[derive(Default)]
    struct Receiver {
        statuses: RefCell<Vec<Result<u16, String>>>,
        got: RefCell<Vec<Posted>>,
    }

    impl WebhookSender for Receiver {
        async fn post(
            &self,
            url: &str,
            headers: &[(&'static str, String)],
            body: String,
            _timeout_ms: u64,
        ) -> Result<u16, OriginError> {
            self.got
                .borrow_mut()
                .push((url.to_owned(), headers.to_vec(), body));
            let mut statuses = self.statuses.borrow_mut();
            if statuses.is_empty() {
                return Ok(200);
            }
            statuses.remove(0).map_err(OriginError)
        }
    }

    #[derive(Default)]
    struct Queue(RefCell<Vec<i64>>, Cell<bool>);

    impl DeliveryQueue for Queue {
        async fn send_batch(
            &self,
            messages: &[DeliveryMessage],
        ) -> Result<(), crate::ports::QueueError> {
            if self.1.get() {
                return Err(crate::ports::QueueError("down".into()));
            }
            self.0
                .borrow_mut()
                .extend(messages.iter().map(|m| m.delivery_id));
            Ok(())
        }
    }

    fn config(max_attempts: u32) -> WebhookConfig {
        WebhookConfig {
            retry: crate::config::RetryPolicy {
                max_attempts,
                base_delay_ms: 1_000,
                max_delay_ms: 60_000,
            },
            timeout_ms: 2_000,
            allowed_hosts: AllowedHosts::default(),
        }
    }

    fn register(store: &Store<Sqlite>, url: &str) -> String {
        let endpoint = endpoint_request(
            format!(r#"{{"url": "{url}"}}"#).as_bytes(),
            &AllowedHosts::default(),
        )
        .unwrap();
        block_on(store.signing_secret(&tenant(), "whsec_k", T0)).unwrap();
        block_on(store.create_endpoint(&tenant(), &endpoint, T0))
            .unwrap()
            .unwrap()
            .id
    }

    fn succeed(store: &Store<Sqlite>, job: &JobId) {
        block_on(store.acquire_lease(job, "a", T0, LEASE)).unwrap();
        assert!(block_on(store.complete(job, "a", &completion("done"), &NO_USAGE, T0)).unwrap());
    }

    fn message(id: i64) -> String {
        serde_json::to_string(&DeliveryMessage::new(id)).unwrap()
    }

    #[test]
    fn a_finished_job_gets_one_signed_event_per_receiver_retried_until_delivered() {
        let (store, doc, job) = store_with_job();
        let endpoint = register(&store, "https://hooks.example.com/in");
        succeed(&store, &job);
        let db = store.database();
        assert_eq!(db.scalar_i64("SELECT COUNT(*) FROM webhook_events"), 1);

        let queue = Queue::default();
        let clock = ManualClock(Cell::new(T0));
        block_on(dispatch(&store, &queue, &clock, &[job], &[]));
        let ids = queue.0.borrow().clone();
        assert_eq!(ids.len(), 1);
        block_on(dispatch(&store, &queue, &clock, &[job], &[]));
        assert_eq!(queue.0.borrow().len(), 1, "a delivery is enqueued once");

        let receiver = Receiver::default();
        receiver
            .statuses
            .borrow_mut()
            .extend([Ok(503), Err("connection refused".into()), Ok(302)]);
        let config = config(5);
        let deliverer = Deliverer {
            store: &store,
            sender: &receiver,
            clock: &clock,
            config: &config,
        };
        let mut actions = Vec::new();
        for _ in 0..4 {
            let action = block_on(deliverer.deliver(&message(ids[0])));
            if let Action::Retry { delay_seconds } = action {
                clock
                    .0
                    .set(clock.0.get() + i64::from(delay_seconds) * 1_000);
            }
            actions.push(action);
        }
        assert!(matches!(actions[0], Action::Retry { .. }), "{actions:?}");
        assert_eq!(actions[3], Action::Ack);
        // Backoff doubles: 0.75 s (rounded up to 1), 1.5 s, 3 s with jitter at one half.
        let delays: Vec<u32> = actions[..3]
            .iter()
            .map(|a| match a {
                Action::Retry { delay_seconds } => *delay_seconds,
                Action::Ack => 0,
            })
            .collect();
        assert_eq!(delays, [1, 2, 3]);

        let got = receiver.got.borrow();
        assert_eq!(got.len(), 4);
        let (url, headers, body) = &got[3];
        assert_eq!(url, "https://hooks.example.com/in");
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let signed = header("Docpipe-Signature");
        let t: i64 = signed[2..signed.find(',').unwrap()].parse().unwrap();
        assert_eq!(signed, signature("whsec_k", t, body));
        assert_eq!(header("Docpipe-Attempt"), "4");
        let event: Event = serde_json::from_str(body).unwrap();
        assert_eq!(event.event_type, "job.succeeded");
        assert_eq!((event.job_id, event.document_id), (job, doc));
        assert_eq!(event.summary_url, Some(summary_url(&doc)));
        assert_eq!(header("Docpipe-Event-Id"), event.id);
        let first: Event = serde_json::from_str(&got[0].2).unwrap();
        assert_eq!(
            first.id, event.id,
            "every attempt carries the same event id"
        );

        let page = block_on(store.deliveries(&tenant(), Some(&endpoint), None, 10)).unwrap();
        assert_eq!(page.len(), 1);
        let delivery = &page[0];
        assert_eq!(
            (delivery.state.as_str(), delivery.attempts),
            ("delivered", 4)
        );
        let statuses: Vec<Option<u16>> = delivery.attempt_log.iter().map(|a| a.status).collect();
        assert_eq!(statuses, [Some(503), None, Some(302), Some(200)]);
        assert!(
            delivery.attempt_log[1]
                .error
                .as_deref()
                .unwrap()
                .contains("refused")
        );
        assert!(
            delivery.attempt_log[2]
                .error
                .as_deref()
                .unwrap()
                .contains("redirects")
        );

        // A message for a delivered delivery does nothing.
        assert_eq!(block_on(deliverer.deliver(&message(ids[0]))), Action::Ack);
        assert_eq!(receiver.got.borrow().len(), 4);
    }

    #[test]
    fn a_receiver_that_never_answers_ends_dead_and_can_be_redelivered() {
        let (store, _, job) = store_with_job();
        let endpoint = register(&store, "https://hooks.example.com/in");
        block_on(store.acquire_lease(&job, "a", T0, LEASE)).unwrap();
        assert!(block_on(store.fail(&job, "a", "no text", &NO_USAGE, T0)).unwrap());
        let (queue, clock) = (Queue::default(), ManualClock(Cell::new(T0)));
        block_on(dispatch(&store, &queue, &clock, &[job], &[]));
        let id = queue.0.borrow()[0];
        let receiver = Receiver::default();
        receiver
            .statuses
            .borrow_mut()
            .extend((0..3).map(|_| Err("no response within 2s".to_string())));
        let config = config(3);
        let deliverer = Deliverer {
            store: &store,
            sender: &receiver,
            clock: &clock,
            config: &config,
        };
        for _ in 0..3 {
            if let Action::Retry { delay_seconds } = block_on(deliverer.deliver(&message(id))) {
                clock
                    .0
                    .set(clock.0.get() + i64::from(delay_seconds) * 1_000);
            }
        }
        let delivery = block_on(store.delivery(&tenant(), id)).unwrap().unwrap();
        assert_eq!((delivery.state.as_str(), delivery.attempts), ("dead", 3));
        assert!(delivery.dead_at.is_some());
        let event: Event = serde_json::from_str(&receiver.got.borrow()[0].2).unwrap();
        assert_eq!(
            (event.status.as_str(), event.error.as_deref()),
            ("failed", Some("no text"))
        );

        let again = block_on(store.redeliver(&tenant(), Some(&endpoint), id, clock.now_ms()))
            .unwrap()
            .unwrap();
        assert!(
            block_on(store.redeliver(&tenant(), None, id, T0))
                .unwrap()
                .is_none()
        );
        assert_eq!(block_on(deliverer.deliver(&message(again))), Action::Ack);
        let redelivered = block_on(store.delivery(&tenant(), again)).unwrap().unwrap();
        assert_eq!(redelivered.state, "delivered");
        assert_eq!(redelivered.event_id, delivery.event_id);
    }

    #[test]
    fn no_receiver_no_event_and_a_deleted_document_leaves_no_webhook_row() {
        let (store, doc, job) = store_with_job();
        succeed(&store, &job);
        let db = store.database();
        assert_eq!(db.scalar_i64("SELECT COUNT(*) FROM webhook_events"), 0);

        let (store, doc2, job2) = store_with_job();
        let _ = doc;
        register(&store, "https://hooks.example.com/in");
        succeed(&store, &job2);
        let (queue, clock) = (Queue::default(), ManualClock(Cell::new(T0)));
        block_on(dispatch(&store, &queue, &clock, &[job2], &[]));
        let receiver = Receiver::default();
        receiver.statuses.borrow_mut().push(Ok(500));
        let config = config(3);
        let deliverer = Deliverer {
            store: &store,
            sender: &receiver,
            clock: &clock,
            config: &config,
        };
        block_on(deliverer.deliver(&message(queue.0.borrow()[0])));
        assert!(block_on(store.delete_document(&tenant(), &doc2)).unwrap());
        let db = store.database();
        for table in ["webhook_events", "webhook_deliveries", "webhook_attempts"] {
            assert_eq!(
                db.scalar_i64(&format!("SELECT COUNT(*) FROM {table}")),
                0,
                "{table}"
            );
        }
        assert_eq!(
            block_on(deliverer.deliver(&message(queue.0.borrow()[0]))),
            Action::Ack
        );
    }

    #[test]
    fn one_statement_sends_the_deliveries_of_a_whole_batch() {
        let (store, _, job) = store_with_job();
        let other = JobId::new();
        upload(&store, &document(docpipe_jobs::DocumentId::new()), &other).unwrap();
        register(&store, "https://hooks.example.com/in");
        register(&store, "https://hooks.example.org/in");
        succeed(&store, &job);
        succeed(&store, &other);
        let (queue, clock) = (Queue::default(), ManualClock(Cell::new(T0)));
        block_on(dispatch(
            &store,
            &queue,
            &clock,
            &[job, other, JobId::new()],
            &[],
        ));
        assert_eq!(queue.0.borrow().len(), 4, "two events, two endpoints each");
        block_on(dispatch(&store, &queue, &clock, &[job, other], &[]));
        block_on(dispatch(&store, &queue, &clock, &[], &[]));
        assert_eq!(queue.0.borrow().len(), 4);
    }

    #[test]
    fn a_lost_message_is_sent_again_by_the_sweep_once_overdue() {
        let (store, _, job) = store_with_job();
        register(&store, "https://hooks.example.com/in");
        succeed(&store, &job);
        let (queue, clock) = (Queue::default(), ManualClock(Cell::new(T0)));
        queue.1.set(true);
        block_on(dispatch(&store, &queue, &clock, &[job], &[]));
        assert!(queue.0.borrow().is_empty());
        assert!(
            block_on(store.claim_overdue_deliveries(T0 - 1, T0, 10))
                .unwrap()
                .is_empty()
        );
        let overdue = block_on(store.claim_overdue_deliveries(T0 + 1, T0 + 60_000, 10)).unwrap();
        assert_eq!(overdue.len(), 1);
        assert!(
            block_on(store.claim_overdue_deliveries(T0 + 1, T0 + 60_000, 10))
                .unwrap()
                .is_empty(),
            "claimed once until overdue again"
        );
    }
}
