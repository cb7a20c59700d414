-- Pass-through: money in and straight out to another wallet, little kept. An owner
-- whose inflow on a local day reaches `min_in_minor`, of which at least
-- `min_quick_share` (by amount) is followed by a transfer to another owner within
-- `max_delay_minutes`, and whose such transfers that day and the next leave at most
-- `max_kept_share` of the inflow. What leaves for the outside is not counted: a
-- merchant's settlement payout to its own bank account and refunds to payers are its
-- business, however fast they follow a sale; so is money a merchant passes to its own
-- users (split legs, rewards: owners `<merchant>:...`).
WITH ins AS (
    SELECT dst AS subject, id, amount, local_at FROM tr
    WHERE dst IS NOT NULL AND (src IS NULL OR src <> dst)
), outs AS (
    SELECT src AS subject, id, amount, local_at FROM tr
    WHERE src IS NOT NULL AND dst IS NOT NULL
      AND split_part(dst, ':', 1) <> split_part(src, ':', 1)
), active AS (
    SELECT DISTINCT subject FROM outs
), nxt AS (
    SELECT i.subject, i.id, i.amount, CAST(i.local_at AS DATE) AS day,
           o.local_at - i.local_at <= to_minutes(CAST($max_delay_minutes AS BIGINT)) AS quick
    FROM (SELECT * FROM ins SEMI JOIN active USING (subject)) i
    ASOF LEFT JOIN outs o ON i.subject = o.subject AND o.local_at >= i.local_at
), daily_in AS (
    SELECT subject, day, sum(amount) AS in_total,
           coalesce(sum(amount) FILTER (WHERE quick), 0) AS quick_total
    FROM nxt GROUP BY ALL
), daily_out AS (
    SELECT subject, CAST(local_at AS DATE) AS day, sum(amount) AS out_total
    FROM outs GROUP BY ALL
), hits AS (
    SELECT d.subject, d.day, d.in_total, d.quick_total,
           coalesce(o0.out_total, 0) + coalesce(o1.out_total, 0) AS out_total
    FROM daily_in d
    LEFT JOIN daily_out o0 ON o0.subject = d.subject AND o0.day = d.day
    LEFT JOIN daily_out o1 ON o1.subject = d.subject AND o1.day = d.day + 1
    WHERE d.in_total >= $min_in_minor
      AND d.quick_total >= $min_quick_share * d.in_total
      AND coalesce(o0.out_total, 0) + coalesce(o1.out_total, 0)
          >= (1 - $max_kept_share) * d.in_total
), behind AS (
    SELECT h.subject, t.id, t.amount FROM hits h
    JOIN ins t ON t.subject = h.subject AND CAST(t.local_at AS DATE) = h.day
    UNION ALL
    SELECT h.subject, t.id, t.amount FROM hits h
    JOIN outs t ON t.subject = h.subject AND CAST(t.local_at AS DATE) = h.day
)
SELECT CASE WHEN contains(b.subject, ':') THEN 'owner' ELSE 'merchant' END AS subject_type,
       b.subject AS subject_id,
       any_value(s.days) AS days, any_value(s.in_minor) AS in_minor,
       any_value(s.out_minor) AS out_minor,
       any_value(s.days) AS severity,
       list(b.id ORDER BY b.amount DESC, b.id)[1:$ids_max] AS transaction_ids,
       count(*) AS transaction_count
FROM behind b
JOIN (SELECT subject, count(*) AS days, sum(in_total) AS in_minor,
             sum(least(out_total, in_total)) AS out_minor
      FROM hits GROUP BY 1) s ON s.subject = b.subject
GROUP BY b.subject
