-- Every index entry a write touches is a D1 row written, billed like a row. Indexes that only
-- find unfinished work become partial, so a job's entries there live while it is unfinished;
-- the upload markers (a handful of rows at any time, each inserted and deleted once) are read
-- without indexes.
DROP INDEX jobs_by_status;
CREATE INDEX jobs_queued ON jobs (available_at) WHERE status = 'queued';
DROP INDEX jobs_by_tenant_status;
CREATE INDEX jobs_in_flight ON jobs (tenant_id) WHERE status IN ('queued', 'processing');
DROP INDEX uploads_by_created;
DROP INDEX uploads_by_tenant;
