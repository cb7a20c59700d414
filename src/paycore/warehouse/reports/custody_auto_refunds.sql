-- title.zh: 存管自动退款
-- title.en: Custody auto-refunds
-- answers: Per bank and business day, what landed on custody sub-accounts, how much was
-- answers: matched to a deal, and how much the 24:00 cut-off sent back (or failed to).
-- params: month_start, month_end
-- column: dt date | business day of the receipt (Asia/Shanghai)
-- column: bank string | the custody bank
-- column: currency string | ISO 4217
-- column: receipts int64 | receipts (count)
-- column: received int64 | received, minor units
-- column: matched int64 | matched to a deal, minor units
-- column: refunded_count int64 | receipts refunded at the cut-off (count)
-- column: refunded int64 | refunded at the cut-off, minor units
-- column: refund_failed int64 | refunds that failed (money back in custody), minor units
-- column: still_open int64 | neither matched nor refunded yet, minor units
-- check: none: a receipt's refund is booked at the cut-off, often the next day's journal
-- chart: bars x=dt series=received,refunded
SELECT dt, bank, currency,
       COUNT(*) AS receipts,
       CAST(SUM(amount) AS BIGINT) AS received,
       CAST(SUM(CASE WHEN status = 'matched' THEN amount ELSE 0 END) AS BIGINT) AS matched,
       COUNT(CASE WHEN status = 'refunded' THEN 1 END) AS refunded_count,
       CAST(SUM(CASE WHEN status = 'refunded' THEN amount ELSE 0 END) AS BIGINT) AS refunded,
       CAST(SUM(CASE WHEN status = 'refund_failed' THEN amount ELSE 0 END) AS BIGINT)
           AS refund_failed,
       CAST(SUM(CASE WHEN status IN ('landing', 'unmatched', 'refunding') THEN amount ELSE 0 END)
           AS BIGINT) AS still_open
FROM custody_receipts
WHERE dt BETWEEN :month_start AND :month_end
GROUP BY dt, bank, currency
ORDER BY dt, bank, currency
