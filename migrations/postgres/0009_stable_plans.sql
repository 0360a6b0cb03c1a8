-- A prepared statement keeps one generic plan for its connection's life, and that plan may be
-- built while the tables are still empty, when any index whose first column matches looks as
-- cheap as any other. Every lookup on transactions therefore gets exactly one index led by its
-- own key: no cached plan can reach a row through an index led by merchant_id alone and read
-- all of the merchant's rows as the table grows.
ALTER TABLE transactions DROP CONSTRAINT transactions_merchant_id_billwerk_id_key;
ALTER TABLE transactions ADD CONSTRAINT transactions_billwerk_id_merchant_id_key
    UNIQUE (billwerk_id, merchant_id);
DROP INDEX transactions_psp_tx;
CREATE INDEX transactions_psp_tx ON transactions (psp_tx_id);
DROP INDEX transactions_parent;
CREATE INDEX transactions_parent ON transactions (parent_id);
-- The latest preauth of an agreement (registration notifications).
CREATE INDEX transactions_agreement ON transactions (agreement_id, created_at);
