-- A resumable upload may name a callback URL (its `callback_url` metadata); the document it
-- becomes takes it.
ALTER TABLE resumable_uploads ADD COLUMN callback_url TEXT;
