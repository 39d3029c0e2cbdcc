-- docpipe schema. Timestamps are RFC 3339 UTC text with milliseconds
-- (2026-11-22T21:06:00.123Z): readable, and they sort and compare correctly as text.

-- One row per uploaded document; its bytes are in R2 under object_key.
CREATE TABLE documents (
    id              TEXT PRIMARY KEY,                 -- UUIDv7
    object_key      TEXT NOT NULL UNIQUE,             -- R2 key of the original bytes
    filename        TEXT,                             -- client's name for it, path stripped
    content_type    TEXT NOT NULL,                    -- declared Content-Type, normalized
    size_bytes      INTEGER NOT NULL CHECK (size_bytes > 0),
    sha256          TEXT,                             -- hex digest of the bytes
    idempotency_key TEXT UNIQUE,                      -- client's Idempotency-Key, if any
    request_id      TEXT NOT NULL,                    -- the upload request, for log search
    upload_ms       INTEGER,                          -- time to stream the body into R2
    created_at      TEXT NOT NULL
) STRICT;

-- One row per processing run of a document. The source of truth for the pipeline: a queue
-- message only says "look at this job".
CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,                -- UUIDv7
    document_id      TEXT NOT NULL REFERENCES documents (id),
    status           TEXT NOT NULL
                     CHECK (status IN ('queued', 'processing', 'succeeded', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,      -- leases taken so far
    error            TEXT,                            -- last error, readable
    lease_id         TEXT,                            -- holder of the processing lease
    lease_expires_at TEXT,                            -- after this, another consumer may take over
    available_at     TEXT NOT NULL,                   -- a queued job is not due before this
    request_id       TEXT NOT NULL,                   -- the request that created the job
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    started_at       TEXT,                            -- when the latest attempt took its lease
    finished_at      TEXT,                            -- when it reached succeeded or failed
    extract_ms       INTEGER,                         -- stage timings of the finishing attempt
    summarize_ms     INTEGER,
    lease_write_ms   INTEGER                          -- round trip of the lease-taking D1 write
) STRICT;

CREATE INDEX jobs_by_document ON jobs (document_id, id);
CREATE INDEX jobs_by_status ON jobs (status, available_at);
CREATE INDEX jobs_by_lease ON jobs (lease_expires_at) WHERE status = 'processing';

-- At most one summary per job: a redelivered message cannot add a second.
CREATE TABLE summaries (
    job_id        TEXT PRIMARY KEY REFERENCES jobs (id),
    document_id   TEXT NOT NULL REFERENCES documents (id),
    summary       TEXT NOT NULL,
    backend       TEXT NOT NULL,                      -- extractive | workers-ai | openai
    model         TEXT,                               -- model name, for AI backends
    fallback_from TEXT,                               -- backend that failed, when this is a fallback
    input_chars   INTEGER NOT NULL,                   -- characters of extracted text summarized
    truncated     INTEGER NOT NULL DEFAULT 0 CHECK (truncated IN (0, 1)),
    created_at    TEXT NOT NULL
) STRICT;

CREATE INDEX summaries_by_document ON summaries (document_id, created_at);
CREATE INDEX summaries_by_created ON summaries (created_at);
