-- The id of the HTTP request that created a transaction's row (`x-request-id`, README:
-- "Operator console"): the console's timeline shows it with Billwerk's request, so an operator
-- can find that request's log lines. Additive only (expand/contract): NULL for every existing
-- row, for rows an older release writes and for rows no request created (a refund made at the
-- PSP's back office). Same column as the Postgres file.
ALTER TABLE transactions ADD COLUMN request_id TEXT;
