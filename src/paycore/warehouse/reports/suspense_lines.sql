-- title.zh: 未匹配对账单行（挂账）
-- title.en: Suspense: unmatched statement lines
-- answers: Statement lines no order explains, per business day, source, currency and
-- answers: direction: the money held in reconciliation suspense until someone matches it.
-- params: month_start, month_end
-- column: dt date | statement business day (Asia/Shanghai)
-- column: source string | statement source (channel or bank)
-- column: currency string | ISO 4217
-- column: direction string | credit (into our account) or debit (empty: not stated)
-- column: lines int64 | unmatched lines (count)
-- column: amount int64 | their amounts, minor units
-- check: none: a line is parked in suspense by a break's workflow, not on import
SELECT dt, source, currency, COALESCE(direction, '') AS direction,
       COUNT(*) AS lines,
       CAST(SUM(amount) AS BIGINT) AS amount
FROM recon_lines
WHERE dt BETWEEN :month_start AND :month_end
  AND order_id IS NULL AND duplicate = false AND (kind IS NULL OR kind <> 'fee')
GROUP BY dt, source, currency, COALESCE(direction, '')
ORDER BY dt, source, currency, direction
