-- title.zh: 商户月度汇总
-- title.en: Monthly merchant summary
-- answers: Per merchant and currency, the month's orders (dated by creation) and how they
-- answers: ended: pay-ins and their fees, refunds, payouts, and what is left in between.
-- params: month_start, month_end
-- column: merchant_id string | the merchant
-- column: currency string | ISO 4217
-- column: payins int64 | pay-ins that succeeded (count)
-- column: payins_failed int64 | pay-ins that failed or closed unpaid (count)
-- column: payin_success_ppm int64 | succeeded / finished pay-ins, parts per million
-- column: pay_ins int64 | succeeded pay-ins, gross, minor units
-- column: fees int64 | their fees, minor units
-- column: refunds int64 | refunds that succeeded, minor units
-- column: payouts int64 | payouts that succeeded and were not returned, minor units
-- column: net int64 | pay_ins - fees - refunds - payouts, minor units
-- check: none: orders are dated by creation, the journal by posting
WITH o AS (
    SELECT merchant_id, currency, kind, status, amount, fee_amount
    FROM payment_orders
    WHERE dt BETWEEN :month_start AND :month_end
), sums AS (
    SELECT merchant_id, currency,
           COUNT(CASE WHEN kind = 'payin' AND status = 'succeeded' THEN 1 END) AS payins,
           COUNT(CASE WHEN kind = 'payin' AND status IN ('failed', 'closed') THEN 1 END)
               AS payins_failed,
           CAST(SUM(CASE WHEN kind = 'payin' AND status = 'succeeded' THEN amount ELSE 0 END)
               AS BIGINT) AS pay_ins,
           CAST(SUM(CASE WHEN kind = 'payin' AND status = 'succeeded' THEN fee_amount ELSE 0 END)
               AS BIGINT) AS fees,
           CAST(SUM(CASE WHEN kind = 'refund' AND status = 'succeeded' THEN amount ELSE 0 END)
               AS BIGINT) AS refunds,
           CAST(SUM(CASE WHEN kind = 'payout' AND status = 'succeeded' THEN amount ELSE 0 END)
               AS BIGINT) AS payouts
    FROM o
    GROUP BY merchant_id, currency
)
SELECT merchant_id, currency, payins, payins_failed,
       div(payins * 1000000, NULLIF(payins + payins_failed, 0)) AS payin_success_ppm,
       pay_ins, fees, refunds, payouts,
       pay_ins - fees - refunds - payouts AS net
FROM sums
ORDER BY merchant_id, currency
