-- Fan-in: many payers to one receiver. A merchant that, on at least `min_days` local
-- days, takes pay-ins from `min_payers` distinct payers summing to `min_total_minor`
-- with a median ticket of at least `min_median_minor` (collection fronts: many people
-- each sending a large sum once). Busy shops have many payers but small tickets; a
-- big-ticket shop's one-day sales peak (11.11) is a single day, not a pattern.
WITH daily AS (
    SELECT merchant_id, CAST(local_at AS DATE) AS day, count(DISTINCT payer) AS payers,
           sum(amount) AS total, median(amount) AS median_amount
    FROM payins GROUP BY ALL
), hits AS (
    SELECT * FROM daily
    WHERE payers >= $min_payers AND total >= $min_total_minor
      AND median_amount >= $min_median_minor
), subjects AS (
    SELECT merchant_id, count(*) AS days, max(payers) AS max_payers, sum(total) AS total_minor
    FROM hits GROUP BY 1 HAVING count(*) >= $min_days
)
SELECT 'merchant' AS subject_type, s.merchant_id AS subject_id,
       any_value(s.days) AS days, any_value(s.max_payers) AS max_payers,
       any_value(s.total_minor) AS total_minor,
       any_value(s.days) / $min_days AS severity,
       list(p.id ORDER BY p.amount DESC, p.id)[1:$ids_max] AS transaction_ids,
       count(*) AS transaction_count
FROM subjects s
JOIN hits h ON h.merchant_id = s.merchant_id
JOIN payins p ON p.merchant_id = h.merchant_id AND CAST(p.local_at AS DATE) = h.day
GROUP BY s.merchant_id
