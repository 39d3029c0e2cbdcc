-- What the model calls of a job cost: counted over all its attempts (failed calls included in
-- ai_calls), as the model reported its tokens, priced from docpipe's model table. Sum them:
--   SELECT SUM(ai_cost_usd) FROM jobs WHERE created_at >= '2026-11-01';
ALTER TABLE jobs ADD COLUMN ai_model TEXT;               -- the model called
ALTER TABLE jobs ADD COLUMN ai_calls INTEGER;            -- model calls made
ALTER TABLE jobs ADD COLUMN ai_input_tokens INTEGER;
ALTER TABLE jobs ADD COLUMN ai_output_tokens INTEGER;
ALTER TABLE jobs ADD COLUMN ai_cost_usd REAL;            -- estimated from the model's published price
