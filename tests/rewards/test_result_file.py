"""The result file of a reward batch gives each row's outcome, joined to the merchant's own
file by `row`, and never echoes the merchant's note about a recipient (C2)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from paycore.cli import app
from paycore.rewards import results
from paycore.rewards.files import RESULT_COLUMNS
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from tests.rewards.conftest import Shop
from tests.rewards.test_http_and_cli import ready_tenant

NOTE = "for Zhang Wei who referred three friends"
BATCH = f"row,recipient,amount,note\n7,u1,100,{NOTE}\n9,u2,abc,{NOTE} again\n8,ghost,5,\n"


def result_rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), list(reader)


def test_the_result_file_has_no_note_column_and_joins_the_input_by_row(shop: Shop) -> None:
    shop.budget(funded=10_000)
    shop.open("u1", "u2")
    shop.pay_csv(BATCH)

    text = "".join(shop.rewards.result_csv(shop.merchant_id, "b1"))

    header, rows = result_rows(text)
    expected = ["row", "recipient", "amount", "status", "reason", "transfer_id"]
    assert header == list(RESULT_COLUMNS) == expected
    assert "Zhang Wei" not in text
    assert [(r["row"], r["recipient"], r["status"], r["reason"]) for r in rows] == [
        ("7", "u1", "paid", ""),
        ("9", "u2", "invalid", "bad_amount"),
        ("8", "ghost", "invalid", "unknown_recipient"),
    ]
    # The notes are still kept (sealed) and shown where they were: the rows' answer.
    notes = [r.note for r in shop.rewards.rows(shop.merchant_id, "b1")]
    assert notes == [NOTE, f"{NOTE} again", ""]


def test_the_result_file_opens_no_note_on_its_way_out(
    shop: Shop, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.budget(funded=10_000)
    shop.open("u1", "u2")
    shop.pay_csv(BATCH)
    opened: list[str] = []
    real = FieldCipher.decrypt

    def counting(self: FieldCipher, token: str, *, context: str) -> str:
        opened.append(context)
        return real(self, token, context=context)

    monkeypatch.setattr(FieldCipher, "decrypt", counting)
    monkeypatch.setattr(results, "ROWS_PAGE_MAX", 2)  # more than one page

    text = "".join(shop.rewards.result_csv(shop.merchant_id, "b1"))

    assert [r["row"] for r in result_rows(text)[1]] == ["7", "9", "8"]
    assert not [c for c in opened if c.startswith("rewards-note:")]


def test_the_http_result_file_has_no_note(client: TestClient, runtime: Runtime) -> None:
    shop = ready_tenant(runtime, client)
    paid = client.post(
        "/v1/reward-batches?budget=spring&batch=b1",
        content=BATCH,
        headers={**shop.auth, "Content-Type": "text/csv"},
    )

    result = client.get("/v1/reward-batches/b1/result.csv", headers=shop.auth)

    assert paid.status_code == 201, paid.text
    assert result.status_code == 200
    assert result_rows(result.text)[0] == list(RESULT_COLUMNS)
    assert "Zhang Wei" not in result.text


def test_the_cli_result_file_has_no_note(shop: Shop, database_url: str, tmp_path: Path) -> None:
    shop.budget(funded=10_000)
    shop.open("u1", "u2")
    batch_file = tmp_path / "batch.csv"
    batch_file.write_text(BATCH)
    result_file = tmp_path / "result.csv"
    env = {"PAYCORE_DATABASE_URL": database_url, "PAYCORE_DATA_DIR": str(tmp_path)}

    paid = CliRunner().invoke(
        app,
        ["rewards", "pay", str(batch_file), "--budget", "spring", "--batch", "c1",
         "--result", str(result_file), "--merchant", shop.merchant_id],
        env=env,
    )  # fmt: skip

    assert paid.exit_code == 0, paid.output
    text = result_file.read_text()
    assert result_rows(text)[0] == list(RESULT_COLUMNS)
    assert "Zhang Wei" not in text and "Zhang Wei" not in paid.output
