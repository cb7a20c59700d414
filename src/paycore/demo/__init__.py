"""`paycore demo`: a sandbox bank and a day of mixed traffic, summarised in under a minute.

| module | owns |
|---|---|
| `run.py` | `run_demo(DemoOptions(...))`: the whole demo, returns a `DemoReport` |
| `stage.py` | the bank (started if none answers; its failure mix), the callbacks, merchants, keys |
| `customers.py` | the made-up world: merchants, products, amounts, payers, Luhn-valid cards |
| `traffic.py` | pay-ins, refunds and payouts from a thread pool; the janitor until all resolve |
| `report.py` | the summary tables |
| `cli.py` | the `paycore demo` command |
"""
