# ruff: noqa: F811  (fixtures are imported, then requested by name)
"""POST /v1/pii/subjects/export|erase, the CLI's subject-export|subject-erase, and a
statement payer whom paycore still owes money."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from paycore.recon.model import Counterparty
from paycore.runtime import Runtime
from paycore.security import cli_subjects
from paycore.security.api_subjects import router as subjects_router
from paycore.security.cli_subjects import subjects_app
from paycore.security.subjects import ERASED_MARK, Subjects
from paycore.web.app import create_app
from tests.custody.conftest import SHANGHAI, START, Desk, alpha, clock, desk, runtime  # noqa: F401
from tests.security.conftest_keys import (  # noqa: F401
    file_provider_fixture,
    key_tables_fixture,
)
from tests.security.conftest_subjects import (  # noqa: F401
    PAYER_A,
    PAYER_B,
    REASON,
    bound_field_cipher_fixture,
    pay,
    subjects_fixture,
)
from tests.security.statement_kit import land_statement_money

STATEMENT_PAYER = Counterparty(
    account_number="".join(("6217", "0000", "5555", "0123", "456")), name="Wang Fang"
)


@contextmanager
def _client(
    runtime: Runtime, subjects: Subjects, scopes: list[str], merchant_id: str | None = None
) -> Iterator[TestClient]:
    _key, clear = runtime.api_keys.issue(merchant_id=merchant_id, scopes=scopes)
    app = create_app(runtime=runtime)
    if not any(getattr(r, "path", "") == "/v1/pii/subjects/export" for r in app.routes):
        app.include_router(subjects_router)  # until web/app.py mounts it
    with TestClient(app, headers={"Authorization": f"Bearer {clear}"}) as client:
        app.state.subjects = subjects  # after start-up
        yield client


def test_a_merchant_key_exports_only_its_own_orders_of_the_payer(
    desk: Desk, subjects: Subjects
) -> None:
    other, _secret = desk.runtime.merchants.create(name="Other", fee_bps=0)
    mine = pay(desk, PAYER_A)
    pay(desk, PAYER_A, merchant_id=other.id)
    with _client(desk.runtime, subjects, ["pii:reveal"], desk.merchant_id) as client:
        answer = client.post(
            "/v1/pii/subjects/export", json={"card_number": PAYER_A.card, "reason": REASON}
        )
        nothing = client.post(
            "/v1/pii/subjects/export", json={"card_number": PAYER_B.card, "reason": REASON}
        )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert [o["id"] for o in answer.json()["payment_orders"]] == [mine]
    assert nothing.status_code == 404
    assert nothing.json()["code"] == "subject_not_found"


def test_erasure_over_http_needs_admin_and_leaves_the_order_readable_as_erased(
    desk: Desk, subjects: Subjects
) -> None:
    order_id = pay(desk, PAYER_A)
    body = {"id_number": PAYER_A.id_number, "reason": REASON}
    with _client(desk.runtime, subjects, ["pii:reveal"]) as client:
        refused = client.post("/v1/pii/subjects/erase", json=body)
    with _client(desk.runtime, subjects, ["admin", "pii:reveal"]) as client:
        erased = client.post("/v1/pii/subjects/erase", json=body)
        again = client.post("/v1/pii/subjects/erase", json=body)
        order = client.get(f"/v1/payins/{order_id}")
    assert refused.status_code == 403
    assert erased.status_code == 200, erased.text
    assert erased.json()["objects"] == 1 and again.json()["objects"] == 0
    assert order.status_code == 200
    assert order.json()["payer"]["card_number"] == ERASED_MARK


def test_revealing_an_erased_payer_answers_the_erased_mark_not_an_error(
    desk: Desk, subjects: Subjects
) -> None:
    order_id = pay(desk, PAYER_A)
    body = {"id_number": PAYER_A.id_number, "reason": REASON}
    with _client(desk.runtime, subjects, ["admin", "pii:reveal"]) as client:
        assert client.post("/v1/pii/subjects/erase", json=body).status_code == 200
        revealed = client.post(f"/v1/payins/{order_id}/reveal", json={"reason": REASON})
    assert revealed.status_code == 200, revealed.text
    assert set(revealed.json()["fields"].values()) == {ERASED_MARK}


def _statement_receipt(desk: Desk, tmp_path: Path) -> None:
    """Money a bank statement shows from STATEMENT_PAYER on a buyer's virtual account,
    with no order: the cut-off owes it back to that payer's account."""
    land_statement_money(desk, tmp_path, STATEMENT_PAYER, ref="9")


def test_a_statement_payer_is_exported_and_not_erased_while_a_refund_is_due(
    desk: Desk, subjects: Subjects, tmp_path: Path
) -> None:
    _statement_receipt(desk, tmp_path)
    body = {"account_number": STATEMENT_PAYER.account_number, "reason": REASON}
    with _client(desk.runtime, subjects, ["admin", "pii:reveal"]) as client:
        exported = client.post("/v1/pii/subjects/export", json=body)
        refused = client.post("/v1/pii/subjects/erase", json=body)
    assert exported.status_code == 200, exported.text
    receipt = exported.json()["custody_receipts"][0]
    line = exported.json()["recon_lines"][0]
    assert receipt["payer"]["account_number"] == STATEMENT_PAYER.account_number
    assert line["counterparty"]["account_number"] == STATEMENT_PAYER.account_number
    assert refused.status_code == 409
    assert refused.json()["code"] == "subject_refund_pending"
    assert desk.runtime.blind_index.find("account_number", STATEMENT_PAYER.account_number)


def test_the_cli_exports_to_a_new_private_file_and_erases(
    desk: Desk, subjects: Subjects, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = pay(desk, PAYER_A)

    @contextmanager
    def opened() -> Iterator[Subjects]:
        yield subjects

    monkeypatch.setattr(cli_subjects, "open_subjects", opened)
    target = tmp_path / "export" / "subject.json"
    target.parent.mkdir()
    runner = CliRunner()
    card = ["--card-number", PAYER_A.card, "--reason", REASON]
    exported = runner.invoke(subjects_app, ["subject-export", "--out", str(target), *card])
    twice = runner.invoke(subjects_app, ["subject-export", "--out", str(target), *card])
    erased = runner.invoke(subjects_app, ["subject-erase", *card])

    assert exported.exit_code == 0, exported.output
    assert "1 payment orders" in exported.output
    assert twice.exit_code == 2
    assert target.stat().st_mode & 0o077 == 0
    document = json.loads(target.read_text(encoding="utf-8"))
    assert [o["id"] for o in document["payment_orders"]] == [order_id]
    target.unlink()  # the export holds the payer in clear: it is the point of it
    assert erased.exit_code == 0, erased.output
    assert "erased 1 object(s)" in erased.output


def test_erasing_a_statement_payer_deletes_their_sealed_counterparty_on_the_statement_line(
    desk: Desk, subjects: Subjects, tmp_path: Path
) -> None:
    land_statement_money(desk, tmp_path, STATEMENT_PAYER, ref="5", account="CN001234")
    body = {"account_number": STATEMENT_PAYER.account_number, "reason": REASON}
    with _client(desk.runtime, subjects, ["admin", "pii:reveal"]) as client:
        exported = client.post("/v1/pii/subjects/export", json=body).json()
        erased = client.post("/v1/pii/subjects/erase", json=body)
    (line,) = exported["recon_lines"]
    assert line["counterparty"]["account_number"] == STATEMENT_PAYER.account_number
    assert erased.status_code == 200, erased.text
    with desk.runtime.engine.connect() as conn:
        sealed = conn.execute(
            text("SELECT counterparty_enc FROM recon_lines WHERE source_ref = 'BANKREF5'")
        ).scalar_one()
    assert sealed is None
