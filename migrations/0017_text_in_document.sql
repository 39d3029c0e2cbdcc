-- A document whose text is its own bytes (UTF-8 plain text that needed no cleaning beyond the
-- white space at its ends) gets no copy of its text in R2: the text is bytes
-- text_offset .. text_offset + text_bytes of the document, and `GET /v1/documents/{id}/text`
-- serves that range. NULL: the text has its own object.
ALTER TABLE summaries ADD COLUMN text_offset INTEGER;
ALTER TABLE summaries ADD COLUMN text_bytes INTEGER;
