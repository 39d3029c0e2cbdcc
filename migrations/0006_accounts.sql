-- Accounts: tenants own every row; API keys name a tenant; quotas per tenant and day.
-- Rows that exist already belong to the tenant `default`.

CREATE TABLE tenants (
    id                    TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    name                  TEXT NOT NULL,
    created_at            TEXT NOT NULL,
    -- Quota overrides; NULL takes the Workers' defaults (QUOTA_* vars).
    max_documents_per_day INTEGER CHECK (max_documents_per_day >= 0),
    max_bytes_per_day     INTEGER CHECK (max_bytes_per_day >= 0),
    max_jobs_in_flight    INTEGER CHECK (max_jobs_in_flight >= 0),
    max_tokens_per_day    INTEGER CHECK (max_tokens_per_day >= 0)
) STRICT;

INSERT INTO tenants (id, name, created_at)
VALUES ('default', 'Default tenant', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

-- A key is shown once, when created; only its SHA-256 is kept.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,                    -- UUIDv7, shown by `scripts/keys list`
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    name         TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,                -- hex SHA-256 of the whole key
    scopes       TEXT NOT NULL CHECK (scopes IN ('read', 'write', 'read write')),
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
) STRICT;

-- What each tenant used on each UTC day, counted as requests are accepted.
CREATE TABLE tenant_usage (
    tenant_id TEXT NOT NULL,
    day       TEXT NOT NULL,                          -- 2026-11-23
    documents INTEGER NOT NULL DEFAULT 0,
    bytes     INTEGER NOT NULL DEFAULT 0,
    tokens    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day)
) STRICT;

-- The owner of every row. (The "Async Data Pipeline" pattern calls it user_id.)
ALTER TABLE documents ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE jobs ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE summaries ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE uploads ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE uploads ADD COLUMN size_bytes INTEGER NOT NULL DEFAULT 0;

CREATE INDEX documents_by_tenant ON documents (tenant_id, id);
CREATE INDEX jobs_by_tenant_status ON jobs (tenant_id, status);
CREATE INDEX uploads_by_tenant ON uploads (tenant_id);

-- Idempotency keys are unique per tenant. They move to their own table: the old column's
-- UNIQUE spans all tenants, and SQLite can neither drop that constraint nor the column (D1
-- always enforces foreign keys, so the documents table cannot be rebuilt around them). The old
-- column is no longer written.
CREATE TABLE idempotency_keys (
    tenant_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    document_id TEXT NOT NULL UNIQUE REFERENCES documents (id),
    PRIMARY KEY (tenant_id, key)
) STRICT;

INSERT INTO idempotency_keys (tenant_id, key, document_id)
SELECT 'default', idempotency_key, id FROM documents WHERE idempotency_key IS NOT NULL;
