-- What each job cost in billed platform operations, counted by the Workers as they made them:
-- the request that created it (carried in its queue message) and every attempt at it. Kept
-- after its document is deleted, for accounting; one row per job. Price a tenant's day:
--   SELECT tenant_id, day, SUM(d1_rows_written), SUM(r2_class_a), SUM(queue_operations)
--     FROM job_usage GROUP BY tenant_id, day;
CREATE TABLE job_usage (
    job_id           TEXT PRIMARY KEY,
    tenant_id        TEXT,                 -- NULL when the job was gone before it was counted
    day              TEXT NOT NULL,        -- UTC day of its first counted attempt (YYYY-MM-DD)
    requests         REAL NOT NULL DEFAULT 0, -- Worker invocations: its request, its share of each consumer batch
    d1_queries       INTEGER NOT NULL DEFAULT 0,
    d1_rows_read     INTEGER NOT NULL DEFAULT 0,
    d1_rows_written  INTEGER NOT NULL DEFAULT 0, -- index entries and search index rows included, as billed
    r2_class_a       INTEGER NOT NULL DEFAULT 0,
    r2_class_b       INTEGER NOT NULL DEFAULT 0,
    r2_bytes_read    INTEGER NOT NULL DEFAULT 0, -- document bytes read for extraction (CPU grows with them)
    queue_operations INTEGER NOT NULL DEFAULT 0, -- messages written, read and deleted
    ai_input_tokens  INTEGER NOT NULL DEFAULT 0,
    ai_output_tokens INTEGER NOT NULL DEFAULT 0,
    ai_cost_usd      REAL NOT NULL DEFAULT 0
) WITHOUT ROWID;
