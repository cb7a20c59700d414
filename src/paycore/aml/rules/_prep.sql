-- The tables every rule reads, prepared once per scoring run.
-- Local time is Asia/Shanghai: UTC+8 with no daylight saving since 1991, so a fixed
-- offset gives the same answer as the zone on every date the warehouse can hold.
CREATE OR REPLACE TEMP TABLE tr AS
SELECT id, debit_owner_id AS src, credit_owner_id AS dst, amount, code,
       CAST(created_at AS TIMESTAMP) + INTERVAL 8 HOUR AS local_at
FROM ledger_transfers
WHERE status = 'posted' AND amount > 0;

CREATE OR REPLACE TEMP TABLE payins AS
SELECT id, merchant_id, amount,
       coalesce(party_id_token, party_phone_token) AS payer,
       party_card_token AS card,
       CAST(created_at AS TIMESTAMP) + INTERVAL 8 HOUR AS local_at
FROM payment_orders
WHERE kind = 'payin' AND status = 'succeeded';

CREATE OR REPLACE TEMP TABLE refunds AS
SELECT r.id, r.merchant_id, r.amount, p.id AS payin_id,
       coalesce(p.party_id_token, p.party_phone_token) AS payer,
       coalesce(r.party_card_token, r.party_account_token) AS refunded_to,
       coalesce(p.party_card_token, p.party_account_token) AS paid_from
FROM payment_orders r JOIN payment_orders p ON p.id = r.parent_id
WHERE r.kind = 'refund' AND r.status = 'succeeded';
