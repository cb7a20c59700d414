# Two commands for a fresh machine: `make run` and `make test`.
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: install run test lint bench bench-payments bench-payin-subjects bench-rewards bench-recon bench-bills bench-dr bench-finance bench-sli bench-warehouse bench-aml profile coverage mutation clean

$(STAMP): pyproject.toml
	# The bill page is rendered in headless Chromium in tests; its Chinese needs a CJK font.
	command -v chromium >/dev/null && fc-list :lang=zh | grep -q . || \
		apt-get install -y -q chromium fonts-wqy-microhei >/dev/null
	# The exported alert rules are checked by promtool (Debian's prometheus package).
	command -v promtool >/dev/null || apt-get install -y -q prometheus >/dev/null
	# Key-encryption keys live on a PKCS#11 token; tests make one with SoftHSM2.
	test -e /usr/lib/softhsm/libsofthsm2.so || apt-get install -y -q softhsm2 >/dev/null
	# The warehouse reports are also run on Spark (pyspark, local mode), which needs Java.
	command -v java >/dev/null || apt-get install -y -q openjdk-17-jre-headless >/dev/null
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install  ## migrate the embedded SQLite database under ./var/ and serve http://127.0.0.1:8000
	$(BIN)/paycore db upgrade
	$(BIN)/paycore serve --host 127.0.0.1 --port 8000

lint: install
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy
	$(BIN)/mypy --strict tools
	$(BIN)/lint-imports

test: lint  ## the whole suite, on SQLite unless PAYCORE_DATABASE_URL names PostgreSQL
	$(BIN)/pytest -q

coverage: install  ## line and branch coverage of src/ by the suite
	$(BIN)/coverage run -m pytest -q
	$(BIN)/coverage report --sort=cover

mutation: install  ## mutmut on every money-rule module, a table of scores; one module: MODULES=split/model
	$(BIN)/python tools/mutation.py $(MODULES) --json var/mutation/scores.json

bench: install  ## wrk drives the HTTP scenario when present (Debian package `wrk`)
	command -v wrk >/dev/null || apt-get install -y -q wrk >/dev/null 2>&1 || true
	$(BIN)/python bench/ledger.py
	$(MAKE) --no-print-directory bench-payments
	$(MAKE) --no-print-directory bench-rewards
	$(MAKE) --no-print-directory bench-recon

bench-payments: install  ## pay-ins end to end over HTTP against two sandbox banks, and failover
	command -v wrk >/dev/null || apt-get install -y -q wrk >/dev/null 2>&1 || true
	$(BIN)/python bench/payments.py

bench-warehouse: install  ## export 10,000,000 journal entries to Parquet (scratch PostgreSQL DB): time, CPU per row, peak memory
	$(BIN)/python bench/warehouse_export.py

bench-aml: install  ## generate a 10,000,000-transfer marketplace with planted typologies and score it (DuckDB)
	$(BIN)/python bench/aml_scoring.py --transfers 10000000

bench-payin-subjects: install  ## CPU per in-process pay-in: a new payer, the same payer again, a forgotten one (SQLite)
	$(BIN)/python bench/payin_subjects.py

profile: install  ## where a pay-in's CPU goes, per process and library (py-spy; PostgreSQL at PG_URL)
	command -v wrk >/dev/null || apt-get install -y -q wrk >/dev/null 2>&1 || true
	$(BIN)/python bench/payments.py --backends postgres --pg-workers 1 --seconds 10 --scenarios profile \
		$(if $(PG_URL),--pg-url $(PG_URL))

bench-rewards: install  ## a 10,000-row reward batch and its re-runs on SQLite and PostgreSQL
	$(BIN)/python bench/rewards.py

bench-bills: install  ## bills: a merchant's year (1M entries SQLite, 10M PostgreSQL): statement, page, CSV export, proof, storm
	$(BIN)/python bench/bills.py

bench-dr: install  ## disaster recovery: 1,000,000 transfers backed up, restored and checked (PostgreSQL private cluster, SQLite)
	$(BIN)/python bench/dr.py

bench-finance: install  ## finance: a business day of 1,000,000 journal entries (PostgreSQL; 200,000 SQLite): derive, replay, push 2,000 vouchers to the sandbox receiver, reconcile
	$(BIN)/python bench/finance.py

bench-sli: install  ## what the SLI middleware costs a request (CPU per request with and without it, same run)
	$(BIN)/python bench/sli.py

bench-recon: install  ## reconciliation: 1,000,000 statement lines against 1,000,000 orders
	$(BIN)/python bench/recon.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
