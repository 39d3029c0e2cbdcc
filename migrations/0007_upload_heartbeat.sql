-- An upload in progress notes that it is alive every few seconds; one silent for
-- ORPHAN_UPLOAD_SECONDS (its Worker was cancelled with the client) is swept.
ALTER TABLE uploads ADD COLUMN alive_at TEXT;
