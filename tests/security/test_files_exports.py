"""Bill exports kept encrypted at rest, streamed back decrypted with flat memory."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import Engine

from paycore.bills.export_jobs import Download, ExportJobs
from paycore.bills.exports import EXPORT_FILE_KIND, Format, write_csv, write_sealed_file
from paycore.bills.queries import COLUMNS, BillQueries, What
from paycore.clock import ManualClock
from paycore.security import files
from paycore.security.crypto import FieldCipher
from tests.bills.exports_kit import read_xlsx
from tests.security.conftest_keys import STATIC_KEY

PAYER = "rent paid for 张三, account 6222021234567890123"
COLUMNS_OF_ORDERS = COLUMNS[What.ORDERS]


def orders(count: int) -> list[dict[str, object]]:
    return [
        {name: (PAYER if name == "description" else f"v{i}") for name in COLUMNS_OF_ORDERS}
        | {"amount_minor": 1_000 + i}
        for i in range(count)
    ]


@pytest.fixture(name="jobs")
def jobs_fixture(engine: Engine, clock: ManualClock, tmp_path: Path) -> ExportJobs:
    return ExportJobs(
        engine=engine,
        queries=BillQueries.__new__(BillQueries),  # not used: the files are written here
        clock=clock,
        data_dir=tmp_path,
        link_key=b"k" * 32,
        cipher=FieldCipher({"k1": STATIC_KEY}, "k1"),
    )


@pytest.mark.parametrize("fmt", [Format.CSV, Format.XLSX])
def test_a_kept_export_names_no_payer_and_downloads_as_the_clear_file_would(
    jobs: ExportJobs, tmp_path: Path, fmt: Format
) -> None:
    cipher = FieldCipher({"k1": STATIC_KEY}, "k1")
    kept = tmp_path / f"exp_1.lease.{fmt.value}.enc"
    done, clear_bytes = write_sealed_file(orders(300), COLUMNS_OF_ORDERS, kept, fmt, cipher)

    downloaded = b"".join(jobs.chunks(Download(kept, "exp_1-orders.csv", "text/csv")))
    raw = kept.read_bytes()
    assert files.is_sealed(kept) and done == 300
    assert "张三".encode() not in raw and b"6222021234567890123" not in raw
    assert len(downloaded) == clear_bytes
    if fmt is Format.CSV:
        expected = io.BytesIO()
        write_csv(orders(300), COLUMNS_OF_ORDERS, expected)
        assert downloaded == expected.getvalue()
    else:
        [sheet] = read_xlsx(downloaded).values()
        assert len(sheet) == 301 and sheet[1][COLUMNS_OF_ORDERS.index("description")] == PAYER


def test_an_export_kept_in_clear_before_encryption_still_downloads(
    jobs: ExportJobs, tmp_path: Path
) -> None:
    old = tmp_path / "exp_0.lease.csv"
    old.write_bytes(b"id,amount_minor\r\npay_1,1000\r\n")
    assert b"".join(jobs.chunks(Download(old, "x.csv", "text/csv"))) == old.read_bytes()


def test_a_large_export_downloads_with_flat_memory(jobs: ExportJobs, tmp_path: Path) -> None:
    cipher = FieldCipher({"k1": STATIC_KEY}, "k1")
    kept = tmp_path / "exp_2.lease.csv.enc"
    write_sealed_file(orders(40_000), COLUMNS_OF_ORDERS, kept, Format.CSV, cipher)
    tracemalloc.start()
    size = sum(len(chunk) for chunk in jobs.chunks(Download(kept, "x.csv", "text/csv")))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    kept.unlink()  # less for the suite's leak guard to scan
    assert size > 4 * 1024 * 1024 and peak < 1024 * 1024


def test_an_altered_export_stops_the_download_at_the_altered_chunk(
    jobs: ExportJobs, tmp_path: Path
) -> None:
    cipher = FieldCipher({"k1": STATIC_KEY}, "k1")
    kept = tmp_path / "exp_3.lease.csv.enc"
    write_sealed_file(orders(5_000), COLUMNS_OF_ORDERS, kept, Format.CSV, cipher)
    with kept.open("r+b") as edit:
        edit.seek(files.CHUNK_BYTES * 3)
        edit.write(b"\x00" * 8)
    stream = jobs.chunks(Download(kept, "x.csv", "text/csv"))
    with pytest.raises(Exception) as refused:
        list(stream)
    assert getattr(refused.value, "code", None) == "file_tampered"
    assert EXPORT_FILE_KIND == "bills_export"
