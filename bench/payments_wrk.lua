-- wrk script of bench/payments.py: POST /v1/payins, every request with its own
-- Idempotency-Key. Arguments after `--`: api_key product run_id card_number.
-- `done` prints one line "WRK_JSON {...}" with counts and latency percentiles (µs).

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  api_key, product, run_id, card_number = args[1], args[2], args[3], args[4]
  counter = 0
  math.randomseed(thread_id + 1)
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"product":"%s","amount":%d,"currency":"CNY","payer":{"card_number":"%s"}}',
    product, math.random(100, 100000), card_number)
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. api_key,
    ["Idempotency-Key"] = string.format("%s-%d-%d", run_id, thread_id, counter),
  }
  return wrk.format("POST", "/v1/payins", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
