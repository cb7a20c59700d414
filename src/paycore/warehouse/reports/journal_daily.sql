-- title.zh: 日记账汇总（按科目）
-- title.en: Journal totals per day and account code
-- answers: How much was posted to the debit and to the credit side of each account code
-- answers: on each business day, per currency: the trial balance's daily movements.
-- params: month_start, month_end
-- column: dt date | business day (Asia/Shanghai)
-- column: account_code int32 | chart of accounts code (paycore/chart.py)
-- column: currency string | ISO 4217
-- column: entries int64 | posted journal entries (count)
-- column: debits int64 | posted to the debit side, minor units
-- column: credits int64 | posted to the credit side, minor units
-- check: debits = debit * reason *
-- check: credits = credit * reason *
SELECT dt, account_code, currency,
       COUNT(*) AS entries,
       CAST(SUM(CASE WHEN side = 'debit' THEN amount ELSE 0 END) AS BIGINT) AS debits,
       CAST(SUM(CASE WHEN side = 'credit' THEN amount ELSE 0 END) AS BIGINT) AS credits
FROM ledger_entries
WHERE event = 'posted' AND dt BETWEEN :month_start AND :month_end
GROUP BY dt, account_code, currency
ORDER BY dt, account_code, currency
