-- Full-text search over names, summaries and extracted text (`GET /v1/search`). One row per
-- document, its rowid the document's, written in the transaction that stores a summary and
-- deleted with the document. `body` holds the first 256 KiB of the extracted text.
CREATE VIRTUAL TABLE search_index USING fts5(
    document_id UNINDEXED,
    tenant_id UNINDEXED,
    filename,
    summary,
    body,
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Documents summarized before search existed: by name and latest summary.
INSERT INTO search_index (rowid, document_id, tenant_id, filename, summary, body)
SELECT d.rowid, d.id, d.tenant_id, COALESCE(d.filename, ''),
       (SELECT s.summary FROM summaries s WHERE s.document_id = d.id
        ORDER BY s.created_at DESC LIMIT 1), ''
FROM documents d WHERE EXISTS (SELECT 1 FROM summaries s WHERE s.document_id = d.id);
