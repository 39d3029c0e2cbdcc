-- Per-tenant retention: documents older than this many days are deleted by the sweep (NULL takes
-- the Worker's RETENTION_DAYS; 0 there keeps documents forever).
ALTER TABLE tenants ADD COLUMN retention_days INTEGER CHECK (retention_days > 0);
