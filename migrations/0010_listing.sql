-- Listing a tenant's jobs newest first (`GET /v1/jobs`).
CREATE INDEX jobs_by_tenant ON jobs (tenant_id, id);
