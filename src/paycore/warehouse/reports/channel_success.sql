-- title.zh: 渠道成功率与时延
-- title.en: Channel success and latency
-- answers: Per channel and order kind, how many tries the channel got, how many succeeded,
-- answers: the success rate without failures the payer or merchant caused (effective), and
-- answers: how long a try took (nearest-rank percentiles: an actual try's latency).
-- params: month_start, month_end
-- column: channel string | the channel
-- column: kind string | payin, payout or refund
-- column: attempts int64 | tries (count)
-- column: successes int64 | tries that succeeded (count)
-- column: failures_user int64 | failures the payer caused (count)
-- column: failures_merchant int64 | failures the merchant caused (count)
-- column: failures_channel int64 | failures of the bank or network (count)
-- column: failures_system int64 | failures of paycore (count)
-- column: success_ppm int64 | successes / attempts, parts per million (rounded down)
-- column: effective_success_ppm int64 | successes / (attempts - user and merchant failures), ppm
-- column: latency_p50_ms int64 | median try latency, milliseconds
-- column: latency_p95_ms int64 | 95th percentile, milliseconds
-- column: latency_p99_ms int64 | 99th percentile, milliseconds
-- check: none: tries move no money
-- chart: bars x=channel series=success_ppm,effective_success_ppm
WITH a AS (
    SELECT channel, kind, status, failure_class, latency_ms
    FROM payment_attempts
    WHERE dt BETWEEN :month_start AND :month_end
), counts AS (
    SELECT channel, kind,
           COUNT(*) AS attempts,
           COUNT(CASE WHEN status = 'succeeded' THEN 1 END) AS successes,
           COUNT(CASE WHEN status = 'failed' AND failure_class = 'user' THEN 1 END)
               AS failures_user,
           COUNT(CASE WHEN status = 'failed' AND failure_class = 'merchant' THEN 1 END)
               AS failures_merchant,
           COUNT(CASE WHEN status = 'failed' AND failure_class = 'channel' THEN 1 END)
               AS failures_channel,
           COUNT(CASE WHEN status = 'failed' AND failure_class = 'system' THEN 1 END)
               AS failures_system
    FROM a
    GROUP BY channel, kind
), ranked AS (
    SELECT channel, kind, latency_ms,
           ROW_NUMBER() OVER (PARTITION BY channel, kind ORDER BY latency_ms) AS rn,
           COUNT(*) OVER (PARTITION BY channel, kind) AS n
    FROM a
    WHERE latency_ms IS NOT NULL
), pct AS (
    -- Nearest rank: the value at rank ceil(p * n / 100), in integers on both engines.
    SELECT channel, kind,
           MIN(CASE WHEN rn = div(50 * n + 99, 100) THEN latency_ms END) AS p50,
           MIN(CASE WHEN rn = div(95 * n + 99, 100) THEN latency_ms END) AS p95,
           MIN(CASE WHEN rn = div(99 * n + 99, 100) THEN latency_ms END) AS p99
    FROM ranked
    GROUP BY channel, kind
)
SELECT c.channel, c.kind, c.attempts, c.successes, c.failures_user, c.failures_merchant,
       c.failures_channel, c.failures_system,
       div(c.successes * 1000000, NULLIF(c.attempts, 0)) AS success_ppm,
       div(c.successes * 1000000,
           NULLIF(c.attempts - c.failures_user - c.failures_merchant, 0))
           AS effective_success_ppm,
       CAST(p.p50 AS BIGINT) AS latency_p50_ms,
       CAST(p.p95 AS BIGINT) AS latency_p95_ms,
       CAST(p.p99 AS BIGINT) AS latency_p99_ms
FROM counts c
LEFT JOIN pct p ON p.channel = c.channel AND p.kind = c.kind
ORDER BY c.channel, c.kind
