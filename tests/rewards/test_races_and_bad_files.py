"""What a review found: a CSV cell the csv module refuses, and runs of one batch racing."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from paycore.rewards.model import RowStatus
from paycore.runtime import Runtime
from tests.conftest import postgres_only
from tests.rewards.conftest import Shop, csv_of
from tests.rewards.test_http_and_cli import ready_tenant


def test_a_csv_cell_too_long_for_the_csv_reader_is_an_invalid_file_and_nothing_is_stored(
    client: TestClient, runtime: Runtime
) -> None:
    shop = ready_tenant(runtime, client)
    body = "recipient,amount,note\nu1,100," + "x" * 200_000 + "\n"

    refused = client.post(
        "/v1/reward-batches?budget=spring&batch=b1",
        content=body,
        headers={**shop.auth, "Content-Type": "text/csv"},
    )
    missing = client.get("/v1/reward-batches/b1", headers=shop.auth)

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "invalid_file"
    assert missing.status_code == 404
    assert client.get("/v1/reward-budgets/spring", headers=shop.auth).json()["spent"] == 0


@postgres_only
def test_runs_of_one_batch_racing_pay_every_row_exactly_once(shop: Shop) -> None:
    recipients = [f"r{i}" for i in range(40)]
    shop.open(*recipients)
    shop.budget(funded=40 * 25 * 100)
    text = csv_of([(r, "100") for r in recipients for _ in range(25)])  # 1,000 rows, 2 chunks
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            shop.pay_csv(text)
        except BaseException as error:  # reported below, with the thread's error
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary = shop.rewards.summary(shop.merchant_id, "b1")

    assert errors == []
    assert summary.counts[RowStatus.PAID] == 1_000 and summary.paid_amount == 100_000
    assert shop.rewards.get_budget(shop.merchant_id, "spring").spent == 100_000
    assert [shop.wallet(r) for r in recipients] == [2_500] * 40
    assert shop.runtime.ledger.check().ok
