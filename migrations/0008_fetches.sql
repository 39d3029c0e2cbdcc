-- Documents named by URL. The client is answered at once with the ids the document and its job
-- will have; the consumer fetches the URL into R2 (the job's `fetching` stage), then records
-- the document and its job as an upload would. A row stays as the document's provenance.
CREATE TABLE fetches (
    job_id           TEXT PRIMARY KEY,                -- the job the document gets once fetched
    document_id      TEXT NOT NULL UNIQUE,
    tenant_id        TEXT NOT NULL,
    url              TEXT NOT NULL,                   -- as the client gave it
    filename         TEXT,                            -- the client's name for it, if it gave one
    status           TEXT NOT NULL
                     CHECK (status IN ('queued', 'fetching', 'fetched', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    error            TEXT,                            -- why the fetch failed, readable
    lease_expires_at TEXT,                            -- while `fetching`
    available_at     TEXT NOT NULL,                   -- a queued fetch is not due before this
    request_id       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    finished_at      TEXT
) STRICT;

CREATE INDEX fetches_by_tenant_status ON fetches (tenant_id, status);
CREATE INDEX fetches_by_status ON fetches (status, available_at);

-- Where a fetched document came from.
ALTER TABLE documents ADD COLUMN source_url TEXT;
