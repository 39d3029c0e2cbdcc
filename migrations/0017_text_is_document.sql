-- A document whose text is its own bytes (UTF-8 plain text that needed no cleaning) gets no
-- copy of its text in R2: `GET /v1/documents/{id}/text` serves the document itself.
ALTER TABLE summaries ADD COLUMN text_is_document INTEGER NOT NULL DEFAULT 0;
