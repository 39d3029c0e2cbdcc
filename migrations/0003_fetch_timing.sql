-- Time to read the document from R2, the one I/O stage of processing before summarization.
ALTER TABLE jobs ADD COLUMN fetch_ms INTEGER;
