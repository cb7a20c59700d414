"""Importing camt files as banks send them (issue 10): warnings kept and shown, every
statement's balances judged (`statement_unbalanced`, `balance_discontinuity`), batch lines
matched each to its order, and malformed files refused cleanly (exit 2 / HTTP 422)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from paycore.recon import store
from paycore.recon.api import router
from paycore.recon.cli import recon_app
from paycore.recon.service import Recon
from paycore.runtime import Runtime
from paycore.web.app import create_app
from tests.payments.fakes import ScriptedChannel
from tests.recon.conftest import DAY, paid_payout

REAL_WORLD = Path(__file__).parent / "fixtures" / "camt" / "real_world"


def _breaks(recon: Recon, type_: str) -> list[dict[str, Any]]:
    return recon.list_breaks(type_=type_, source="bank")


def _lines(recon: Recon, import_id: str) -> list[dict[str, Any]]:
    with recon.engine.connect() as conn:
        rows = conn.execute(
            select(store.lines).where(store.lines.c.import_id == import_id).order_by("line_no")
        )
        return [dict(row._mapping) for row in rows]


def test_an_unbalanced_statement_imports_with_a_break_naming_the_difference(
    recon: Recon,
) -> None:
    found, created = recon.import_file(
        REAL_WORLD / "unbalanced.xml", format="camt053", source="bank"
    )

    (unbalanced,) = _breaks(recon, "statement_unbalanced")
    assert created and found["line_count"] == 1
    assert (unbalanced["import_id"], unbalanced["status"]) == (found["id"], "open")
    assert (unbalanced["line_amount"], unbalanced["order_amount"]) == (190000, 150000)
    assert "a difference of 400.00 CHF" in unbalanced["detail"]
    assert "RW-UNBAL-1" in unbalanced["detail"]


def test_statements_that_balance_and_follow_each_other_make_no_break(recon: Recon) -> None:
    recon.import_file(REAL_WORLD / "concatenated.xml", format="camt053", source="bank")

    assert _breaks(recon, "statement_unbalanced") == []
    assert _breaks(recon, "balance_discontinuity") == []  # day 28 opens where 27 closed


def test_a_statement_opening_elsewhere_than_the_previous_closed_is_a_discontinuity(
    recon: Recon, tmp_path: Path
) -> None:
    text = (REAL_WORLD / "concatenated.xml").read_text()
    second = text.index("<?xml", 1)
    day27, day28 = tmp_path / "day27.xml", tmp_path / "day28.xml"
    day27.write_text(text[:second].replace("60.00", "50.00"))  # closes at 50.00
    day28.write_text(text[second:])  # opens at 60.00
    day29 = tmp_path / "day29.xml"
    day29.write_text(
        text[second:]
        .replace("2024-06-28", "2024-06-29")
        .replace("RW-CAT-28", "RW-CAT-29")
        .replace("CAT-28", "CAT-29")
    )  # opens at 60.00, but day 28 closed at 80.00

    recon.import_file(day28, format="camt053", source="bank")
    recon.import_file(day29, format="camt053", source="bank")
    recon.import_file(day27, format="camt053", source="bank")  # late: held against day 28

    found = sorted(
        (b["business_date"].isoformat(), b["line_amount"], b["order_amount"])
        for b in _breaks(recon, "balance_discontinuity")
    )
    assert found == [("2024-06-28", 6000, 5000), ("2024-06-29", 6000, 8000)]
    details = " ".join(b["detail"] for b in _breaks(recon, "balance_discontinuity"))
    assert "RW-CAT-27" in details and "a difference of 10.00 CHF" in details


def test_every_statement_in_a_file_is_imported(recon: Recon) -> None:
    found, _created = recon.import_file(
        REAL_WORLD / "several_statements.xml", format="camt053", source="bank"
    )

    lines = _lines(recon, found["id"])
    assert [(row["currency"], row["amount"], row["direction"]) for row in lines] == [
        ("CHF", 4000, "credit"),
        ("EUR", 1000, "debit"),
    ]
    with recon.engine.connect() as conn:
        kept = conn.execute(select(store.statements.c.statement_id).order_by("seq")).scalars()
        assert list(kept) == ["RW-MULTI-1", "RW-MULTI-2"]


def test_a_line_keeps_the_banks_kind_its_counter_value_and_the_banks_day(
    recon: Recon,
) -> None:
    batch, _ = recon.import_file(REAL_WORLD / "batch_entry.xml", format="camt053", source="bank")
    foreign, _ = recon.import_file(
        REAL_WORLD / "counter_value.xml", format="camt053", source="bank"
    )

    lines = _lines(recon, batch["id"])
    (converted,) = _lines(recon, foreign["id"])
    assert [(row["kind"], row["bank_kind"]) for row in lines] == [
        ("payout", "PMNT/ICDT/DMCT"),
        ("payout", "PMNT/ICDT/DMCT"),
        ("payout", "PMNT/ICDT/DMCT"),
        ("other", "PMNT/RDDT/ESDD"),
        ("other", "PMNT/CCRD/POSD"),
    ]
    # Booked 21:40+02:00 on the 28th: the 28th, though it is the 29th in Shanghai.
    assert {row["business_date"].isoformat() for row in lines} == {"2024-06-28"}
    assert (converted["counter_amount"], converted["counter_currency"]) == (50000, "EUR")


def test_warnings_are_kept_on_the_import_and_shown_by_its_view(recon: Recon) -> None:
    found, _created = recon.import_file(
        REAL_WORLD / "bad_address_country.xml", format="camt053", source="bank"
    )

    again = recon.get_import(found["id"])
    assert again["warning_count"] == 2
    warnings = json.loads(again["warnings"])
    assert any("PstlAdr/Ctry" in text and "[A-Z]{2,2}" in text for text in warnings)
    assert any("PstlAdr/AdrLine" in text for text in warnings)


def test_each_line_of_a_batch_entry_is_matched_to_its_own_payout(
    runtime: Runtime, recon: Recon, alpha: ScriptedChannel, merchant_id: str, tmp_path: Path
) -> None:
    first = paid_payout(runtime, alpha, merchant_id, amount=100000, txn="TX-B1")
    second = paid_payout(runtime, alpha, merchant_id, amount=30000, txn="TX-B2")
    text = (REAL_WORLD / "batch_entry.xml").read_text()
    statement = tmp_path / "batch.xml"
    statement.write_text(
        text.replace("CHF", "CNY")
        .replace("2024-06-28", DAY.isoformat())
        .replace("po_batch_1", first.id)
        .replace("po_batch_2", second.id)
    )

    recon.import_file(statement, format="camt053", source="alpha")
    result = recon.run(source="alpha", business_date=DAY)

    assert result["matched"] == 2
    assert "amount_mismatch" not in result["breaks_by_type"]
    matched = {row["order_id"] for row in _lines(recon, recon.list_breaks()[0]["import_id"])}
    assert {first.id, second.id} <= matched


@pytest.fixture
def http(runtime: Runtime, admin_key: str) -> Iterator[TestClient]:
    app = create_app(runtime=runtime)
    if not any(getattr(r, "path", "").startswith("/v1/recon/runs") for r in app.routes):
        app.include_router(router)
    with TestClient(app, headers={"Authorization": f"Bearer {admin_key}"}) as client:
        yield client


def test_the_api_shows_warnings_and_refuses_a_malformed_file_with_422(
    http: TestClient, tmp_path: Path
) -> None:
    cut = (REAL_WORLD / "concatenated.xml").read_bytes()[:2200]
    params = {"format": "camt053", "source": "bank"}

    imported = http.post(
        "/v1/recon/imports",
        params=params,
        content=(REAL_WORLD / "bic_newer_namespace.xml").read_bytes(),
    )
    shown = http.get(f"/v1/recon/imports/{imported.json()['id']}").json()
    truncated = http.post("/v1/recon/imports", params=params, content=cut)
    entity = http.post(
        "/v1/recon/imports",
        params=params,
        content=(REAL_WORLD / "external_entity.xml").read_bytes(),
    )

    assert imported.status_code == 201, imported.text
    assert imported.json()["warning_count"] == 3 == len(shown["warnings"])
    assert any(
        text.endswith("Unexpected child with tag 'BIC' at position 1.")
        for text in shown["warnings"]
    )
    assert (truncated.status_code, truncated.json()["code"]) == (422, "malformed_statement")
    last_line = cut.count(b"\n") + 1
    assert f"line {last_line}" in truncated.json()["detail"]
    assert (entity.status_code, entity.json()["code"]) == (422, "malformed_statement")
    assert "DOCTYPE" in entity.json()["detail"]


def test_the_command_line_prints_warnings_and_refuses_malformed_files_with_exit_2(
    recon: Recon, database_url: str, tmp_path: Path
) -> None:
    env = {"PAYCORE_DATABASE_URL": database_url, "PAYCORE_DATA_DIR": str(tmp_path)}
    cut = tmp_path / "cut.xml"
    cut.write_bytes((REAL_WORLD / "concatenated.xml").read_bytes()[:2200])

    def paycore(path: Path) -> Any:
        args = ["import", str(path), "--format", "camt053", "--source", "bank"]
        return CliRunner().invoke(recon_app, args, env=env)

    warned = paycore(REAL_WORLD / "bad_address_country.xml")
    truncated = paycore(cut)
    entity = paycore(REAL_WORLD / "external_entity.xml")

    assert warned.exit_code == 0, warned.output
    assert "warning" in warned.stderr and "PstlAdr/Ctry" in warned.stderr
    assert '"warning_count": 2' in warned.stdout
    assert truncated.exit_code == 2, truncated.output
    assert "malformed_statement" in truncated.stderr and "not well-formed" in truncated.stderr
    assert entity.exit_code == 2 and "DOCTYPE" in entity.stderr
