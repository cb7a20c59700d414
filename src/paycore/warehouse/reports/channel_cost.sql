-- title.zh: 渠道成本
-- title.en: Channel cost
-- answers: What each channel or bank charged per currency in the month, from its own
-- answers: statements: fees on lines plus separate fee lines, against the volume moved.
-- params: month_start, month_end
-- column: source string | statement source (channel or bank)
-- column: currency string | ISO 4217
-- column: lines int64 | statement lines moving money for orders, duplicates left out (count)
-- column: volume int64 | their amounts, minor units
-- column: line_fees int64 | fees charged on those lines, minor units
-- column: fee_lines int64 | separate fee lines' amounts, minor units
-- column: cost int64 | line_fees + fee_lines, minor units
-- column: cost_ppm int64 | cost / volume, parts per million (rounded down)
-- check: none: statement fees are booked by reconciliation, not per line
WITH l AS (
    SELECT source, currency, kind, amount, COALESCE(fee, 0) AS fee
    FROM recon_lines
    WHERE dt BETWEEN :month_start AND :month_end AND duplicate = false
), sums AS (
    SELECT source, currency,
           COUNT(CASE WHEN kind IS NULL OR kind <> 'fee' THEN 1 END) AS lines,
           CAST(SUM(CASE WHEN kind IS NULL OR kind <> 'fee' THEN amount ELSE 0 END) AS BIGINT)
               AS volume,
           CAST(SUM(CASE WHEN kind IS NULL OR kind <> 'fee' THEN fee ELSE 0 END) AS BIGINT)
               AS line_fees,
           CAST(SUM(CASE WHEN kind = 'fee' THEN amount + fee ELSE 0 END) AS BIGINT) AS fee_lines
    FROM l
    GROUP BY source, currency
)
SELECT source, currency, lines, volume, line_fees, fee_lines,
       line_fees + fee_lines AS cost,
       div((line_fees + fee_lines) * 1000000, NULLIF(volume, 0)) AS cost_ppm
FROM sums
ORDER BY source, currency
