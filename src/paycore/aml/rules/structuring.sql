-- Structuring: amounts kept just under reporting thresholds. A payer with `min_count`
-- pay-ins within `window_days`, each in [threshold * (1 - margin), threshold) of one of
-- `thresholds_minor`. A catalogue price is not a chosen amount: a payment of exactly an
-- amount that `list_price_min_payers` different payers paid the same merchant (a phone
-- at 9,999 CNY) does not count, even for a reseller buying five of them.
WITH limits AS (
    SELECT unnest($thresholds_minor) AS threshold
), close AS (
    SELECT p.id, p.payer, p.merchant_id, p.amount, p.local_at, l.threshold
    FROM payins p JOIN limits l
      ON p.amount >= l.threshold * (1 - $margin) AND p.amount < l.threshold
    WHERE p.payer IS NOT NULL
), prices AS (
    SELECT merchant_id, amount FROM close GROUP BY ALL
    HAVING count(DISTINCT payer) >= $list_price_min_payers
), near AS (
    SELECT * FROM close ANTI JOIN prices USING (merchant_id, amount)
), counted AS (
    SELECT *, count(*) OVER (
        PARTITION BY payer ORDER BY local_at
        RANGE BETWEEN to_days(CAST($window_days AS INTEGER)) PRECEDING AND CURRENT ROW
    ) AS in_window
    FROM near
)
SELECT 'payer' AS subject_type, payer AS subject_id,
       max(in_window) AS max_in_window, sum(amount) AS total_minor,
       max(threshold) AS threshold_minor,
       max(in_window) / $min_count AS severity,
       list(id ORDER BY local_at, id)[1:$ids_max] AS transaction_ids,
       count(*) AS transaction_count
FROM counted
GROUP BY payer HAVING max(in_window) >= $min_count
