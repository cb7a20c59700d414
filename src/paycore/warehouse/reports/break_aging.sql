-- title.zh: 未解决差错账龄
-- title.en: Aging of open breaks
-- answers: Which reconciliation breaks were still open at the month's end, by source and
-- answers: age (days from the break's business day to the month's last day).
-- params: month_end, month_end_utc (the instant the month ends, 24:00 Asia/Shanghai, in UTC)
-- column: source string | statement source (channel or bank)
-- column: currency string | ISO 4217 (empty for a break with no amount)
-- column: bucket_no int32 | 1 youngest .. 5 oldest, for sorting
-- column: age_bucket string | 0-7, 8-30, 31-60, 61-90, 90+ days
-- column: breaks int64 | open breaks (count)
-- column: line_amount int64 | their statement lines' amounts, minor units
-- column: order_amount int64 | their orders' amounts, minor units
-- check: none: breaks are a workflow, not journal money
-- chart: bars x=age_bucket series=breaks
WITH open_at_end AS (
    SELECT source, COALESCE(currency, '') AS currency,
           unix_date(:month_end) - unix_date(business_date) AS age_days,
           COALESCE(line_amount, 0) AS line_amount, COALESCE(order_amount, 0) AS order_amount
    FROM recon_breaks
    WHERE business_date <= :month_end AND created_at < :month_end_utc
      -- Resolved after the month ended: still open at its end.
      AND (status <> 'resolved' OR updated_at >= :month_end_utc)
), bucketed AS (
    SELECT source, currency, line_amount, order_amount,
           CASE WHEN age_days <= 7 THEN 1 WHEN age_days <= 30 THEN 2
                WHEN age_days <= 60 THEN 3 WHEN age_days <= 90 THEN 4 ELSE 5 END AS bucket_no
    FROM open_at_end
)
SELECT source, currency, bucket_no,
       CASE bucket_no WHEN 1 THEN '0-7' WHEN 2 THEN '8-30' WHEN 3 THEN '31-60'
                      WHEN 4 THEN '61-90' ELSE '90+' END AS age_bucket,
       COUNT(*) AS breaks,
       CAST(SUM(line_amount) AS BIGINT) AS line_amount,
       CAST(SUM(order_amount) AS BIGINT) AS order_amount
FROM bucketed
GROUP BY source, currency, bucket_no
ORDER BY source, currency, bucket_no
