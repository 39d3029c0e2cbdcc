-- What extraction found out about a document, kept with its summary.
ALTER TABLE summaries ADD COLUMN source_type TEXT;      -- the format the text was read as
ALTER TABLE summaries ADD COLUMN notes TEXT;            -- format mismatch, encoding used, cuts; one per line
ALTER TABLE summaries ADD COLUMN fallback_reason TEXT;  -- why the configured backend was not used
