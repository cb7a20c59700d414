-- Fan-out: one owner pays many others. A wallet owner or merchant that on one local day
-- sends ledger transfers to `min_payees` distinct owners summing to `min_total_minor`
-- (distribution of collected funds to mules). A merchant paying its own users (split
-- legs, top-ups, rewards: owners `<merchant>:...`) is running its business and is not
-- counted; platforms paying other users small rewards reach many payees but not the sum.
WITH edges AS (
    SELECT * FROM tr
    WHERE src IS NOT NULL AND dst IS NOT NULL
      AND split_part(dst, ':', 1) <> split_part(src, ':', 1)
), daily AS (
    SELECT src, CAST(local_at AS DATE) AS day, count(DISTINCT dst) AS payees,
           sum(amount) AS total
    FROM edges GROUP BY ALL
), hits AS (
    SELECT * FROM daily WHERE payees >= $min_payees AND total >= $min_total_minor
)
SELECT CASE WHEN contains(h.src, ':') THEN 'owner' ELSE 'merchant' END AS subject_type,
       h.src AS subject_id, count(DISTINCT h.day) AS days, max(h.payees) AS max_payees,
       sum(e.amount) AS total_minor,
       max(h.payees) / $min_payees AS severity,
       list(e.id ORDER BY e.amount DESC, e.id)[1:$ids_max] AS transaction_ids,
       count(*) AS transaction_count
FROM hits h
JOIN edges e ON e.src = h.src AND CAST(e.local_at AS DATE) = h.day
GROUP BY h.src
