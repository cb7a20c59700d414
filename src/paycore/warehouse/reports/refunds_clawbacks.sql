-- title.zh: 退款与分账回退
-- title.en: Refunds and claw-backs
-- answers: What refunds cost each merchant per day, and how much of it split receivers gave
-- answers: back (claw-backs) or got back again when a refund failed (claws undone).
-- params: month_start, month_end
-- column: dt date | business day (Asia/Shanghai)
-- column: merchant_id string | the merchant
-- column: currency string | ISO 4217
-- column: refund_count int64 | refunds paid (count)
-- column: refunds int64 | refunds paid out of the wallet, minor units
-- column: clawed_back int64 | split shares taken back into the wallet, minor units
-- column: claws_undone int64 | claw-backs given back to receivers, minor units
-- column: merchant_cost int64 | refunds - clawed_back + claws_undone, minor units
-- check: refunds = debit 2001 reason 5
-- check: clawed_back = credit 2001 reason 33
-- check: claws_undone = debit 2001 reason 34
WITH moves AS (
    SELECT dt, debit_owner_id AS merchant_id, currency, CAST(1 AS BIGINT) AS refund_count,
           amount AS refund, CAST(0 AS BIGINT) AS claw, CAST(0 AS BIGINT) AS undo
    FROM ledger_transfers
    WHERE status = 'posted' AND code = 5 AND debit_code = 2001
      AND dt BETWEEN :month_start AND :month_end
    UNION ALL
    SELECT dt, credit_owner_id, currency, CAST(0 AS BIGINT), CAST(0 AS BIGINT), amount,
           CAST(0 AS BIGINT)
    FROM ledger_transfers
    WHERE status = 'posted' AND code = 33 AND credit_code = 2001
      AND dt BETWEEN :month_start AND :month_end
    UNION ALL
    SELECT dt, debit_owner_id, currency, CAST(0 AS BIGINT), CAST(0 AS BIGINT),
           CAST(0 AS BIGINT), amount
    FROM ledger_transfers
    WHERE status = 'posted' AND code = 34 AND debit_code = 2001
      AND dt BETWEEN :month_start AND :month_end
)
SELECT dt, merchant_id, currency,
       CAST(SUM(refund_count) AS BIGINT) AS refund_count,
       CAST(SUM(refund) AS BIGINT) AS refunds,
       CAST(SUM(claw) AS BIGINT) AS clawed_back,
       CAST(SUM(undo) AS BIGINT) AS claws_undone,
       CAST(SUM(refund) - SUM(claw) + SUM(undo) AS BIGINT) AS merchant_cost
FROM moves
GROUP BY dt, merchant_id, currency
ORDER BY dt, merchant_id NULLS LAST, currency
