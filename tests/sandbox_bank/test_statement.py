"""The daily statement: the bank's own CSV, one Asia/Shanghai business day, a summary."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from paycore.sandbox_bank.credits import Credit
from paycore.sandbox_bank.model import Txn, TxnStatus, TxnType
from paycore.sandbox_bank.statement import (
    COLUMNS,
    SUMMARY_COLUMNS,
    render_statement,
    statement_lines,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 1, 2)  # 2026-01-01 16:00 UTC .. 2026-01-02 16:00 UTC


def _txn(number: str, kind: TxnType, amount: int, finished: datetime, **more: object) -> Txn:
    values: dict[str, object] = {
        "bank_txn_no": number, "merchant_id": "paycore", "type": kind,
        "reference": f"ref_{number}", "amount_minor": amount, "currency": "CNY",
        "status": TxnStatus.SUCCEEDED, "created_at": finished, "finished_at": finished,
    }  # fmt: skip
    values.update(more)
    return Txn(**values)  # type: ignore[arg-type]


def _rows(txns: list[Txn], day: date = DAY) -> list[list[str]]:
    text = render_statement(statement_lines(txns, day, SHANGHAI), day, SHANGHAI).decode()
    return list(csv.reader(io.StringIO(text)))


def test_a_day_holds_what_finished_between_its_local_midnights() -> None:
    txns = [
        _txn("BT1", TxnType.PAYIN, 100, datetime(2026, 1, 1, 15, 59, 59, tzinfo=UTC)),
        _txn("BT2", TxnType.PAYIN, 200, datetime(2026, 1, 1, 16, 0, 0, tzinfo=UTC)),
        _txn("BT3", TxnType.PAYIN, 300, datetime(2026, 1, 2, 15, 59, 59, tzinfo=UTC)),
        _txn("BT4", TxnType.PAYIN, 400, datetime(2026, 1, 2, 16, 0, 0, tzinfo=UTC)),
    ]

    rows = _rows(txns)

    assert rows[0] == list(COLUMNS)
    assert [row[1] for row in rows[1:3]] == ["BT2", "BT3"]
    assert rows[1] == [
        "2026-01-02", "BT2", "ref_BT2", "PAYIN", "2.00", "0.00", "CNY", "SUCCESS",
        "2026-01-02 00:00:00", "", "", "",
    ]  # fmt: skip


def test_only_paid_money_is_listed_and_a_return_is_its_own_line_on_its_own_day() -> None:
    at = datetime(2026, 1, 2, 2, 0, tzinfo=UTC)
    returned_at = datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
    txns = [
        _txn("BT1", TxnType.PAYIN, 10_000, at, fee_minor=60),
        _txn("BT2", TxnType.REFUND, 2_500, at),
        _txn("BT3", TxnType.PAYOUT, 5_000, at, status=TxnStatus.RETURNED, returned_at=returned_at),
        _txn("BT4", TxnType.PAYIN, 999, at, status=TxnStatus.FAILED),
        _txn("BT5", TxnType.PAYIN, 0, at, status=TxnStatus.CLOSED),
        _txn("BT6", TxnType.PAYOUT, 777, at, status=TxnStatus.PROCESSING, finished_at=None),
    ]

    rows = _rows(txns)

    assert [(row[1], row[3], row[4], row[5]) for row in rows[1:-2]] == [
        ("BT1", "PAYIN", "100.00", "0.60"),
        ("BT2", "REFUND", "25.00", "0.00"),
        ("BT3", "PAYOUT", "50.00", "0.00"),
        ("BT3", "RETURN", "50.00", "0.00"),
    ]
    assert rows[-2] == list(SUMMARY_COLUMNS)
    # net = 100.00 - 25.00 - 50.00 + 50.00 + 0.00 - 0.60
    assert rows[-1] == ["4", "CNY", "100.00", "25.00", "50.00", "50.00", "0.00", "0.60", "74.40"]


def test_a_payout_returned_on_a_later_day_shows_only_its_payment_today() -> None:
    at = datetime(2026, 1, 2, 2, 0, tzinfo=UTC)
    later = datetime(2026, 1, 3, 2, 0, tzinfo=UTC)
    payout = _txn("BT1", TxnType.PAYOUT, 5_000, at, status=TxnStatus.RETURNED, returned_at=later)

    assert [row[3] for row in _rows([payout])[1:-2]] == ["PAYOUT"]
    assert [row[3] for row in _rows([payout], date(2026, 1, 3))[1:-2]] == ["RETURN"]


def test_amounts_carry_the_exponent_of_their_currency_with_a_summary_per_currency() -> None:
    at = datetime(2026, 1, 2, 2, 0, tzinfo=UTC)
    yen = _txn("BT1", TxnType.PAYIN, 1_500, at, currency="JPY")
    dinar = _txn("BT2", TxnType.PAYIN, 1_500, at, currency="KWD")
    yuan = dataclasses.replace(_txn("BT3", TxnType.PAYIN, 1_500, at))

    rows = _rows([yen, dinar, yuan])

    assert [row[4] for row in rows[1:4]] == ["1500", "1.500", "15.00"]
    assert [row[:3] for row in rows[-3:]] == [
        ["1", "CNY", "15.00"], ["1", "JPY", "1500"], ["1", "KWD", "1.500"],
    ]  # fmt: skip


def test_an_empty_day_still_ends_with_a_summary_of_zero() -> None:
    rows = _rows([])

    assert rows == [list(COLUMNS), list(SUMMARY_COLUMNS), ["0", *[""] * 8]]


def test_a_credit_transfer_received_is_a_credit_row_naming_the_account_and_the_payer() -> None:
    at = datetime(2026, 1, 2, 2, 0, tzinfo=UTC)
    payin = _txn("BT1", TxnType.PAYIN, 10_000, at)
    credit = Credit(
        bank_txn_no="BT2", merchant_id="paycore", account="9558800000000001",
        amount_minor=50_000, currency="CNY", payer_account="6222021234567890128",
        payer_name="王五", booked_at=datetime(2026, 1, 2, 3, 0, tzinfo=UTC),
    )  # fmt: skip
    next_day = dataclasses.replace(
        credit, bank_txn_no="BT3", booked_at=datetime(2026, 1, 3, tzinfo=UTC)
    )

    text = render_statement(
        statement_lines([payin], DAY, SHANGHAI, [credit, next_day]), DAY, SHANGHAI
    ).decode()
    rows = list(csv.reader(io.StringIO(text)))

    assert rows[2] == [
        "2026-01-02", "BT2", "", "CREDIT", "500.00", "0.00", "CNY", "SUCCESS",
        "2026-01-02 11:00:00", "9558800000000001", "6222021234567890128", "王五",
    ]  # fmt: skip
    assert len(rows) == 5  # header, the pay-in, the credit, the summary header and row
    assert rows[-1] == ["2", "CNY", "100.00", "0.00", "0.00", "0.00", "500.00", "0.00", "600.00"]
