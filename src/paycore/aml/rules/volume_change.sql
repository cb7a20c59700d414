-- Sudden change of volume against the merchant's own history. A week whose pay-in volume
-- is at least `min_ratio` times the merchant's median week of the previous eight (with
-- `min_history_weeks` of history), and up by `min_increase_minor`; both measured after
-- the whole marketplace's change that week, so a season (11.11) lifting every shop is
-- not a change of this one. The number of orders must jump too (`min_orders_ratio`,
-- `min_orders_increase`): a few large tickets are not a change of business (structuring
-- and fan-in look at those).
WITH weekly AS (
    SELECT merchant_id, date_trunc('week', local_at) AS wk, sum(amount) AS vol,
           count(*) AS orders
    FROM payins GROUP BY ALL
), weeks AS (
    SELECT DISTINCT wk FROM weekly
), firsts AS (
    SELECT merchant_id, min(wk) AS first_wk FROM weekly GROUP BY 1
), grid AS (
    SELECT f.merchant_id, w.wk, coalesce(v.vol, 0) AS vol, coalesce(v.orders, 0) AS orders
    FROM firsts f JOIN weeks w ON w.wk >= f.first_wk
    LEFT JOIN weekly v ON v.merchant_id = f.merchant_id AND v.wk = w.wk
), market AS (
    SELECT wk, vol / nullif(median(vol) OVER (
               ORDER BY wk ROWS BETWEEN 8 PRECEDING AND 1 PRECEDING), 0) AS lift
    FROM (SELECT wk, sum(vol) AS vol FROM grid GROUP BY 1)
), history AS (
    SELECT merchant_id, wk, vol, orders,
           median(vol) OVER w AS baseline, median(orders) OVER w AS baseline_orders,
           count(*) OVER w AS weeks_before
    FROM grid
    WINDOW w AS (PARTITION BY merchant_id ORDER BY wk ROWS BETWEEN 8 PRECEDING AND 1 PRECEDING)
), hits AS (
    SELECT h.*, greatest(coalesce(m.lift, 1), 1) AS lift
    FROM history h JOIN market m USING (wk)
    WHERE h.weeks_before >= $min_history_weeks
      AND h.vol >= $min_ratio * greatest(coalesce(m.lift, 1), 1) * h.baseline
      AND h.vol - greatest(coalesce(m.lift, 1), 1) * h.baseline >= $min_increase_minor
      AND h.orders >= $min_orders_ratio * greatest(coalesce(m.lift, 1), 1) * h.baseline_orders
      AND h.orders - greatest(coalesce(m.lift, 1), 1) * h.baseline_orders
          >= $min_orders_increase
)
SELECT 'merchant' AS subject_type, h.merchant_id AS subject_id,
       count(DISTINCT h.wk) AS weeks, max(h.vol) AS week_minor,
       any_value(h.baseline) AS baseline_minor,
       max(h.vol / greatest(h.lift * h.baseline, 1)) / $min_ratio AS severity,
       list(p.id ORDER BY p.amount DESC, p.id)[1:$ids_max] AS transaction_ids,
       count(*) AS transaction_count
FROM hits h
JOIN payins p ON p.merchant_id = h.merchant_id AND date_trunc('week', p.local_at) = h.wk
GROUP BY h.merchant_id
