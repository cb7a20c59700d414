-- title.zh: 代扣（租金）成功率
-- title.en: Collection (rent) success per period
-- answers: Per merchant, currency and rent period (its due date), of the plan periods tried
-- answers: in the month, how many were collected, how many at the first try, in how many tries.
-- params: month_start, month_end
-- column: merchant_id string | the landlord's merchant
-- column: currency string | ISO 4217
-- column: due_date date | the period's due date (empty: the plan has none)
-- column: periods int64 | plan periods tried in the month (count)
-- column: collected int64 | periods collected (count)
-- column: first_try int64 | periods collected at the first try (count)
-- column: attempts int64 | tries (count)
-- column: collected_amount int64 | collected, minor units
-- column: success_ppm int64 | collected / periods, parts per million (rounded down)
-- column: first_try_ppm int64 | first_try / periods, parts per million (rounded down)
-- check: none: a collection's money is booked when the landlord is paid, not per try
WITH per_period AS (
    SELECT merchant_id, currency, plan_id, period_no, MAX(due_date) AS due_date,
           COUNT(*) AS attempts,
           MAX(CASE WHEN status IN ('succeeded', 'captured') THEN 1 ELSE 0 END) AS collected,
           MAX(CASE WHEN status IN ('succeeded', 'captured') AND attempt_no = 1 THEN 1 ELSE 0 END)
               AS first_try,
           MAX(CASE WHEN status IN ('succeeded', 'captured') THEN amount ELSE 0 END)
               AS collected_amount
    FROM collection_attempts
    WHERE dt BETWEEN :month_start AND :month_end
    GROUP BY merchant_id, currency, plan_id, period_no
), sums AS (
    SELECT merchant_id, currency, due_date,
           COUNT(*) AS periods,
           CAST(SUM(collected) AS BIGINT) AS collected,
           CAST(SUM(first_try) AS BIGINT) AS first_try,
           CAST(SUM(attempts) AS BIGINT) AS attempts,
           CAST(SUM(collected_amount) AS BIGINT) AS collected_amount
    FROM per_period
    GROUP BY merchant_id, currency, due_date
)
SELECT merchant_id, currency, due_date, periods, collected, first_try, attempts, collected_amount,
       div(collected * 1000000, NULLIF(periods, 0)) AS success_ppm,
       div(first_try * 1000000, NULLIF(periods, 0)) AS first_try_ppm
FROM sums
ORDER BY merchant_id, currency, due_date NULLS LAST
