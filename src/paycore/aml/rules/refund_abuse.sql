-- Refund abuse: pay with one instrument, get the refund paid to another. A payer with
-- `min_refunds_elsewhere` refunds whose card or account differs from the pay-in's
-- (laundering through refunds). One refund to a reissued card stays below the bar.
SELECT 'payer' AS subject_type, payer AS subject_id,
       count(*) AS refunds_elsewhere, count(DISTINCT merchant_id) AS merchants,
       sum(amount) AS total_minor,
       count(*) / $min_refunds_elsewhere AS severity,
       list(id ORDER BY amount DESC, id)[1:$ids_max] AS transaction_ids,
       count(*) AS transaction_count
FROM refunds
WHERE payer IS NOT NULL AND refunded_to IS NOT NULL
  AND refunded_to IS DISTINCT FROM paid_from
GROUP BY payer HAVING count(*) >= $min_refunds_elsewhere
