"""Large exports as background jobs: queued by a request (202), run by exactly one
worker however many poll, with progress, and fetched through a signed link that expires
(410), from the merchant's own bill only."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from paycore.bills import export_jobs as jobs_module
from paycore.bills.export_jobs import EXPORT_LEASE_S, EXPORT_LINK_TTL_S, ExportJobs, LeaseLost
from paycore.bills.queries import COLUMNS, BillQueries, What, filters_of
from tests.bills.conftest import Shop, new_shop
from tests.bills.exports_kit import bill_client, export_jobs, read_xlsx
from tests.bills.test_exports import as_text, parse_csv


@pytest.fixture
def jobs(billed_merchant: Shop, tmp_path: Path) -> ExportJobs:
    return export_jobs(billed_merchant.runtime, tmp_path)


@pytest.fixture
def http(billed_merchant: Shop, jobs: ExportJobs):
    with bill_client(billed_merchant.runtime, jobs, billed_merchant.key) as client:
        yield client


def _submit(http: TestClient, shop: Shop, body: dict, key: str | None = None) -> dict:
    headers = {"Idempotency-Key": key} if key else {}
    answer = http.post(f"/v1/bills/{shop.merchant_id}/exports", json=body, headers=headers)
    assert answer.status_code == 202, answer.text
    return answer.json()


def test_an_export_job_runs_and_its_link_downloads_the_file(
    billed_merchant: Shop, jobs: ExportJobs, http: TestClient
) -> None:
    m = billed_merchant.merchant_id
    queued = _submit(http, billed_merchant, {"what": "orders", "filters": {"month": "2026-11"}})
    before = http.get(f"/v1/bills/{m}/exports/{queued['id']}").json()
    ran = jobs.run_next()
    done = http.get(f"/v1/bills/{m}/exports/{queued['id']}").json()
    fetched = http.get(done["download_url"], headers={"Authorization": ""})

    expected = list(BillQueries(billed_merchant.runtime.bills).rows(
        What.ORDERS, m, filters_of({"month": "2026-11"})))  # fmt: skip
    assert (queued["status"], before["status"], before["download_url"]) == (
        "queued", "queued", None)  # fmt: skip
    assert ran == queued["id"]
    assert done["status"] == "succeeded"
    assert done["rows_total"] == done["rows_done"] == len(expected)
    assert fetched.status_code == 200
    assert parse_csv(fetched.content)[1:] == [as_text(r, COLUMNS[What.ORDERS]) for r in expected]
    assert jobs.run_next() is None


def test_an_xlsx_job_of_statement_lines(
    billed_merchant: Shop, jobs: ExportJobs, http: TestClient
) -> None:
    body = {"what": "lines", "format": "xlsx", "filters": {"month": "2026-11"}}
    queued = _submit(http, billed_merchant, body)
    jobs.run_next()
    done = http.get(f"/v1/bills/{billed_merchant.merchant_id}/exports/{queued['id']}").json()
    fetched = http.get(done["download_url"])

    sheet = read_xlsx(fetched.content)["lines"]
    assert sheet[0] == list(COLUMNS[What.LINES])
    assert len(sheet) - 1 == done["rows_total"] > 0


def test_two_workers_polling_together_run_each_job_exactly_once(
    billed_merchant: Shop, jobs: ExportJobs, http: TestClient, tmp_path: Path
) -> None:
    queued = [_submit(http, billed_merchant, {"what": w})["id"]
              for w in ("orders", "transfers", "orders", "transfers")]  # fmt: skip
    other = export_jobs(billed_merchant.runtime, tmp_path)  # a second process's worker
    ran: list[str] = []
    lock, start = threading.Lock(), threading.Barrier(2)

    def work(worker: ExportJobs) -> None:
        start.wait()
        while (job := worker.run_next()) is not None:
            with lock:
                ran.append(job)

    threads = [threading.Thread(target=work, args=(w,)) for w in (jobs, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Counter(ran) == Counter(queued)
    for job_id in queued:
        view = jobs.get(None, job_id)
        assert view["status"] == "succeeded"
    files = sorted(p.name for p in (tmp_path / "exports").iterdir())
    assert len(files) == len(queued) and not [f for f in files if f.endswith(".part")]


def test_a_worker_that_lost_its_lease_cannot_finish_the_job_another_took_over(
    billed_merchant: Shop, jobs: ExportJobs, http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued = _submit(http, billed_merchant, {"what": "transfers"})
    stalled: list[tuple[object, str]] = []
    real_run = ExportJobs._run
    monkeypatch.setattr(ExportJobs, "_run", lambda self, row, lease: stalled.append((row, lease)))
    jobs.run_next()  # worker A claims the job, then stalls past its lease
    monkeypatch.setattr(ExportJobs, "_run", real_run)
    billed_merchant.clock.advance(EXPORT_LEASE_S + 1)

    taken_over = jobs.run_next()  # worker B takes the job over and finishes it
    [(row, lease_a)] = stalled
    with pytest.raises(LeaseLost):
        jobs._renew(queued["id"], lease_a, 10)
    real_run(jobs, row, lease_a)  # A wakes up and tries to write and finish it anyway

    view = jobs.get(None, queued["id"])
    assert taken_over == queued["id"]
    assert (view["status"], view["error"]) == ("succeeded", None)
    assert len(list(jobs.directory.iterdir())) == 1
    assert http.get(view["download_url"]).status_code == 200


def test_a_job_that_crashes_on_every_attempt_ends_failed(
    billed_merchant: Shop, jobs: ExportJobs, http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued = _submit(http, billed_merchant, {"what": "orders"})

    def broken(*_args: object, **_kwargs: object) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(jobs_module, "write_file", broken)
    monkeypatch.setattr(jobs_module, "write_sealed_file", broken)  # kept encrypted
    attempts = [jobs.run_next() for _ in range(jobs_module.EXPORT_ATTEMPTS_MAX + 1)]

    view = jobs.get(None, queued["id"])
    assert attempts == [queued["id"]] * jobs_module.EXPORT_ATTEMPTS_MAX + [None]
    assert (view["status"], view["error"]) == ("failed", "internal_error")
    assert not list(jobs.directory.iterdir())


def test_a_link_past_its_time_is_410_and_a_forged_one_404(
    billed_merchant: Shop, jobs: ExportJobs, http: TestClient
) -> None:
    queued = _submit(http, billed_merchant, {"what": "orders"})
    jobs.run_next()
    url = http.get(f"/v1/bills/{billed_merchant.merchant_id}/exports/{queued['id']}").json()[
        "download_url"
    ]
    job_id, stamp, signature = url.rsplit("/", 1)[1].split(".")
    later = str(int(stamp) + 3600)
    forged = [
        f"/v1/bills/exports/download/{job_id}.{later}.{signature}",
        f"/v1/bills/exports/download/{job_id}.{stamp}.{'0' * 64}",
        f"/v1/bills/exports/download/{job_id}.\u0661\u0662.{signature}",
        "/v1/bills/exports/download/nothing",
    ]
    answers = [http.get(u) for u in forged]
    billed_merchant.clock.advance(EXPORT_LINK_TTL_S + 1)
    expired = http.get(url)
    fresh = http.get(f"/v1/bills/{billed_merchant.merchant_id}/exports/{queued['id']}").json()

    for answer in answers:
        assert (answer.status_code, answer.json()["code"]) == (404, "export_not_found")
    assert (expired.status_code, expired.json()["code"]) == (410, "export_link_expired")
    assert expired.headers["content-type"] == "application/problem+json"
    assert http.get(fresh["download_url"]).status_code == 200  # reading the job again


def test_an_export_past_its_retention_is_removed_and_its_link_is_410(
    billed_merchant: Shop, jobs: ExportJobs, http: TestClient
) -> None:
    queued = _submit(http, billed_merchant, {"what": "orders"})
    jobs.run_next()
    billed_merchant.clock.advance(jobs_module.EXPORT_RETENTION_S - 60)
    url = jobs.get(None, queued["id"])["download_url"]  # valid for its last minute
    billed_merchant.clock.advance(61)

    assert jobs.sweep() == 1
    assert jobs.get(None, queued["id"])["status"] == "expired"
    assert not list(jobs.directory.iterdir())
    answer = http.get(url)
    assert answer.status_code == 410  # the link's own minute ran out with the file


def test_the_same_idempotency_key_is_the_same_job_and_another_request_under_it_409(
    billed_merchant: Shop, http: TestClient
) -> None:
    first = _submit(http, billed_merchant, {"what": "orders"}, key="exp-1")
    again = _submit(http, billed_merchant, {"what": "orders"}, key="exp-1")
    other = http.post(
        f"/v1/bills/{billed_merchant.merchant_id}/exports",
        json={"what": "transfers"},
        headers={"Idempotency-Key": "exp-1"},
    )

    assert first["id"] == again["id"]
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")


def test_a_merchant_has_a_bounded_number_of_exports_in_flight(
    billed_merchant: Shop, http: TestClient
) -> None:
    for _ in range(jobs_module.EXPORT_ACTIVE_MAX):
        _submit(http, billed_merchant, {"what": "orders"})
    answer = http.post(f"/v1/bills/{billed_merchant.merchant_id}/exports", json={"what": "orders"})

    assert (answer.status_code, answer.json()["code"]) == (429, "too_many_exports")
    assert int(answer.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"what": "receipts"}, "invalid_value"),
        ({"what": "orders", "format": "pdf"}, "invalid_value"),
        ({"what": "lines"}, "period_required"),
        ({"what": "orders", "filters": {"month": "2026-13"}}, "invalid_month"),
        ({"what": "orders", "filters": {"colour": "red"}}, "unknown_field"),
        ({"what": "orders", "extra": 1}, "unknown_field"),
    ],
)
def test_an_export_request_that_cannot_run_is_refused_before_it_is_queued(
    billed_merchant: Shop, http: TestClient, body: dict, code: str
) -> None:
    answer = http.post(f"/v1/bills/{billed_merchant.merchant_id}/exports", json=body)
    assert (answer.status_code, answer.json()["code"]) == (422, code)


def test_no_merchant_sees_another_merchants_export(
    billed_merchant: Shop, jobs: ExportJobs, http: TestClient
) -> None:
    queued = _submit(http, billed_merchant, {"what": "orders"})
    rt = billed_merchant.runtime
    other = new_shop(rt, billed_merchant.clock, billed_merchant.alpha, "Other")
    with bill_client(rt, jobs, other.key) as theirs:
        by_path = theirs.get(f"/v1/bills/{billed_merchant.merchant_id}/exports/{queued['id']}")
        by_own = theirs.get(f"/v1/bills/{other.merchant_id}/exports/{queued['id']}")

    assert (by_path.status_code, by_path.json()["code"]) == (404, "merchant_not_found")
    assert (by_own.status_code, by_own.json()["code"]) == (404, "export_not_found")
