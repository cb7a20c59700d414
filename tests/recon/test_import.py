"""Importing statements: all or nothing, idempotent by the file's hash, duplicates seen."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from paycore.errors import Rejected
from paycore.recon import service as recon_service
from paycore.recon import store
from paycore.recon.service import Recon
from tests.recon.conftest import DAY, Row, write_statement


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def _rows(n: int) -> list[Row]:
    return [Row(f"R{i}", 100 + i, channel_txn_id=f"C{i}") for i in range(n)]


def test_the_same_file_imported_twice_answers_the_first_import_and_adds_nothing(
    recon: Recon, engine: Engine, tmp_path: Path
) -> None:
    path = write_statement(tmp_path / "s.csv", _rows(7))

    first, created = recon.import_file(path, format="test_csv", source="alpha")
    again, created_again = recon.import_file(path, format="test_csv", source="alpha")

    assert (created, created_again) == (True, False)
    assert again["id"] == first["id"]
    assert (first["line_count"], first["credits"], first["debits"]) == (7, 721, 0)
    assert _count(engine, store.lines) == 7
    assert recon.get_import(str(first["id"]))["file_sha256"] == first["file_sha256"]


def test_a_bad_line_in_the_middle_of_a_file_leaves_nothing_imported(
    recon: Recon, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recon_service, "INSERT_CHUNK", 2)  # chunks are written before it
    path = write_statement(tmp_path / "bad.csv", _rows(10))
    text = path.read_text().splitlines()
    text[5] = text[5].replace("1.04", "1.0x")
    path.write_text("\n".join(text) + "\n")

    with pytest.raises(Rejected) as refused:
        recon.import_file(path, format="test_csv", source="alpha")

    assert refused.value.code == "malformed_statement"
    assert "line 6" in refused.value.detail and "field amount" in refused.value.detail
    assert _count(engine, store.lines) == 0
    assert _count(engine, store.imports) == 0


def test_a_truncated_file_or_one_whose_totals_disagree_is_refused_whole(
    recon: Recon, engine: Engine, tmp_path: Path
) -> None:
    truncated = write_statement(tmp_path / "cut.csv", _rows(4), trailer=False)
    lying = write_statement(tmp_path / "lie.csv", _rows(4))
    lying.write_text(lying.read_text().replace("#total,4,", "#total,5,"))

    for path in (truncated, lying):
        with pytest.raises(Rejected) as refused:
            recon.import_file(path, format="test_csv", source="alpha")
        assert refused.value.code == "malformed_statement"
    assert _count(engine, store.lines) == 0


def test_a_line_an_earlier_file_already_holds_is_kept_once_and_counted_as_repeated(
    recon: Recon, engine: Engine, tmp_path: Path
) -> None:
    intraday = write_statement(tmp_path / "a.csv", [Row("R1", 100), Row("R2", 200)])
    final = write_statement(tmp_path / "b.csv", [Row("R1", 100), Row("R2", 200), Row("R3", 300)])
    recon.import_file(intraday, format="test_csv", source="alpha")
    second, _ = recon.import_file(final, format="test_csv", source="alpha")

    report = recon.run(source="alpha", business_date=DAY)

    assert (second["line_count"], second["repeated_lines"]) == (3, 2)
    assert recon.list_breaks(type_="duplicate") == []
    surplus = recon.list_breaks(type_="missing_on_our_side")
    assert sorted(int(b["line_amount"]) for b in surplus) == [100, 200, 300]
    assert report["lines"] == 3


def test_a_line_seen_in_an_earlier_file_with_other_terms_is_a_duplicate_and_breaks_once(
    recon: Recon, engine: Engine, tmp_path: Path
) -> None:
    first = write_statement(tmp_path / "a.csv", [Row("R1", 100), Row("R2", 200)])
    overlap = write_statement(tmp_path / "b.csv", [Row("R2", 250), Row("R3", 300)])
    recon.import_file(first, format="test_csv", source="alpha")
    second, _ = recon.import_file(overlap, format="test_csv", source="alpha")

    recon.run(source="alpha", business_date=DAY)
    recon.run(source="alpha", business_date=DAY)

    [dup] = recon.list_breaks(type_="duplicate")
    assert (dup["import_id"], dup["line_no"], dup["line_amount"]) == (second["id"], 2, 250)
    surplus = recon.list_breaks(type_="missing_on_our_side")
    assert sorted(int(b["line_amount"]) for b in surplus) == [100, 200, 300]


def test_a_line_is_booked_on_its_business_day_in_shanghai(
    recon: Recon, engine: Engine, tmp_path: Path
) -> None:
    late = datetime(2026, 3, 10, 17, 30, tzinfo=UTC)  # 01:30 on 11 March in Shanghai
    path = write_statement(tmp_path / "s.csv", [Row("N", 100, booked_at=late)])
    recon.import_file(path, format="test_csv", source="alpha")

    with engine.connect() as conn:
        day = conn.execute(select(store.lines.c.business_date)).scalar_one()

    assert day == date(2026, 3, 11)
    assert recon.run(source="alpha", business_date=DAY)["lines"] == 0


def test_unknown_formats_sources_and_imports_are_refused(recon: Recon, tmp_path: Path) -> None:
    path = write_statement(tmp_path / "s.csv", _rows(1))
    for call, code in (
        (lambda: recon.import_file(path, format="mt940", source="alpha"), "unknown_format"),
        (lambda: recon.import_file(path, format="test_csv", source=""), "invalid_source"),
        (lambda: recon.import_file(path, format="test_csv", source="x" * 65), "invalid_source"),
        (lambda: recon.get_import("imp_nope"), "import_not_found"),
        (lambda: recon.get_run("rrun_nope"), "run_not_found"),
    ):
        with pytest.raises(Rejected) as refused:
            call()
        assert refused.value.code == code


def test_a_file_with_shifted_columns_is_refused_naming_the_line_and_field(
    recon: Recon, tmp_path: Path
) -> None:
    path = write_statement(tmp_path / "s.csv", _rows(3))
    lines = path.read_text().splitlines()
    fields = lines[2].split(",")
    lines[2] = ",".join(["", *fields[:-1]])  # every value one column to the right
    path.write_text("\n".join(lines) + "\n")

    with pytest.raises(Rejected) as refused:
        recon.import_file(path, format="test_csv", source="alpha")

    assert refused.value.code == "malformed_statement"
    assert "line 3" in refused.value.detail and "source_ref" in refused.value.detail
