"""Statement lines written in bulk (executemany on SQLite, COPY on PostgreSQL: the suite
runs on both) store exactly what a plain insert would, and the run's statements keep the
query plans that make a million lines affordable."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, insert, select

from paycore.recon import store, store_lines, store_matching
from paycore.recon.model import Counterparty, Direction, LineKind, LineStatus, StatementLine
from paycore.recon.service import Recon
from paycore.runtime import Runtime
from tests.conftest import ON_POSTGRES
from tests.payments.fakes import ScriptedChannel
from tests.recon.conftest import DAY, Row, pay, write_statement

BOOKED = datetime(2026, 3, 10, 15, 59, 59, 123456, tzinfo=UTC)  # 23:59:59 in Shanghai


def _line(**changes: Any) -> StatementLine:
    fields: dict[str, Any] = {
        "line_no": 7,
        "source_ref": "REF-7 'quoted' 中文",
        "kind": LineKind.PAYOUT,
        "direction": Direction.DEBIT,
        "amount": 123_45,
        "currency": "CNY",
        "booked_at": BOOKED,
        "status": LineStatus.PENDING,
        "channel_txn_id": "TXN\t7",
        "reference": "pay_7",
        "fee": 12,
        "account": "CN12345678901234567890",
        "bank_kind": "PMNT-ICDT-ESCT" + "x" * 40,
        "counter_amount": 99,
        "counter_currency": "EUR",
    }
    return StatementLine(**{**fields, **changes})


def _stored(engine: Engine, import_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(store.lines).where(store.lines.c.import_id == import_id)
        ).mappings()
        return [{k: v for k, v in row.items() if k != "import_id"} for row in rows]


def test_every_column_of_recon_lines_is_written_by_the_bulk_writer() -> None:
    assert set(store_lines.COLUMNS) == {column.name for column in store.lines.columns}
    assert len(store_lines.COLUMNS) == len(store.lines.columns)


@pytest.mark.parametrize(
    "line",
    [
        _line(),
        _line(channel_txn_id=None, reference=None, account=None, bank_kind=None),
        _line(business_date=date(2026, 3, 9), kind=LineKind.PAYIN, direction=Direction.CREDIT),
    ],
)
def test_a_line_written_in_bulk_reads_back_as_a_plain_insert_of_it_does(
    engine: Engine, line: StatementLine
) -> None:
    bulk = store_lines.line_row(line, import_id="imp_bulk", source="alpha", carries_fee=True)
    plain = store_lines.line_row(line, import_id="imp_plain", source="alpha", carries_fee=True)
    with engine.begin() as conn:
        store_lines.LineWriter(conn).write([bulk])
        # The reference: SQLAlchemy's own insert, its types converting every value.
        conn.execute(insert(store.lines), dict(zip(store_lines.COLUMNS, plain, strict=True)))

    written, expected = _stored(engine, "imp_bulk"), _stored(engine, "imp_plain")
    assert written == expected
    assert written[0]["booked_at"] == BOOKED
    assert written[0]["business_date"] == (line.business_date or date(2026, 3, 10))
    assert written[0]["bank_kind"] == line.bank_kind[:40] if line.bank_kind else True
    assert (written[0]["kind"], written[0]["status"]) == (line.kind.value, line.status.value)
    assert type(written[0]["kind"]) is str


def test_a_chunk_of_many_lines_is_written_whole_and_in_order(engine: Engine) -> None:
    rows = [
        store_lines.line_row(
            _line(line_no=n, source_ref=f"R{n}"),
            import_id="imp_many",
            source="alpha",
            carries_fee=False,
        )
        for n in range(1, 2_501)
    ]
    with engine.begin() as conn:
        store_lines.LineWriter(conn).write(rows)

    stored = sorted(_stored(engine, "imp_many"), key=lambda r: r["line_no"])
    assert [r["source_ref"] for r in stored] == [f"R{n}" for n in range(1, 2_501)]
    assert {r["fee"] for r in stored} == {None}  # the format states no fee


def test_lines_written_in_a_transaction_that_fails_leave_nothing(engine: Engine) -> None:
    row = store_lines.line_row(_line(), import_id="imp_undone", source="alpha", carries_fee=True)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        store_lines.LineWriter(conn).write([row])
        raise RuntimeError("the file turned out bad")

    assert _stored(engine, "imp_undone") == []


def test_a_nul_in_a_counterparty_is_refused_naming_its_field() -> None:
    line = _line(counterparty=Counterparty(account_number="62\x0017", name="张三"))

    with pytest.raises(Exception, match="counterparty_account"):
        store_lines.line_row(line, import_id="imp", source="alpha", carries_fee=True)


@pytest.mark.skipif(ON_POSTGRES, reason="a SQLite connection setting")
def test_the_bigger_sqlite_cache_of_a_bulk_import_is_given_back_to_the_connection(
    engine: Engine,
) -> None:
    def cache_size(conn: Connection) -> int:
        driver: Any = conn.connection.driver_connection  # no transaction of its own
        return int(driver.execute("PRAGMA cache_size").fetchone()[0])

    with engine.connect() as conn:
        before = cache_size(conn)
        with store_lines.bulk_cache(conn), conn.begin():
            during = cache_size(conn)
        after = cache_size(conn)

    assert during == -store_lines.SQLITE_CACHE_KIB
    assert after == before != during


def test_orders_are_found_by_txn_ids_holding_quotes_and_other_scripts(
    recon: Recon,
    runtime: Runtime,
    alpha: ScriptedChannel,
    merchant_id: str,
    engine: Engine,
    tmp_path: Path,
) -> None:
    odd = ['T"1', "T'2", "T,3 中文", "T\\4"]
    orders = [pay(runtime, alpha, merchant_id, amount=100 + i, txn=t) for i, t in enumerate(odd)]
    path = write_statement(
        tmp_path / "odd.csv",
        [Row(f"S{i}", 100 + i, channel_txn_id=t) for i, t in enumerate(odd)],
    )

    found, _ = recon.import_file(path, format="test_csv", source="alpha")

    with engine.connect() as conn:
        matched = conn.execute(
            select(store.lines.c.source_ref, store.lines.c.order_id, store.lines.c.matched_by)
            .where(store.lines.c.import_id == found["id"])
            .order_by(store.lines.c.line_no)
        ).all()
    assert [tuple(m) for m in matched] == [
        (f"S{i}", order.id, "txn") for i, order in enumerate(orders)
    ]


def _plan(engine: Engine, statement: str) -> list[tuple[bool, str]]:
    """SQLite's plan of a run statement: (outermost?, step) in order (the parameters by
    name; their values do not change the plan)."""
    names = ("fee_bps", "src", "first_day", "day", "run", "now", "window_start", "day_end")
    params = dict.fromkeys((*names, "from_at", "to_at"), "2026-03-10")
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
    return [(row[1] == 0, str(row[-1])) for row in rows]


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's query plans (PostgreSQL plans by statistics)")
def test_the_run_reads_each_line_once_and_only_the_orders_of_the_days_judged(
    engine: Engine,
) -> None:
    """Without statistics SQLite once put the five break types outside the lines (every
    line read, and its order looked up, five times) and scanned every order the channel
    ever had for the few finished on the judged day."""
    line_break = _plan(engine, store_matching.LINE_BREAK_SQL)
    order_break = _plan(engine, store_matching.order_break_sql("sqlite"))

    loops = [step for outermost, step in line_break if outermost and step.startswith("SCAN")]
    assert loops[0] != "SCAN t"  # the types are crossed with the few lines that break
    assert sum("ix_recon_lines_day" in step for _, step in line_break) == 1
    assert any("ix_payment_orders_finished" in step for _, step in order_break)
    assert not any("ix_payment_orders_channel_txn" in step for _, step in order_break)


def test_a_run_over_bulk_written_lines_finds_the_same_breaks(
    recon: Recon, runtime: Runtime, alpha: ScriptedChannel, merchant_id: str, tmp_path: Path
) -> None:
    kept = pay(runtime, alpha, merchant_id, amount=500, txn="K1")
    off = pay(runtime, alpha, merchant_id, amount=700, txn="K2")
    path = write_statement(
        tmp_path / "day.csv",
        [
            Row("A", 500, channel_txn_id="K1", fee=5),
            Row("B", 701, channel_txn_id="K2", fee=7),
            Row("C", 300, channel_txn_id="NOPE"),
            Row("A", 500, channel_txn_id="K1", fee=5),
        ],
    )
    recon.import_file(path, format="test_csv", source="alpha")

    report = recon.run(source="alpha", business_date=DAY)

    assert report["breaks_by_type"] == {
        "amount_mismatch": 1,
        "missing_on_our_side": 1,
        "duplicate": 1,
    }
    assert kept.id != off.id
