"""The planted typologies, as DuckDB SQL over the tables synth_normal.py made.

Subjects are chosen by a hashed ranking, each typology from its own slice, so no subject
carries two. Each plant is shaped after its typology, not after its rule's thresholds
alone: a fan-in front runs for months (so its volume never "changes"), cycle hops are
hours apart (so a cycle is not a pass-through), structuring goes to big-ticket shops.
Look-alikes that must *not* be flagged are planted beside them: loans repaid after a
month (a two-owner cycle too slow to be a round trip), chains that never close.
"""

from __future__ import annotations

SUBJECTS = """
CREATE OR REPLACE TEMP TABLE shop_rank AS
SELECT merchant_id, m, median_minor, sigma,
       row_number() OVER (ORDER BY u('rank', m, 0)) - 1 AS r
FROM merchants WHERE kind = 'day' AND NOT platform AND NOT rewards;

CREATE OR REPLACE TEMP TABLE user_rank AS
SELECT owner, ui, row_number() OVER (ORDER BY u('urank', ui, 0)) - 1 AS r FROM users;

CREATE OR REPLACE TEMP TABLE big_shops AS
SELECT merchant_id, (sum(weight) OVER (ORDER BY m) - weight) / sum(weight) OVER () AS lo
FROM merchants WHERE kind = 'big';

CREATE OR REPLACE TEMP TABLE labels (subject_type VARCHAR, subject_id VARCHAR, typology VARCHAR);
INSERT INTO labels SELECT 'merchant', merchant_id, 'fan_in' FROM shop_rank WHERE r < {n};
INSERT INTO labels SELECT 'merchant', merchant_id, 'odd_hours' FROM shop_rank
    WHERE r >= {n} AND r < 2 * {n};
INSERT INTO labels SELECT 'merchant', merchant_id, 'volume_change' FROM shop_rank
    WHERE r >= 2 * {n} AND r < 3 * {n};
INSERT INTO labels SELECT 'owner', owner, 'fan_out' FROM user_rank WHERE r < {n};
INSERT INTO labels SELECT 'owner', owner, 'pass_through' FROM user_rank
    WHERE r >= {n} AND r < 2 * {n};
"""

MERCHANT_PLANTS = """
-- Fan-in: from the first week to the end, on most days, 26-35 payers who
-- pay once each 1,000-5,000 CNY.
INSERT INTO payin_rows
WITH act AS (
    SELECT s.merchant_id, s.m, d.day, d.date FROM shop_rank s, days d
    WHERE s.r < {n} AND d.day >= floor(u('fis', s.m, 0) * 7) AND u('fid', s.m, d.day) < 0.6
), ev AS (
    SELECT *, unnest(range(26 + CAST(floor(u('fic', m, day) * 10) AS INT))) AS k FROM act
)
SELECT 'pay_fi' || m || '_' || day || '_' || k, merchant_id,
    CAST(round(100000 + u('fia', m * 1000 + day, k) * 400000, -2) AS BIGINT),
    'fi' || m || '_' || day || '_' || k, true, true, 'fi' || m || '_' || day || '_' || k || '-0',
    CAST(date AS TIMESTAMP) + to_seconds(CAST(day_secs('fi', m * 1000 + day, k) AS BIGINT)),
    'succeeded'
FROM ev;

-- Odd hours: a daytime shop with 6-12 pay-ins of 3,000-8,000 CNY between 00:00 and 05:00.
INSERT INTO payin_rows
WITH ev AS (
    SELECT merchant_id, m, unnest(range(6 + CAST(floor(u('ohc', m, 0) * 7) AS INT))) AS k
    FROM shop_rank WHERE r >= {n} AND r < 2 * {n}
)
SELECT 'pay_oh' || m || '_' || k, merchant_id,
    CAST(round(300000 + u('oha', m, k) * 500000, -2) AS BIGINT),
    'oh' || m || '_' || k, true, true, 'oh' || m || '_' || k || '-0',
    CAST(DATE '{start}' + CAST(floor(u('ohd', m, k) * {days}) AS INTEGER) AS TIMESTAMP)
        + to_seconds(CAST(u('ohs', m, k) * 18000 AS BIGINT)),
    'succeeded'
FROM ev;

-- Sudden change: one week after the sixth, ordinary tickets worth eight weeks' sales
-- (and at least 150,000 CNY) on top of the usual.
INSERT INTO payin_rows
WITH shop AS (
    SELECT s.*, 42 + floor(u('vcw', s.m, 0) * ({days} - 56)) AS w0,
        CAST(ceil(greatest(15000000, 8 * 7 * {payins} / {days}
            * (SELECT weight FROM merchant_cdf c WHERE c.m = s.m)
            / (SELECT sum(weight) FROM merchants) * s.median_minor * 1.3) / s.median_minor)
            AS INT) AS extra
    FROM shop_rank s WHERE r >= 2 * {n} AND r < 3 * {n}
), ev AS (SELECT *, unnest(range(extra)) AS k FROM shop)
SELECT 'pay_vc' || m || '_' || k, merchant_id,
    CAST(greatest(100, round(median_minor * exp(sigma * z('vca', m, k)) / 10) * 10) AS BIGINT),
    'n' || CAST(floor({payers} * u('vcp', m, k)) AS BIGINT), true, true,
    'n' || CAST(floor({payers} * u('vcp', m, k)) AS BIGINT) || '-0',
    CAST(DATE '{start}' + CAST(w0 + floor(u('vcd', m, k) * 7) AS INTEGER) AS TIMESTAMP)
        + to_seconds(CAST(day_secs('vc', m, k) AS BIGINT)),
    'succeeded'
FROM ev;
"""

PAYER_PLANTS = """
-- Structuring: 4-7 payments just under 10,000 or 50,000 CNY to big-ticket shops (busy
-- ones more often, as sales are) in ten days.
INSERT INTO payin_rows
WITH ev AS (
    SELECT i, unnest(range(4 + CAST(floor(u('stc', i, 0) * 4) AS INT))) AS k,
        CASE WHEN u('stt', i, 0) < 0.5 THEN 1000000 ELSE 5000000 END AS threshold
    FROM range({n}) t(i)
)
SELECT 'pay_st' || i || '_' || k, b.merchant_id,
    CAST(floor(threshold * (0.91 + u('sta', i, k) * 0.085) / 100) * 100 AS BIGINT),
    'st' || i, true, true, 'st' || i || '-0',
    CAST(DATE '{start}' + CAST(floor(u('std', i, 0) * ({days} - 12) + u('stk', i, k) * 10)
        AS INTEGER) AS TIMESTAMP) + to_seconds(CAST(day_secs('st', i, k) AS BIGINT)),
    'succeeded'
FROM ev ASOF JOIN big_shops b ON u('stm', ev.i, ev.k) >= b.lo;
INSERT INTO labels SELECT 'payer', tok('id', 'st' || i), 'structuring' FROM range({n}) t(i);

-- Many cards: 6-10 cards first used within 2-20 days, one or two small payments each.
INSERT INTO payin_rows
WITH ev AS (
    SELECT i, unnest(range(6 + CAST(floor(u('mcc', i, 0) * 5) AS INT))) AS c FROM range({n}) t(i)
), pay AS (SELECT *, unnest(range(1 + (u('mcn', i, c) < 0.5)::INT)) AS k FROM ev)
SELECT 'pay_mc' || i || '_' || c || '_' || k, c2.merchant_id,
    CAST(greatest(100, round(5000 * exp(0.8 * z('mca', i * 100 + c, k)))) AS BIGINT),
    'mc' || i, true, true, 'mc' || i || '-' || c,
    CAST(DATE '{start}' + CAST(floor(u('mcd', i, 0) * ({days} - 25)
        + u('mcs', i, c) * (2 + u('mcw', i, 0) * 18) + k) AS INTEGER) AS TIMESTAMP)
        + to_seconds(CAST(day_secs('mc', i * 100 + c, k) AS BIGINT)),
    'succeeded'
FROM pay ASOF JOIN merchant_cdf c2 ON u('mcm', pay.i * 100 + pay.c, pay.k) >= c2.lo;
INSERT INTO labels SELECT 'payer', tok('id', 'mc' || i), 'many_cards' FROM range({n}) t(i);

-- Refund abuse: 3-5 payments, each refunded days later to a card never paid with.
INSERT INTO payin_rows
WITH ev AS (
    SELECT i, unnest(range(3 + CAST(floor(u('rac', i, 0) * 3) AS INT))) AS k FROM range({n}) t(i)
)
SELECT 'pay_ra' || i || '_' || k, c2.merchant_id,
    CAST(round(20000 + u('raa', i, k) * 280000, -2) AS BIGINT),
    'ra' || i, true, true, 'ra' || i || '-0',
    CAST(DATE '{start}' + CAST(floor(u('rad', i, k) * ({days} - 7)) AS INTEGER) AS TIMESTAMP)
        + to_seconds(CAST(day_secs('ra', i, k) AS BIGINT)),
    'succeeded'
FROM ev ASOF JOIN merchant_cdf c2 ON u('ram', ev.i, ev.k) >= c2.lo;
INSERT INTO refund_rows
SELECT 'rf_' || substr(id, 5), id, merchant_id, amount, payer_key || '-x' || substr(id, 5),
    local_at + to_seconds(CAST(86400 + u('rar', hash(id), 0) * 4 * 86400 AS BIGINT))
FROM payin_rows WHERE id LIKE 'pay_ra%';
INSERT INTO labels SELECT 'payer', tok('id', 'ra' || i), 'refund_abuse' FROM range({n}) t(i);
"""

OWNER_PLANTS = """
-- Fan-out: a big top-up from the owner's merchant, days later 15-29 transfers of
-- 1,500-4,000 CNY to as many other users on one day.
CREATE OR REPLACE TEMP TABLE fan_out_ev AS
SELECT r.owner, r.ui, 10 + floor(u('fod', r.ui, 0) * ({days} - 15)) AS day,
    unnest(range(15 + CAST(floor(u('foc', r.ui, 0) * 15) AS INT))) AS k
FROM user_rank r WHERE r.r < {n};
INSERT INTO owner_rows
SELECT 'tr_fo' || e.ui || '_' || e.k, e.owner, x.owner,
    CAST(round(150000 + u('foa', e.ui, e.k) * 250000, -2) AS BIGINT), 40,
    CAST(DATE '{start}' + CAST(e.day AS INTEGER) AS TIMESTAMP)
        + to_seconds(CAST(day_secs('fo', e.ui, e.k) AS BIGINT))
FROM fan_out_ev e JOIN users x
  ON x.ui = CAST(floor(u('fou', e.ui, e.k) * (SELECT count(*) FROM users)) AS BIGINT);
INSERT INTO owner_rows
SELECT 'tr_fot' || ui, split_part(owner, ':', 1), owner, 4 * 400000, 20,
    CAST(DATE '{start}' + CAST(day - 3 AS INTEGER) AS TIMESTAMP) + INTERVAL 10 HOUR
FROM fan_out_ev WHERE k = 0;

-- Pass-through: on 3-5 days 15,000-60,000 CNY comes from a shop and 92-99 % of it leaves
-- for another platform's user 10-60 minutes later.
CREATE OR REPLACE TEMP TABLE pass_ev AS
SELECT r.owner, r.ui, unnest(range(3 + CAST(floor(u('ptc', r.ui, 0) * 3) AS INT))) AS k
FROM user_rank r WHERE r.r >= {n} AND r.r < 2 * {n};
INSERT INTO owner_rows
SELECT 'tr_pti' || e.ui || '_' || e.k, s.merchant_id, e.owner,
    CAST(round(1500000 + u('pta', e.ui, e.k) * 4500000, -2) AS BIGINT), 40,
    CAST(DATE '{start}' + CAST(floor(u('ptd', e.ui, e.k) * {days}) AS INTEGER) AS TIMESTAMP)
        + to_seconds(CAST(day_secs('pt', e.ui, e.k) AS BIGINT))
FROM pass_ev e JOIN shop_rank s
  ON s.r = 3 * {n} + CAST(floor(u('pts', e.ui, e.k) * 100) AS BIGINT);
INSERT INTO owner_rows
SELECT 'tr_pto' || e.ui || '_' || e.k, e.owner, x.owner,
    CAST(round(i.amount * (0.92 + u('ptk', e.ui, e.k) * 0.07)) AS BIGINT), 40,
    i.local_at + to_seconds(CAST(600 + u('ptw', e.ui, e.k) * 3000 AS BIGINT))
FROM pass_ev e JOIN owner_rows i ON i.id = 'tr_pti' || e.ui || '_' || e.k
JOIN users x ON x.ui = (e.ui + 20 + CAST(floor(u('ptu', e.ui, e.k) * 1000) AS BIGINT))
    % (SELECT count(*) FROM users);

-- Cycles of 2, 3 and 4 users: 20,000-80,000 CNY goes round, each hop 6-18 hours after
-- the last and passing on 97-100 % of it. Then look-alikes: loans repaid a month later
-- and chains that never close, among the next users.
CREATE OR REPLACE TEMP TABLE cycle_members AS
WITH g AS (SELECT i AS g, 2 + i % 3 AS len, 2 * {n} + 4 * i AS first FROM range({n}) t(i))
SELECT g.g, g.len, j, r.owner FROM g, (SELECT unnest(range(4)) AS j) jj
JOIN user_rank r ON r.r = g.first + jj.j WHERE jj.j < g.len;
INSERT INTO labels SELECT 'owner', owner, 'cycle' FROM cycle_members;
INSERT INTO owner_rows
SELECT 'tr_cy' || a.g || '_' || a.j, a.owner, b.owner,
    CAST(round((2000000 + u('cya', a.g, 0) * 6000000) * pow(0.985, a.j)) AS BIGINT), 40,
    CAST(DATE '{start}' + CAST(5 + floor(u('cyd', a.g, 0) * ({days} - 15)) AS INTEGER)
        AS TIMESTAMP) + to_seconds(CAST(day_secs('cy', a.g, 0) AS BIGINT))
        + to_seconds(CAST(a.j * 43200 + u('cyh', a.g, a.j) * 21600 AS BIGINT))
FROM cycle_members a JOIN cycle_members b ON b.g = a.g AND b.j = (a.j + 1) % a.len;
INSERT INTO owner_rows
WITH pair AS (
    SELECT i, (SELECT owner FROM user_rank WHERE r = 6 * {n} + 2 * i) AS a,
           (SELECT owner FROM user_rank WHERE r = 6 * {n} + 2 * i + 1) AS b,
           CAST(round(2000000 + u('lna', i, 0) * 3000000, -2) AS BIGINT) AS amount,
           CAST(DATE '{start}' + CAST(floor(u('lnd', i, 0) * ({days} - 70)) AS INTEGER)
               AS TIMESTAMP) + INTERVAL 14 HOUR AS lent_at
    FROM range({n}) t(i)
)
SELECT 'tr_ln' || i || '_0', a, b, amount, 40, lent_at FROM pair
UNION ALL SELECT 'tr_ln' || i || '_1', b, a, amount, 40,
    lent_at + to_days(CAST(30 + floor(u('lnr', i, 0) * 30) AS INTEGER)) FROM pair
UNION ALL SELECT 'tr_ln' || i || '_2', b, (SELECT owner FROM user_rank WHERE r = 8 * {n} + i),
    amount, 40, lent_at + INTERVAL 20 HOUR FROM pair;
"""
