"""The reconciliation scene of `paycore demo`, on the scripted bank `alpha` serving its
statements like the sandbox bank does."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from paycore.demo import reconciliation
from paycore.payments.model import Order
from paycore.recon.breaks import suspense_account
from paycore.recon.model import business_date_of
from paycore.runtime import Runtime
from paycore.sandbox_bank import statement as bank_statement
from tests.payments.fakes import ScriptedChannel, accepted, succeeded
from tests.recon.conftest import pay

SHANGHAI = ZoneInfo("Asia/Shanghai")


def serve_statements(alpha: ScriptedChannel, runtime: Runtime, orders: list[Order]) -> None:
    """The scripted bank's statement of a day: our orders that succeeded then, and every
    other pay-in it took that it says succeeded (the walk-in), as the sandbox bank writes it."""

    def fetch(day: date) -> bytes:
        now = runtime.clock.now()
        lines = [
            bank_statement.StatementLine(
                finished_at=o.finished_at or now,
                bank_txn_no=o.channel_txn_id or "",
                reference=o.id,
                label="PAYIN",
                amount_minor=o.amount,
                fee_minor=o.fee_amount,
                currency=o.currency,
            )
            for o in orders
            if business_date_of(o.finished_at or now) == day
        ]
        ours = {o.id for o in orders}
        for reference, request in alpha.requests.items():
            answer = alpha.truth.get(reference)
            if reference in ours or answer is None or answer.channel_txn_id is None:
                continue
            if answer.status.value == "succeeded" and business_date_of(now) == day:
                lines.append(
                    bank_statement.StatementLine(
                        finished_at=now,
                        bank_txn_no=answer.channel_txn_id,
                        reference=reference,
                        label="PAYIN",
                        amount_minor=request.amount_minor,
                        fee_minor=0,
                        currency=request.currency,
                    )
                )
        return bank_statement.render_statement(lines, day, SHANGHAI)

    alpha.statement_format = "sandbox_csv"  # type: ignore[attr-defined]
    alpha.fetch_statement = fetch  # type: ignore[method-assign]


def test_the_scene_reconciles_today_and_resolves_the_walk_in_pay_in_booked_to_suspense(
    runtime: Runtime, alpha: ScriptedChannel, merchant_id: str, tmp_path: Path
) -> None:
    orders = [pay(runtime, alpha, merchant_id, amount=a, txn=f"T{a}") for a in (1_000, 2_500)]
    serve_statements(alpha, runtime, orders)
    alpha.then(succeeded("WALKIN-1"))  # the bank takes the walk-in pay-in at once
    out = io.StringIO()

    reconciliation.show(runtime, Console(file=out, width=160), merchant_id)

    text = out.getvalue()
    [walk_in] = [ref for ref in alpha.requests if ref.startswith("walkin_")]
    [found] = runtime.recon.list_breaks(source="alpha")
    events = runtime.recon.get_break(int(found["id"]))["events"]
    assert (found["type"], found["status"]) == ("missing_on_our_side", "resolved")
    assert found["line_amount"] == reconciliation.WALK_IN_AMOUNT
    assert (events[-1]["actor"], events[-1]["note"]) == ("demo", reconciliation.RESOLUTION_NOTE)
    suspense = runtime.ledger.get_account(suspense_account("CNY"))
    assert suspense is not None and suspense.credits_posted == reconciliation.WALK_IN_AMOUNT
    assert f"reconciliation of alpha, {business_date_of(runtime.clock.now())}" in text
    assert "│ matched                    │     2 │" in text
    assert f"({walk_in}), booked to suspense" in text and "resolved: paid at the bank" in text
    kept = list((tmp_path / "recon" / "alpha").glob("*.demo-*.statement.enc"))
    assert len(kept) == 1
    assert runtime.ledger.check().ok


def test_the_scene_says_so_when_the_bank_does_not_finish_the_walk_in_pay_in(
    runtime: Runtime,
    alpha: ScriptedChannel,
    merchant_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    serve_statements(alpha, runtime, [])
    monkeypatch.setattr(reconciliation, "WAIT_S", 0.3)
    alpha.then(accepted())  # processing, and every query after says processing too
    out = io.StringIO()

    reconciliation.show(runtime, Console(file=out, width=160), merchant_id)

    assert "did not finish the walk-in pay-in in time" in out.getvalue()
    assert runtime.recon.list_breaks(source="alpha") == []
