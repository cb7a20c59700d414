-- Many cards for one payer: a payer (ID-number token, else phone token) who starts using
-- `min_cards` different cards within `window_days` (card testing, rented or stolen
-- cards). People hold two or three cards; a new one now and then is normal.
WITH firsts AS (
    SELECT payer, card, min(local_at) AS first_at, arg_min(id, local_at) AS first_id
    FROM payins WHERE payer IS NOT NULL AND card IS NOT NULL GROUP BY ALL
), counted AS (
    SELECT *, count(*) OVER (
        PARTITION BY payer ORDER BY first_at
        RANGE BETWEEN to_days(CAST($window_days AS INTEGER)) PRECEDING AND CURRENT ROW
    ) AS in_window
    FROM firsts
)
SELECT 'payer' AS subject_type, payer AS subject_id,
       count(*) AS cards, max(in_window) AS max_new_in_window,
       max(in_window) / $min_cards AS severity,
       list(first_id ORDER BY first_at, first_id)[1:$ids_max] AS transaction_ids,
       count(*) AS transaction_count
FROM counted
GROUP BY payer HAVING max(in_window) >= $min_cards
