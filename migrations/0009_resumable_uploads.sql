-- Resumable uploads (tus 1.0.0 at /v1/uploads): each PATCH is one part of an R2 multipart
-- upload. When the last byte arrives the object is completed and the row becomes a document
-- (same id) with its queued job; an upload that expires first is aborted by the sweep.
CREATE TABLE resumable_uploads (
    id            TEXT PRIMARY KEY,                   -- the document id it becomes
    job_id        TEXT NOT NULL UNIQUE,               -- the job it gets when complete
    tenant_id     TEXT NOT NULL,
    object_key    TEXT NOT NULL,
    r2_upload_id  TEXT NOT NULL,                      -- the R2 multipart upload
    length        INTEGER NOT NULL CHECK (length > 0),
    upload_offset INTEGER NOT NULL DEFAULT 0,         -- bytes stored so far
    part_size     INTEGER,                            -- every part but the last, once known
    parts         TEXT NOT NULL DEFAULT '[]',         -- JSON [[part number, etag], …]
    filename      TEXT,
    content_type  TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL
) STRICT;

CREATE INDEX resumable_uploads_by_tenant ON resumable_uploads (tenant_id);
CREATE INDEX resumable_uploads_by_expiry ON resumable_uploads (expires_at);
