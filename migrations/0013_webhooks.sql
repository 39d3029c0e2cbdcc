-- Webhooks: a tenant's endpoints, the events of its finished jobs, and one delivery per event
-- and receiver with every attempt logged. Events are written in the transaction that finishes
-- the job, only for tenants with a receiver; a queue message per delivery wakes the sender.

-- The secret every event of a tenant is signed with (HMAC-SHA256, `Docpipe-Signature`).
CREATE TABLE webhook_secrets (
    tenant_id  TEXT PRIMARY KEY,
    secret     TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE webhook_endpoints (
    id          TEXT PRIMARY KEY,                     -- UUIDv7
    tenant_id   TEXT NOT NULL,
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,                        -- space-separated event types
    description TEXT,
    created_at  TEXT NOT NULL
) STRICT;

CREATE INDEX webhook_endpoints_by_tenant ON webhook_endpoints (tenant_id, id);

-- Where a document's events also go: the `callback_url` its upload named.
ALTER TABLE documents ADD COLUMN callback_url TEXT;
ALTER TABLE fetches ADD COLUMN callback_url TEXT;

-- At most one event per job: a job finishes once.
CREATE TABLE webhook_events (
    id          TEXT PRIMARY KEY,                     -- UUIDv7, the receivers' dedup key
    tenant_id   TEXT NOT NULL,
    type        TEXT NOT NULL CHECK (type IN ('job.succeeded', 'job.failed')),
    job_id      TEXT NOT NULL UNIQUE,
    document_id TEXT NOT NULL,
    error       TEXT,                                 -- the job's error, for job.failed
    created_at  TEXT NOT NULL
) STRICT;

CREATE INDEX webhook_events_by_document ON webhook_events (document_id);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    event_id        TEXT NOT NULL REFERENCES webhook_events (id),
    tenant_id       TEXT NOT NULL,
    endpoint_id     TEXT,                             -- NULL: the document's callback_url
    url             TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,                    -- a pending delivery is due then
    lease_until     TEXT,                             -- an attempt in flight holds it until then
    queued_at       TEXT,                             -- its wake-up message was sent
    last_status     INTEGER,                          -- the receiver's last HTTP status
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    delivered_at    TEXT,
    dead_at         TEXT                              -- the dead-letter record: given up then
) STRICT;

CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (tenant_id, endpoint_id, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';

CREATE TABLE webhook_attempts (
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries (id),
    attempt     INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    status      INTEGER,                              -- HTTP status; NULL when none came
    error       TEXT,
    PRIMARY KEY (delivery_id, attempt)
) STRICT;
