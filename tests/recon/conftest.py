"""Recon fixtures: a Runtime with one scripted channel `alpha`, a Recon service on it, a
tiny CSV statement format of the tests' own, and helpers to make real pay-ins.

The tiny format (`test_csv`) is a header line naming the columns, one row per line, and
a `#total,<count>,<credits>,<debits>` trailer, so the import path runs end to end
without waiting for the real parsers.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from paycore.channels.model import BankAccount, Payer
from paycore.clock import ManualClock
from paycore.ledger.service import Ledger
from paycore.payments.model import Order
from paycore.payments.service import PayinCommand, PayoutCommand
from paycore.platform.config import Settings
from paycore.recon import formats
from paycore.recon.model import (
    ControlTotals,
    Direction,
    LineKind,
    LineStatus,
    MalformedStatement,
    Statement,
    StatementInfo,
    StatementLine,
    parse_amount,
)
from paycore.recon.service import Recon
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from tests.payments.conftest import fund_merchant
from tests.payments.fakes import ScriptedChannel, accepted, declined, succeeded
from tests.payments.http_conftest import scripted_runtime

START = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 on 10 March in Asia/Shanghai
DAY = date(2026, 3, 10)
COLUMNS = ("source_ref", "kind", "direction", "amount", "currency", "booked_at", "status")
OPTIONAL = ("channel_txn_id", "reference", "fee")
ALPHA_FEE_BPS = 100
"""alpha's contracted fee on pay-ins: what its statements' fees are checked against (the
merchant below pays the same rate to paycore, so a line's fee equals its order's)."""
_keys = itertools.count(1)

formats.register("test_csv", "tests.recon.conftest", carries_fee=True)


def parse(path: Path, *, source: str | None = None) -> Statement:
    """The tests' tiny statement format, streamed like the real parsers."""
    handle = path.open(encoding="utf-8", newline="")
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None or not set(COLUMNS) <= set(header):
        handle.close()
        raise MalformedStatement("the header names the columns", line=1)
    info = StatementInfo(format="test_csv", source=source or "alpha", statement_id=path.name)
    statement = Statement(info, iter(()))

    def lines() -> Iterator[StatementLine]:
        count = credits = debits = 0
        with handle:
            for number, row in enumerate(reader, start=2):
                if row and row[0] == "#total":
                    stated = ControlTotals(int(row[1]), int(row[2]), int(row[3]))
                    statement.totals = stated
                    if stated != ControlTotals(count, credits, debits):
                        raise MalformedStatement("control totals disagree", line=number)
                    return
                line = _line(number, dict(zip(header, row, strict=False)))
                count += 1
                if line.direction is Direction.CREDIT:
                    credits += line.amount
                else:
                    debits += line.amount
                yield line
        raise MalformedStatement("the file ends without its #total line")

    statement.lines = lines()
    return statement


def _line(number: int, row: dict[str, str]) -> StatementLine:
    for name in COLUMNS:
        if not row.get(name):
            raise MalformedStatement("missing", line=number, field=name)
    try:
        booked_at = datetime.fromisoformat(row["booked_at"])
        kind, direction = LineKind(row["kind"]), Direction(row["direction"])
        status = LineStatus(row["status"])
    except ValueError as error:
        raise MalformedStatement(str(error), line=number) from None
    currency = row["currency"]
    return StatementLine(
        line_no=number,
        source_ref=row["source_ref"],
        kind=kind,
        direction=direction,
        amount=parse_amount(row["amount"], currency, line=number, field="amount"),
        currency=currency,
        booked_at=booked_at.astimezone(UTC),
        status=status,
        channel_txn_id=row.get("channel_txn_id") or None,
        reference=row.get("reference") or None,
        fee=parse_amount(row.get("fee") or "0", currency, line=number, field="fee"),
    )


@dataclass
class Row:
    """One statement line as a test writes it; amounts are minor units."""

    source_ref: str
    amount: int
    channel_txn_id: str = ""
    reference: str = ""
    fee: int = 0
    status: str = "succeeded"
    kind: str = "payin"
    direction: str = "credit"
    booked_at: datetime = START
    currency: str = "CNY"


def write_statement(path: Path, rows: Sequence[Row], *, trailer: bool = True) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS + OPTIONAL)
        for r in rows:
            out.writerow(
                [
                    r.source_ref,
                    r.kind,
                    r.direction,
                    f"{r.amount // 100}.{r.amount % 100:02d}",
                    r.currency,
                    r.booked_at.isoformat(),
                    r.status,
                    r.channel_txn_id,
                    r.reference,
                    f"{r.fee // 100}.{r.fee % 100:02d}",
                ]
            )
        if trailer:
            credits = sum(r.amount for r in rows if r.direction == "credit")
            debits = sum(r.amount for r in rows if r.direction == "debit")
            out.writerow(["#total", len(rows), credits, debits])
    return path


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=START)


@pytest.fixture
def alpha() -> ScriptedChannel:
    return ScriptedChannel("alpha")


@pytest.fixture
def runtime(
    database_url: str,
    engine: Engine,
    clock: ManualClock,
    ledger: Ledger,
    field_cipher: FieldCipher,
    alpha: ScriptedChannel,
    tmp_path: Path,
) -> Iterator[Runtime]:
    yield from scripted_runtime(
        database_url=database_url,
        engine=engine,
        clock=clock,
        ledger=ledger,
        cipher=field_cipher,
        channels=[alpha],
        settings=Settings(database_url=database_url, expiry_interval_s=1.0, data_dir=str(tmp_path)),
        fees_bps={"alpha": ALPHA_FEE_BPS},
    )


@pytest.fixture
def recon(runtime: Runtime) -> Recon:
    return runtime.recon


@pytest.fixture
def merchant_id(runtime: Runtime) -> str:
    merchant, _secret = runtime.merchants.create(name="Recon Shop", fee_bps=100)
    return merchant.id


def pay(
    runtime: Runtime,
    alpha: ScriptedChannel,
    merchant_id: str,
    *,
    amount: int,
    txn: str | None = None,
    outcome: str = "succeeded",
) -> Order:
    """A real pay-in through the scripted channel: succeeded (with `txn`), processing or
    failed."""
    answer = {"succeeded": lambda: succeeded(txn), "processing": accepted, "failed": declined}
    alpha.then(answer[outcome]())
    created = runtime.payments.create_payin(
        PayinCommand(
            merchant_id=merchant_id,
            product="rent",
            amount=amount,
            currency="CNY",
            payer=Payer(card_number="6222021234567890123", name="张三"),
        ),
        idempotency_key=f"recon-{next(_keys)}",
    )
    order_id: Any = created.body["id"]
    return runtime.payments.get(merchant_id=None, order_id=str(order_id))


def paid_payout(
    runtime: Runtime, alpha: ScriptedChannel, merchant_id: str, *, amount: int, txn: str
) -> Order:
    """A payout the scripted channel pays at once (as `txn`), from a funded wallet."""
    fund_merchant(runtime.ledger, merchant_id, amount * 2)
    alpha.then(succeeded(txn))
    created = runtime.payments.create_payout(
        PayoutCommand(
            merchant_id=merchant_id,
            amount=amount,
            currency="CNY",
            beneficiary=BankAccount(account_number="6217000010001234567", name="李四"),
        ),
        idempotency_key=f"recon-{next(_keys)}",
    )
    return runtime.payments.get(merchant_id=None, order_id=str(created.body["id"]))
