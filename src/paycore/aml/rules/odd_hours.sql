-- Odd hours: a daytime business taking large pay-ins at night. A merchant with
-- `min_count` pay-ins in [night_start_hour, night_end_hour) local time, each at least
-- `min_ticket_ratio` times its median daytime ticket, summing to `min_total_minor`, while its
-- other pay-ins fall at night at most `max_usual_night_share` of the time (it is not a
-- night business). Night shops trade at night every day and are excluded by their own
-- profile; a day shop's stray small order after midnight is not large.
WITH marked AS (
    SELECT p.*, hour(p.local_at) >= $night_start_hour
                AND hour(p.local_at) < $night_end_hour AS at_night,
    FROM payins p
), usual AS (
    -- The merchant's usual ticket is that of its daytime trade (all of it when it has none).
    SELECT merchant_id,
           coalesce(median(amount) FILTER (WHERE NOT at_night), median(amount)) AS median_amount
    FROM marked GROUP BY 1
), odd AS (
    SELECT m.*, m.at_night AND m.amount >= $min_ticket_ratio * u.median_amount AS is_odd
    FROM marked m JOIN usual u USING (merchant_id)
), profile AS (
    SELECT merchant_id,
           count(*) FILTER (WHERE NOT is_odd) AS usual_orders,
           count(*) FILTER (WHERE at_night AND NOT is_odd) AS usual_night_orders
    FROM odd GROUP BY 1
)
SELECT 'merchant' AS subject_type, o.merchant_id AS subject_id,
       count(*) AS night_orders, sum(o.amount) AS total_minor,
       sum(o.amount) / $min_total_minor AS severity,
       list(o.id ORDER BY o.amount DESC, o.id)[1:$ids_max] AS transaction_ids,
       count(*) AS transaction_count
FROM odd o JOIN profile f USING (merchant_id)
WHERE o.is_odd AND f.usual_night_orders <= $max_usual_night_share * f.usual_orders
GROUP BY o.merchant_id
HAVING count(*) >= $min_count AND sum(o.amount) >= $min_total_minor
