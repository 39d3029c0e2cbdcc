//! Webhooks: endpoints, the signing secret, events and their deliveries.
//!
//! A job's event is written in the transaction that finishes the job ([`job_event`] and
//! [`fetch_event`] add its statements there), once per job, and only when the tenant has an
//! endpoint or the document a `callback_url`; the same transaction adds one `pending`
//! delivery per receiver. The sender then claims a delivery attempt by attempt: an attempt
//! holds a short lease, and its result is recorded with the attempt in one transaction.

use docpipe_jobs::{DocumentId, JobId};
use serde::{Deserialize, Serialize};

use super::{JobUsage, Store};
use crate::auth::TenantId;
use crate::db::{DbError, Statement};
use crate::ports::Database;
use crate::time::{Millis, Timestamp, timestamp};

/// Endpoints one tenant may register.
pub const MAX_ENDPOINTS: u32 = 16;

/// A registered endpoint as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRow {
    pub id: String,
    pub url: String,
    /// The event types sent there.
    #[serde(with = "space_separated")]
    pub events: Vec<String>,
    pub description: Option<String>,
    pub created_at: Timestamp,
}

mod space_separated {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(list: &[String], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(list)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let text = String::deserialize(d)?;
        Ok(text.split_whitespace().map(str::to_owned).collect())
    }
}

/// A new endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEndpoint {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
}

/// One attempt at a delivery, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRow {
    pub attempt: u32,
    pub started_at: Timestamp,
    pub duration_ms: i64,
    /// The receiver's HTTP status; none when it did not answer.
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// A delivery with its attempts, as `GET /v1/webhooks/{id}/deliveries` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub id: i64,
    pub event_id: String,
    #[serde(rename(serialize = "type"))]
    pub event_type: String,
    pub job_id: JobId,
    pub document_id: DocumentId,
    pub url: String,
    /// `pending`, `delivered`, or `dead` (given up: the dead-letter record).
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
    pub dead_at: Option<Timestamp>,
    #[serde(deserialize_with = "json_list")]
    pub attempt_log: Vec<AttemptRow>,
}

fn json_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<AttemptRow>, D::Error> {
    let text = Option::<String>::deserialize(d)?;
    match text {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(&text).map_err(serde::de::Error::custom),
    }
}

/// What the sender needs of a delivery: where, how often tried, the event, the secret.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OutgoingDelivery {
    pub id: i64,
    pub tenant_id: TenantId,
    pub state: String,
    pub attempts: u32,
    pub url: String,
    pub next_attempt_at: Timestamp,
    pub lease_until: Option<Timestamp>,
    pub event_id: String,
    pub event_type: String,
    pub job_id: JobId,
    pub document_id: DocumentId,
    pub error: Option<String>,
    pub event_created_at: Timestamp,
    pub secret: Option<String>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptEnd {
    Delivered,
    /// Tried again at this time.
    Retry {
        at: Millis,
    },
    /// Given up.
    Dead,
}

/// An attempt's result, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    pub attempt: u32,
    pub started_at: Millis,
    pub duration_ms: i64,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub end: AttemptEnd,
}

#[derive(Deserialize)]
struct Id {
    id: i64,
}

#[derive(Deserialize)]
struct Secret {
    secret: String,
}

/// A new id for an event or an endpoint: a UUIDv7, like every other id (receivers drop the
/// events they have seen by it).
pub fn new_id() -> String {
    JobId::new().to_string()
}

/// The statements that record the event of a job that finished at `now` (in the same
/// transaction, after the statement that finished it) and its deliveries.
pub(super) fn job_event(job: &JobId, now: Millis) -> Vec<Statement> {
    let event_id = new_id();
    let now = timestamp(now);
    let event = Statement::new(
        "INSERT INTO webhook_events (id, tenant_id, type, job_id, document_id, error, created_at) \
         SELECT ?1, j.tenant_id, 'job.' || j.status, j.id, j.document_id, j.error, ?3 FROM jobs j \
         WHERE j.id = ?2 AND j.status IN ('succeeded', 'failed') AND j.finished_at = ?3 \
         AND (EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.tenant_id = j.tenant_id) \
         OR EXISTS (SELECT 1 FROM documents d WHERE d.id = j.document_id \
         AND d.callback_url IS NOT NULL) \
         OR EXISTS (SELECT 1 FROM fetches f WHERE f.document_id = j.document_id \
         AND f.callback_url IS NOT NULL)) \
         ON CONFLICT (job_id) DO NOTHING",
        vec![event_id.as_str().into(), job.into(), now.clone().into()],
    );
    vec![event, deliveries(&event_id, &now)]
}

/// As [`job_event`], for a job that failed in its fetching stage (it has no job row).
pub(super) fn fetch_event(job: &JobId, now: Millis) -> Vec<Statement> {
    let event_id = new_id();
    let now = timestamp(now);
    let event = Statement::new(
        "INSERT INTO webhook_events (id, tenant_id, type, job_id, document_id, error, created_at) \
         SELECT ?1, f.tenant_id, 'job.failed', f.job_id, f.document_id, f.error, ?3 \
         FROM fetches f WHERE f.job_id = ?2 AND f.status = 'failed' AND f.finished_at = ?3 \
         AND (EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.tenant_id = f.tenant_id) \
         OR f.callback_url IS NOT NULL) \
         ON CONFLICT (job_id) DO NOTHING",
        vec![event_id.as_str().into(), job.into(), now.clone().into()],
    );
    vec![event, deliveries(&event_id, &now)]
}

/// One `pending` delivery of the event to each endpoint that takes its type, and to the
/// document's callback URL.
fn deliveries(event_id: &str, now: &str) -> Statement {
    Statement::new(
        "INSERT INTO webhook_deliveries (event_id, tenant_id, endpoint_id, url, state, \
         next_attempt_at, created_at, updated_at) \
         SELECT e.id, e.tenant_id, w.id, w.url, 'pending', ?2, ?2, ?2 FROM webhook_events e \
         JOIN webhook_endpoints w ON w.tenant_id = e.tenant_id \
         WHERE e.id = ?1 AND instr(' ' || w.events || ' ', ' ' || e.type || ' ') > 0 \
         UNION ALL \
         SELECT id, tenant_id, NULL, url, 'pending', ?2, ?2, ?2 FROM ( \
         SELECT e.id, e.tenant_id, COALESCE( \
         (SELECT callback_url FROM documents WHERE id = e.document_id), \
         (SELECT callback_url FROM fetches WHERE document_id = e.document_id)) AS url \
         FROM webhook_events e WHERE e.id = ?1) \
         WHERE url IS NOT NULL",
        vec![event_id.into(), now.into()],
    )
}

/// Statements that delete the webhook events of a document and their deliveries.
pub(super) fn forget_document(document: &DocumentId, tenant: &TenantId) -> Vec<Statement> {
    vec![
        Statement::new(
            "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM \
             webhook_deliveries WHERE event_id IN (SELECT id FROM webhook_events \
             WHERE document_id = ?1 AND tenant_id = ?2))",
            vec![document.into(), tenant.as_str().into()],
        ),
        Statement::new(
            "DELETE FROM webhook_deliveries WHERE event_id IN (SELECT id FROM webhook_events \
             WHERE document_id = ?1 AND tenant_id = ?2)",
            vec![document.into(), tenant.as_str().into()],
        ),
        Statement::new(
            "DELETE FROM webhook_events WHERE document_id = ?1 AND tenant_id = ?2",
            vec![document.into(), tenant.as_str().into()],
        ),
    ]
}

/// `SELECT` of deliveries with their event and attempts, under a condition.
macro_rules! select_deliveries {
    ($condition:literal) => {
        concat!(
            "SELECT d.id, e.id AS event_id, e.type AS event_type, e.job_id, e.document_id, \
             d.url, d.state, d.attempts, \
             CASE d.state WHEN 'pending' THEN d.next_attempt_at END AS next_attempt_at, \
             d.last_status, d.last_error, d.created_at, d.delivered_at, d.dead_at, \
             (SELECT json_group_array(json(a)) FROM (SELECT json_object('attempt', attempt, \
             'started_at', started_at, 'duration_ms', duration_ms, 'status', status, \
             'error', error) AS a FROM webhook_attempts WHERE delivery_id = d.id \
             ORDER BY attempt)) AS attempt_log \
             FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id WHERE ",
            $condition
        )
    };
}

impl<D: Database> Store<D> {
    /// The tenant's signing secret; `candidate` becomes it if the tenant has none yet.
    pub async fn signing_secret(
        &self,
        tenant: &TenantId,
        candidate: &str,
        now: Millis,
    ) -> Result<String, DbError> {
        let rows: Vec<Secret> = self
            .db
            .query(Statement::new(
                "INSERT INTO webhook_secrets (tenant_id, secret, created_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (tenant_id) DO UPDATE SET secret = secret RETURNING secret",
                vec![
                    tenant.as_str().into(),
                    candidate.into(),
                    timestamp(now).into(),
                ],
            ))
            .await?;
        rows.into_iter()
            .next()
            .map(|row| row.secret)
            .ok_or_else(|| DbError::Decode("no signing secret returned".into()))
    }

    /// Registers an endpoint unless the tenant has [`MAX_ENDPOINTS`] already; `None` then.
    pub async fn create_endpoint(
        &self,
        tenant: &TenantId,
        endpoint: &NewEndpoint,
        now: Millis,
    ) -> Result<Option<EndpointRow>, DbError> {
        let rows = self
            .db
            .query(Statement::new(
                "INSERT INTO webhook_endpoints (id, tenant_id, url, events, description, \
                 created_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE (SELECT COUNT(*) FROM \
                 webhook_endpoints WHERE tenant_id = ?2) < ?7 \
                 RETURNING id, url, events, description, created_at",
                vec![
                    endpoint.id.clone().into(),
                    tenant.as_str().into(),
                    endpoint.url.clone().into(),
                    endpoint.events.join(" ").into(),
                    endpoint.description.clone().into(),
                    timestamp(now).into(),
                    MAX_ENDPOINTS.into(),
                ],
            ))
            .await?;
        Ok(rows.into_iter().next())
    }

    /// The tenant's endpoints, oldest first.
    pub async fn endpoints(&self, tenant: &TenantId) -> Result<Vec<EndpointRow>, DbError> {
        self.db
            .query(Statement::new(
                "SELECT id, url, events, description, created_at FROM webhook_endpoints \
                 WHERE tenant_id = ?1 ORDER BY id",
                vec![tenant.as_str().into()],
            ))
            .await
    }

    /// The tenant's endpoint.
    pub async fn endpoint(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<EndpointRow>, DbError> {
        let rows = self
            .db
            .query(Statement::new(
                "SELECT id, url, events, description, created_at FROM webhook_endpoints \
                 WHERE tenant_id = ?1 AND id = ?2",
                vec![tenant.as_str().into(), id.into()],
            ))
            .await?;
        Ok(rows.into_iter().next())
    }

    /// Removes the endpoint with its deliveries and their attempts; whether it existed.
    pub async fn delete_endpoint(&self, tenant: &TenantId, id: &str) -> Result<bool, DbError> {
        let params = || vec![tenant.as_str().into(), id.into()];
        let changes = self
            .db
            .batch(vec![
                Statement::new(
                    "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM \
                     webhook_deliveries WHERE tenant_id = ?1 AND endpoint_id = ?2)",
                    params(),
                ),
                Statement::new(
                    "DELETE FROM webhook_deliveries WHERE tenant_id = ?1 AND endpoint_id = ?2",
                    params(),
                ),
                Statement::new(
                    "DELETE FROM webhook_endpoints WHERE tenant_id = ?1 AND id = ?2",
                    params(),
                ),
            ])
            .await?;
        Ok(changes.last() == Some(&1))
    }

    /// A page of the deliveries to an endpoint (`None`: to callback URLs), newest first: at
    /// most `limit + 1`, below the id `before`.
    pub async fn deliveries(
        &self,
        tenant: &TenantId,
        endpoint: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryRow>, DbError> {
        self.db
            .query(Statement::new(
                select_deliveries!(
                    "d.tenant_id = ?1 AND d.endpoint_id IS ?2 \
                     AND (?3 IS NULL OR d.id < ?3) ORDER BY d.id DESC LIMIT ?4"
                ),
                vec![
                    tenant.as_str().into(),
                    endpoint.into(),
                    before.into(),
                    (limit + 1).into(),
                ],
            ))
            .await
    }

    /// A new delivery of the event `delivery` delivered, to the same receiver (an endpoint's
    /// current URL); `None` when the tenant has no such delivery for that receiver.
    pub async fn redeliver(
        &self,
        tenant: &TenantId,
        endpoint: Option<&str>,
        delivery: i64,
        now: Millis,
    ) -> Result<Option<i64>, DbError> {
        let rows: Vec<Id> = self
            .db
            .query(Statement::new(
                "INSERT INTO webhook_deliveries (event_id, tenant_id, endpoint_id, url, state, \
                 next_attempt_at, queued_at, created_at, updated_at) \
                 SELECT d.event_id, d.tenant_id, d.endpoint_id, COALESCE(w.url, d.url), \
                 'pending', ?4, ?4, ?4, ?4 FROM webhook_deliveries d \
                 LEFT JOIN webhook_endpoints w ON w.id = d.endpoint_id \
                 WHERE d.id = ?1 AND d.tenant_id = ?2 AND d.endpoint_id IS ?3 RETURNING id",
                vec![
                    delivery.into(),
                    tenant.as_str().into(),
                    endpoint.into(),
                    timestamp(now).into(),
                ],
            ))
            .await?;
        Ok(rows.into_iter().next().map(|row| row.id))
    }

    /// The one delivery, as its page shows it.
    pub async fn delivery(
        &self,
        tenant: &TenantId,
        id: i64,
    ) -> Result<Option<DeliveryRow>, DbError> {
        let rows = self
            .db
            .query(Statement::new(
                select_deliveries!("d.id = ?1 AND d.tenant_id = ?2"),
                vec![id.into(), tenant.as_str().into()],
            ))
            .await?;
        Ok(rows.into_iter().next())
    }

    /// Adds what a consumer batch cost to its jobs' usage rows, marks the deliveries of these
    /// jobs' events that have no wake-up message yet as sent, and returns them: one round trip
    /// for a whole batch.
    pub async fn record_usage_and_claim_deliveries(
        &self,
        usage: &[JobUsage],
        jobs: &[JobId],
        now: Millis,
    ) -> Result<Vec<i64>, DbError> {
        let mut statements: Vec<Statement> = super::usage::record_statement(usage, now)
            .into_iter()
            .collect();
        if !jobs.is_empty() {
            let ids: Vec<String> = jobs.iter().map(ToString::to_string).collect();
            statements.push(Statement::new(
                "UPDATE webhook_deliveries SET queued_at = ?2 WHERE state = 'pending' \
                 AND queued_at IS NULL AND event_id IN (SELECT id FROM webhook_events \
                 WHERE job_id IN (SELECT value FROM json_each(?1))) RETURNING id",
                vec![
                    serde_json::to_string(&ids).unwrap_or_default().into(),
                    timestamp(now).into(),
                ],
            ));
        }
        if statements.is_empty() {
            return Ok(Vec::new());
        }
        // The claim's rows, when there is a claim (the usage statement returns none).
        let rows: Vec<Id> = self.db.batch_query(statements).await?;
        Ok(rows.into_iter().map(|row| row.id).collect())
    }

    /// Up to `limit` pending deliveries whose message should have come by `overdue`
    /// (due then, no attempt in flight, no message sent since): marked as sent again.
    pub async fn claim_overdue_deliveries(
        &self,
        overdue: Millis,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<i64>, DbError> {
        let rows: Vec<Id> = self
            .db
            .query(Statement::new(
                "UPDATE webhook_deliveries SET queued_at = ?2 WHERE id IN (SELECT id FROM \
                 webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= ?1 \
                 AND (lease_until IS NULL OR lease_until < ?2) \
                 AND (queued_at IS NULL OR queued_at <= ?1) LIMIT ?3) RETURNING id",
                vec![
                    timestamp(overdue).into(),
                    timestamp(now).into(),
                    limit.into(),
                ],
            ))
            .await?;
        Ok(rows.into_iter().map(|row| row.id).collect())
    }

    /// The delivery with its event and the tenant's secret.
    pub async fn outgoing_delivery(&self, id: i64) -> Result<Option<OutgoingDelivery>, DbError> {
        let rows = self
            .db
            .query(Statement::new(
                "SELECT d.id, d.tenant_id, d.state, d.attempts, d.url, d.next_attempt_at, d.lease_until, \
                 e.id AS event_id, e.type AS event_type, e.job_id, e.document_id, e.error, \
                 e.created_at AS event_created_at, s.secret FROM webhook_deliveries d \
                 JOIN webhook_events e ON e.id = d.event_id \
                 LEFT JOIN webhook_secrets s ON s.tenant_id = d.tenant_id WHERE d.id = ?1",
                vec![id.into()],
            ))
            .await?;
        Ok(rows.into_iter().next())
    }

    /// Takes the delivery's next attempt (number `seen + 1`) until `lease_until`, if it is
    /// still pending, no one else took that attempt, and no attempt is in flight.
    pub async fn begin_attempt(
        &self,
        id: i64,
        seen: u32,
        now: Millis,
        lease_until: Millis,
    ) -> Result<bool, DbError> {
        let changed = self
            .db
            .execute(Statement::new(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, lease_until = ?3, \
                 updated_at = ?2 WHERE id = ?1 AND state = 'pending' AND attempts = ?4 \
                 AND (lease_until IS NULL OR lease_until < ?2)",
                vec![
                    id.into(),
                    timestamp(now).into(),
                    timestamp(lease_until).into(),
                    seen.into(),
                ],
            ))
            .await?;
        Ok(changed == 1)
    }

    /// Logs the attempt and moves the delivery on: delivered, due again, or dead.
    pub async fn end_attempt(
        &self,
        id: i64,
        result: &AttemptResult,
        now: Millis,
    ) -> Result<(), DbError> {
        let log = Statement::new(
            "INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, \
             status, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (delivery_id, attempt) DO NOTHING",
            vec![
                id.into(),
                result.attempt.into(),
                timestamp(result.started_at).into(),
                result.duration_ms.into(),
                result.status.map(u32::from).into(),
                result.error.clone().into(),
            ],
        );
        let (state, next, delivered, dead) = match result.end {
            AttemptEnd::Delivered => ("delivered", now, Some(now), None),
            AttemptEnd::Retry { at } => ("pending", at, None, None),
            AttemptEnd::Dead => ("dead", now, None, Some(now)),
        };
        let update = Statement::new(
            "UPDATE webhook_deliveries SET state = ?3, next_attempt_at = ?4, lease_until = NULL, \
             queued_at = CASE WHEN ?3 = 'pending' THEN ?5 ELSE queued_at END, \
             last_status = ?6, last_error = ?7, delivered_at = ?8, dead_at = ?9, updated_at = ?5 \
             WHERE id = ?1 AND attempts = ?2 AND state = 'pending'",
            vec![
                id.into(),
                result.attempt.into(),
                state.into(),
                timestamp(next).into(),
                timestamp(now).into(),
                result.status.map(u32::from).into(),
                result.error.clone().into(),
                delivered.map(timestamp).into(),
                dead.map(timestamp).into(),
            ],
        );
        self.db.batch(vec![log, update]).await?;
        Ok(())
    }

    /// Gives a delivery up with a reason, unless it ended already (the queue dead-lettered its
    /// message, or it cannot be sent at all).
    pub async fn kill_delivery(&self, id: i64, reason: &str, now: Millis) -> Result<(), DbError> {
        self.db
            .execute(Statement::new(
                "UPDATE webhook_deliveries SET state = 'dead', dead_at = ?2, last_error = ?3, \
                 lease_until = NULL, updated_at = ?2 WHERE id = ?1 AND state = 'pending'",
                vec![id.into(), timestamp(now).into(), reason.into()],
            ))
            .await?;
        Ok(())
    }
}
