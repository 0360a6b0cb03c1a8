-- A preauth whose PSP answer was a debit (money collected) instead of an authorization (issue #18,
-- input 5): captures are booked from that debit without a PSP call, a cancel refunds it. Additive
-- only (expand/contract): 0 for every existing row and for rows an older release writes.
ALTER TABLE transactions ADD COLUMN collected_at_authorization BIGINT NOT NULL DEFAULT 0;
