-- title.zh: 代付结果
-- title.en: Payout outcomes
-- answers: How the month's payouts ended, per channel and currency: succeeded, failed (and
-- answers: whose failure), returned by the beneficiary's bank, or still under way.
-- params: month_start, month_end
-- column: channel string | the channel (empty: none was chosen)
-- column: currency string | ISO 4217
-- column: status string | created, processing, succeeded, failed or returned
-- column: failure_class string | user, merchant, channel or system (empty: no failure)
-- column: payouts int64 | payouts (count)
-- column: amount int64 | their amounts, minor units
-- column: fees int64 | their fees, minor units
-- check: none: payouts are dated by creation, the journal by posting
SELECT COALESCE(channel, '') AS channel, currency, status,
       COALESCE(failure_class, '') AS failure_class,
       COUNT(*) AS payouts,
       CAST(SUM(amount) AS BIGINT) AS amount,
       CAST(SUM(fee_amount) AS BIGINT) AS fees
FROM payment_orders
WHERE kind = 'payout' AND dt BETWEEN :month_start AND :month_end
GROUP BY COALESCE(channel, ''), currency, status, COALESCE(failure_class, '')
ORDER BY channel, currency, status, failure_class
