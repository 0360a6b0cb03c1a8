-- The latest preauth of an agreement (registration notifications). The Postgres migration of
-- the same number also re-keys indexes for stable generic plans, which SQLite does not need:
-- its planner prefers the index that matches the most equality terms.
CREATE INDEX transactions_agreement ON transactions (agreement_id, created_at);
