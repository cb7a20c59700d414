"""The synthetic marketplace's ordinary life, as DuckDB SQL (see synth.py for the shape).

Randomness is a hash of (seed, row, purpose), never `random()`: the same seed gives the
same rows whatever the number of threads. `u(k, a, b)` is uniform in (0, 1), `z(k, a, b)`
standard normal (Box-Muller), `tok(kind, key)` a blind-index-shaped token.

Noise the rules must see through: heavy-tailed merchant sizes (a few very busy shops),
night shops, big-ticket shops, phone shops pricing at 9,999 CNY, weekends, the National
Day week and an 11.11 peak, payers with two to four cards, refunds, platforms paying
their users, reward batches to many users, rent between users, claw-backs, daily and
weekly settlement sweeps.
"""

from __future__ import annotations

MACROS = """
CREATE OR REPLACE MACRO u(k, a, b) AS
    ((hash(k, a, b, {seed}) % 1000003) + 0.5) / 1000003.0;
CREATE OR REPLACE MACRO z(k, a, b) AS
    sqrt(-2 * ln(u(k || '1', a, b))) * cos(2 * pi() * u(k || '2', a, b));
CREATE OR REPLACE MACRO tok(kind, key) AS 'k1:' || md5(kind || ':{seed}:' || key);
CREATE OR REPLACE MACRO day_secs(k, a, b) AS
    30600 + (u(k || 'h1', a, b) + u(k || 'h2', a, b) + u(k || 'h3', a, b)) / 3 * 46800;
"""

MERCHANTS = """
CREATE OR REPLACE TEMP TABLE merchants AS
WITH base AS (
    SELECT i AS m, 'mch_' || lpad(i::VARCHAR, 6, '0') AS merchant_id,
           u('mk', i, 0) AS kind_u, u('mp', i, 0) AS pk, z('mw', i, 0) AS zw, z('mt', i, 0) AS zt
    FROM range({merchants}) t(i)
), typed AS (
    SELECT *,
        CASE WHEN kind_u < 0.80 THEN 'day' WHEN kind_u < 0.88 THEN 'night'
             WHEN kind_u < 0.96 THEN 'big' ELSE 'phone' END AS kind,
        pk < 0.10 AS platform, pk >= 0.10 AND pk < 0.11 AS rewards,
        u('ms', m, 0) < 0.3 AS sweeps_daily
    FROM base
)
SELECT *,
    exp(1.1 * zw) * CASE kind WHEN 'big' THEN 0.12 WHEN 'phone' THEN 0.3 ELSE 1 END AS weight,
    CASE kind WHEN 'day' THEN 6000 * exp(0.5 * zt) WHEN 'night' THEN 8000 * exp(0.4 * zt)
              WHEN 'big' THEN 300000 * exp(0.4 * zt) ELSE 20000 END AS median_minor,
    CASE kind WHEN 'big' THEN 0.5 WHEN 'phone' THEN 0.6 ELSE 0.8 END AS sigma
FROM typed;

CREATE OR REPLACE TEMP TABLE merchant_cdf AS
SELECT *, (sum(weight) OVER (ORDER BY m) - weight) / sum(weight) OVER () AS lo FROM merchants;

CREATE OR REPLACE TEMP TABLE days AS
WITH d AS (
    SELECT i AS day, DATE '{start}' + CAST(i AS INTEGER) AS date FROM range({days}) t(i)
)
SELECT *,
    (1 + 0.002 * day)
    * CASE WHEN dayofweek(date) IN (0, 6) THEN 1.3 ELSE 1 END
    * CASE WHEN month(date) = 11 AND day(date) = 11 THEN 3.0
           WHEN month(date) = 11 AND day(date) BETWEEN 8 AND 10 THEN 1.5
           WHEN month(date) = 10 AND day(date) <= 7 THEN 1.4 ELSE 1 END AS weight
FROM d;

CREATE OR REPLACE TEMP TABLE day_cdf AS
SELECT *, (sum(weight) OVER (ORDER BY day) - weight) / sum(weight) OVER () AS lo FROM days;

CREATE OR REPLACE TEMP TABLE users AS
SELECT row_number() OVER (ORDER BY m, uk) - 1 AS ui, m, merchant_id,
       merchant_id || ':u' || lpad(uk::VARCHAR, 2, '0') AS owner
FROM merchants, (SELECT unnest(range(20)) AS uk)
WHERE platform;
"""

PAYINS = """
CREATE OR REPLACE TEMP TABLE payin_rows AS
WITH o AS (
    SELECT i, u('om', i, 0) AS um, u('od', i, 0) AS ud FROM range({payins}) t(i)
), om AS (
    SELECT o.*, m.merchant_id, m.kind, m.median_minor, m.sigma
    FROM o ASOF JOIN merchant_cdf m ON o.um >= m.lo
), od AS (
    SELECT om.*, d.date FROM om ASOF JOIN day_cdf d ON om.ud >= d.lo
), p AS (
    SELECT *, CAST(floor({payers} * pow(u('op', i, 0), 1.6)) AS BIGINT) AS pn FROM od
)
SELECT 'pay_' || lpad(i::VARCHAR, 10, '0') AS id, merchant_id,
    CAST(CASE WHEN kind = 'phone' AND u('oa', i, 1) < 0.5 THEN 999900
         ELSE greatest(100, round(median_minor * exp(sigma * z('oa', i, 0)) / 10) * 10)
         END AS BIGINT) AS amount,
    'n' || pn AS payer_key,
    u('pi', pn, 0) < 0.85 AS has_id,
    u('ph', pn, 0) < 0.7 OR u('pi', pn, 0) >= 0.85 AS has_phone,
    'n' || pn || '-' || CAST(floor(u('oc', i, 0) * (1 + (u('pc', pn, 0) > 0.6)::INT
        + (u('pc', pn, 0) > 0.9)::INT + (u('pc4', pn, 0) < 0.02)::INT)) AS INT) AS card_key,
    CAST(date AS TIMESTAMP) + to_seconds(CAST(
        CASE WHEN u('on', i, 0) < 0.005 THEN u('os', i, 0) * 86400
             WHEN kind = 'night' THEN 68400 + (u('oh', i, 1) + u('oh', i, 2)) / 2 * 32400
             ELSE day_secs('o', i, 0) END AS BIGINT)) AS local_at,
    CASE WHEN u('of', i, 0) < 0.02 THEN 'failed' ELSE 'succeeded' END AS status
FROM p;
"""

OWNER_TRANSFERS = """
CREATE OR REPLACE TEMP TABLE platform_cdf AS
SELECT m, merchant_id, (sum(weight) OVER (ORDER BY m) - weight) / sum(weight) OVER () AS lo
FROM merchants WHERE platform;

CREATE OR REPLACE TEMP TABLE owner_rows AS
WITH o AS (
    SELECT i, u('wm', i, 0) AS um, u('wd', i, 0) AS ud, u('wk', i, 0) AS k
    FROM range({owner_transfers}) t(i)
), om AS (
    SELECT o.*, p.merchant_id FROM o ASOF JOIN platform_cdf p ON o.um >= p.lo
), od AS (
    SELECT om.*, d.date FROM om ASOF JOIN day_cdf d ON om.ud >= d.lo
), x AS (
    SELECT *, merchant_id || ':u' || lpad(CAST(floor(u('wu', i, 0) * 20) AS INT)::VARCHAR, 2, '0')
           AS user_a,
           merchant_id || ':u' || lpad(CAST((floor(u('wu', i, 0) * 20) + 1
               + floor(u('wv', i, 0) * 19)) % 20 AS INT)::VARCHAR, 2, '0') AS user_b
    FROM od
)
SELECT 'tr_w' || lpad(i::VARCHAR, 10, '0') AS id,
    CASE WHEN k < 0.85 THEN merchant_id ELSE user_a END AS src,
    CASE WHEN k < 0.85 THEN user_a WHEN k < 0.95 THEN user_b ELSE merchant_id END AS dst,
    CAST(greatest(100, round(CASE WHEN k < 0.85 THEN 15000 * exp(z('wa', i, 0))
         WHEN k < 0.95 THEN 250000 * exp(0.3 * z('wa', i, 0))
         ELSE 5000 * exp(0.8 * z('wa', i, 0)) END)) AS BIGINT) AS amount,
    CASE WHEN k < 0.85 THEN 30 WHEN k < 0.95 THEN 40 ELSE 33 END AS code,
    CAST(date AS TIMESTAMP) + to_seconds(CAST(day_secs('w', i, 0) AS BIGINT)) AS local_at
FROM x;

INSERT INTO owner_rows
SELECT 'tr_r' || m.m || '_' || d.day || '_' || r.k AS id, m.merchant_id,
    m.merchant_id || ':r' || lpad(r.k::VARCHAR, 2, '0'),
    CAST(greatest(100, round(2000 * exp(0.5 * z('ra', m.m * 1000 + d.day, r.k)))) AS BIGINT),
    20, CAST(d.date AS TIMESTAMP) + INTERVAL 11 HOUR + to_seconds(CAST(r.k * 7 AS BIGINT))
FROM merchants m JOIN days d ON d.day % 7 = m.m % 7, (SELECT unnest(range(40)) AS k) r
WHERE m.rewards;
"""

REFUNDS = """
CREATE OR REPLACE TEMP TABLE refund_rows AS
SELECT 'rf_' || substr(p.id, 5) AS id, p.id AS parent_id, p.merchant_id,
    CASE WHEN u('ra', hash(p.id), 0) < 0.7 THEN p.amount
         ELSE CAST(round(p.amount * u('rb', hash(p.id), 0)) AS BIGINT) + 1 END AS amount,
    CASE WHEN u('rc', hash(p.id), 0) < 0.005 THEN p.payer_key || '-re' ELSE p.card_key END
        AS card_key,
    p.local_at + to_seconds(CAST(3600 + u('rt', hash(p.id), 0) * 5 * 86400 AS BIGINT))
        AS local_at
FROM payin_rows p
WHERE p.status = 'succeeded' AND u('rf', hash(p.id), 0) < 0.012;
"""
