"""Reconciliation end to end: every real statement format through the import, and a bank
host-to-host day: payouts → pain.001 → pain.002 → the bank's camt.053 → matched."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from paycore.errors import Rejected
from paycore.payments.model import OrderStatus
from paycore.recon import formats
from paycore.recon.camt_writer import StatementHeader, write_camt053
from paycore.recon.h2h_service import H2hFiles
from paycore.recon.model import Direction, LineKind, StatementLine
from paycore.runtime import Runtime
from tests.recon.h2h_bank import status_report
from tests.recon.test_bills import _alipay_zip
from tests.recon.test_h2h import bank, files, merchant, payout, runtime  # noqa: F401 - fixtures

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        ("sandbox_csv", "sandbox/statement_2026-11-25.csv"),
        ("camt053", "camt/camt053_v02.xml"),
        ("camt053", "camt/camt053_v08.xml"),
        ("camt054", "camt/camt054_v02.xml"),
        ("wechat", "wechat/all_current.csv"),
        ("wechat", "wechat/all_older.csv"),
        ("alipay", ""),
    ],
)
def test_every_real_statement_format_imports_all_its_lines_once(
    runtime: Runtime,  # noqa: F811 - the h2h runtime serves as well as any
    tmp_path: Path,
    fmt: str,
    name: str,
) -> None:
    path = FIXTURES / name if name else _alipay_zip(tmp_path)
    expected = sum(1 for _ in formats.parse(fmt, path, source=None).lines)

    first, created = runtime.recon.import_file(path, format=fmt, source=None)
    again, created_again = runtime.recon.import_file(path, format=fmt, source=None)

    assert created and not created_again and again["id"] == first["id"]
    assert expected > 0 and first["line_count"] == expected


def test_a_file_of_another_format_than_named_is_refused_and_nothing_is_imported(
    runtime: Runtime,  # noqa: F811
) -> None:
    with pytest.raises(Rejected) as refused:
        runtime.recon.import_file(
            FIXTURES / "camt/camt054_v02.xml", format="camt053", source="bank"
        )

    assert refused.value.code == "format_mismatch"
    with pytest.raises(Rejected):
        runtime.recon.import_file(FIXTURES / "camt/camt054_v02.xml", format="camt999", source=None)


def test_a_host_to_host_day_reconciles_payouts_with_the_banks_camt053(
    runtime: Runtime,  # noqa: F811
    merchant: str,  # noqa: F811
    files: H2hFiles,  # noqa: F811
    bank: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    paid = [payout(runtime, merchant, amount) for amount in (12_000, 3_456)]
    rejected = payout(runtime, merchant, 999)
    exported = files.export(bank)  # type: ignore[arg-type]
    report = tmp_path / "pain002.xml"
    report.write_bytes(
        status_report(
            files.open_file(exported),
            {paid[0]: ("ACSC", None), paid[1]: ("ACSC", None), rejected: ("RJCT", "AC04")},
        )
    )
    files.apply_status_report(report)
    orders = [runtime.payments.get(merchant_id=None, order_id=o) for o in paid]
    assert [o.status for o in orders] == [OrderStatus.SUCCEEDED] * 2
    day = orders[0].finished_at or runtime.clock.now()
    business_date = runtime.payments.ctx.business_date(day)
    statement = tmp_path / "camt053.xml"
    write_camt053(  # the bank's end-of-day statement: our EndToEndIds on its debits
        statement,
        [
            StatementLine(
                line_no=n,
                source_ref=f"BK{n}",
                kind=LineKind.PAYOUT,
                direction=Direction.DEBIT,
                amount=order.amount,
                currency="CNY",
                booked_at=day,
                reference=order.id,
            )
            for n, order in enumerate(orders, start=1)
        ],
        StatementHeader(
            statement_id="STMT-1",
            account_iban="CN0000000000006222000011112222",
            currency="CNY",
            created_at=day + timedelta(hours=1),
            period_start=business_date,
            period_end=business_date,
        ),
    )

    runtime.recon.import_file(statement, format="camt053", source="bank-h2h")
    result = runtime.recon.run(source="bank-h2h", business_date=business_date)

    assert (result["lines"], result["matched"], result["breaks_new"]) == (2, 2, 0)
    assert runtime.recon.list_breaks(status=None, type_=None, source="bank-h2h", limit=50) == []
