-- Uploads in flight. A row is written before a document's bytes go to R2 and removed in the
-- same transaction that records the document, so a row that stays behind marks an object
-- left by an upload that never finished; the scheduled sweep deletes both.
CREATE TABLE uploads (
    document_id TEXT PRIMARY KEY,                     -- the id the document would have had
    object_key  TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;

CREATE INDEX uploads_by_created ON uploads (created_at);
