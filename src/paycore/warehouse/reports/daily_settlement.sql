-- title.zh: 商户日结算
-- title.en: Daily settlement per merchant
-- answers: What each merchant's pay-ins, fees and refunds came to on each business day,
-- answers: and what its wallet gained from them (per currency), from the posted journal.
-- params: month_start, month_end (the month's first and last business day, Asia/Shanghai)
-- column: dt date | business day (Asia/Shanghai)
-- column: merchant_id string | the merchant
-- column: currency string | ISO 4217
-- column: payins int64 | pay-ins captured (count)
-- column: pay_ins int64 | pay-ins captured, gross, minor units
-- column: fees int64 | paycore's fees on them, minor units
-- column: wallet_in int64 | what the pay-ins credited to the wallet (gross - fees), minor units
-- column: refunds int64 | refunds paid out of the wallet, minor units
-- column: net int64 | wallet_in - refunds, minor units
-- check: wallet_in = credit 2001 reason 1
-- check: fees = credit 4001 reason 2
-- check: refunds = debit 2001 reason 5
-- chart: bars x=dt series=pay_ins,refunds
WITH moves AS (
    SELECT t.dt, t.credit_owner_id AS merchant_id, t.currency,
           CAST(1 AS BIGINT) AS payin, t.amount AS wallet_in,
           CAST(0 AS BIGINT) AS fee, CAST(0 AS BIGINT) AS refund
    FROM ledger_transfers t
    WHERE t.status = 'posted' AND t.code = 1 AND t.credit_code = 2001
      AND t.dt BETWEEN :month_start AND :month_end
    UNION ALL
    -- The fee leg goes from clearing to fee revenue: its merchant is its order's.
    SELECT t.dt, o.merchant_id, t.currency,
           CAST(0 AS BIGINT), CAST(0 AS BIGINT), t.amount, CAST(0 AS BIGINT)
    FROM ledger_transfers t
    JOIN payment_orders o ON t.id = concat('tr_', o.id, '_fee')
    WHERE t.status = 'posted' AND t.code = 2 AND t.credit_code = 4001
      AND t.dt BETWEEN :month_start AND :month_end
    UNION ALL
    SELECT t.dt, t.debit_owner_id, t.currency,
           CAST(0 AS BIGINT), CAST(0 AS BIGINT), CAST(0 AS BIGINT), t.amount
    FROM ledger_transfers t
    WHERE t.status = 'posted' AND t.code = 5 AND t.debit_code = 2001
      AND t.dt BETWEEN :month_start AND :month_end
)
SELECT dt, merchant_id, currency,
       CAST(SUM(payin) AS BIGINT) AS payins,
       CAST(SUM(wallet_in) + SUM(fee) AS BIGINT) AS pay_ins,
       CAST(SUM(fee) AS BIGINT) AS fees,
       CAST(SUM(wallet_in) AS BIGINT) AS wallet_in,
       CAST(SUM(refund) AS BIGINT) AS refunds,
       CAST(SUM(wallet_in) - SUM(refund) AS BIGINT) AS net
FROM moves
GROUP BY dt, merchant_id, currency
ORDER BY dt, merchant_id NULLS LAST, currency
