"""A host-to-host bank's inbound folder: pain.002 reports and camt statements are applied
as they arrive, then moved to processed/ or rejected/ (with the reason beside them)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from paycore.channels.h2h import H2hBankChannel
from paycore.clock import ManualClock
from paycore.payments.model import OrderStatus
from paycore.recon.camt_writer import StatementHeader, write_camt053
from paycore.recon.h2h_cli import h2h_app
from paycore.recon.h2h_service import H2hFiles
from paycore.recon.inbox import INBOUND_FILE_KIND, H2hInbox, inbound_dir
from paycore.recon.model import Direction, LineKind, StatementLine
from paycore.runtime import Runtime
from paycore.security import files as sealed_files
from tests.recon.h2h_bank import status_report
from tests.recon.test_h2h import (  # noqa: F401 - fixtures
    FIXTURES,
    bank,
    client,
    files,
    merchant,
    payout,
    runtime,
    status_of,
    wallet,
)


@pytest.fixture
def inbox(runtime: Runtime) -> H2hInbox:  # noqa: F811
    return runtime.recon_daily.inbox


def drop(bank: H2hBankChannel, name: str, data: bytes) -> Path:  # noqa: F811
    """As the bank does: `<name>.part` first, renamed when whole."""
    folder = inbound_dir(bank)
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f"{name}.part"
    part.write_bytes(data)
    return part.rename(folder / name)


def paid_payouts(
    runtime: Runtime,  # noqa: F811
    merchant: str,  # noqa: F811
    files: H2hFiles,  # noqa: F811
    bank: H2hBankChannel,  # noqa: F811
    tmp_path: Path,
    amounts: tuple[int, ...],
) -> tuple[list[str], bytes]:
    """Payouts exported in one pain.001, and the bank's report accepting all of them."""
    orders = [payout(runtime, merchant, amount) for amount in amounts]
    exported = files.export(bank)
    report = status_report(files.open_file(exported), {o: ("ACSC", None) for o in orders})
    return orders, report


def camt053(path: Path, lines: list[tuple[str, int, datetime]]) -> bytes:
    """The bank's statement: our EndToEndIds (order ids) on its debits."""
    booked = [at for _ref, _amount, at in lines]
    write_camt053(
        path,
        [
            StatementLine(
                line_no=n,
                source_ref=f"BK{n}",
                kind=LineKind.PAYOUT,
                direction=Direction.DEBIT,
                amount=amount,
                currency="CNY",
                booked_at=at,
                reference=reference,
            )
            for n, (reference, amount, at) in enumerate(lines, start=1)
        ],
        StatementHeader(
            statement_id=f"STMT-{path.stem}",
            account_iban="CN0000000000006222000011112222",
            currency="CNY",
            created_at=max(booked) + timedelta(hours=1),
            period_start=min(booked).date(),
            period_end=max(booked).date(),
        ),
    )
    return path.read_bytes()


def test_a_status_report_in_the_inbox_settles_its_payouts_and_moves_to_processed(
    runtime: Runtime,  # noqa: F811
    merchant: str,  # noqa: F811
    files: H2hFiles,  # noqa: F811
    bank: H2hBankChannel,  # noqa: F811
    inbox: H2hInbox,
    tmp_path: Path,
) -> None:
    orders, report = paid_payouts(runtime, merchant, files, bank, tmp_path, (30_000, 5_000))
    drop(bank, "STS-1.xml", report)

    [item] = inbox.collect(bank)

    assert (item.kind, item.moved_to, item.detail["succeeded"]) == ("pain002", "processed", 2)
    assert [status_of(runtime, o) for o in orders] == [OrderStatus.SUCCEEDED] * 2
    assert wallet(runtime, merchant) == (65_000, 65_000)
    assert list(inbound_dir(bank).glob("*.xml")) == []
    kept = inbound_dir(bank) / "processed" / "STS-1.xml.enc"  # it names payees: sealed
    assert sealed_files.read_clear(kept, runtime.cipher, kind=INBOUND_FILE_KIND) == report


def test_a_camt053_in_the_inbox_is_imported_and_every_business_day_it_covers_is_run(
    runtime: Runtime,  # noqa: F811
    merchant: str,  # noqa: F811
    files: H2hFiles,  # noqa: F811
    bank: H2hBankChannel,  # noqa: F811
    inbox: H2hInbox,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    orders, report = paid_payouts(runtime, merchant, files, bank, tmp_path, (12_000, 3_456))
    drop(bank, "STS-1.xml", report)
    inbox.collect(bank)
    first = runtime.payments.get(merchant_id=None, order_id=orders[0])
    paid_at = first.finished_at or clock.now()
    statement = camt053(
        tmp_path / "statement.xml",
        [(orders[0], 12_000, paid_at), (orders[1], 3_456, paid_at + timedelta(days=1))],
    )
    drop(bank, "camt053-1.xml", statement)

    [item] = inbox.collect(bank)

    day = runtime.payments.ctx.business_date(paid_at)
    runs = item.detail["runs"]
    assert (item.kind, item.moved_to, item.detail["new"]) == ("camt053", "processed", True)
    assert [r["business_date"] for r in runs] == [str(day), str(day + timedelta(days=1))]
    assert [(r["lines"], r["matched"], r["breaks_new"]) for r in runs] == [(1, 1, 0)] * 2
    imported = runtime.recon.get_import(item.detail["import_id"])
    assert (imported["source"], imported["line_count"]) == ("bank-h2h", 2)
    assert runtime.recon.list_breaks(source="bank-h2h") == []


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("notes.txt", b"not XML at all", "malformed_statement"),
        ("pain001.xml", None, "unsupported_inbound_file"),
        ("truncated.xml", (FIXTURES / "pain002_truncated.xml").read_bytes(), None),
    ],
)
def test_a_file_that_cannot_be_applied_is_rejected_beside_an_error_file_naming_the_code(
    runtime: Runtime,  # noqa: F811
    merchant: str,  # noqa: F811
    files: H2hFiles,  # noqa: F811
    bank: H2hBankChannel,  # noqa: F811
    inbox: H2hInbox,
    name: str,
    data: bytes | None,
    code: str | None,
) -> None:
    if data is None:  # our own pain.001, sent back by mistake
        payout(runtime, merchant, 1_000)
        data = files.open_file(files.export(bank))

    [item] = inbox.collect(bank) if drop(bank, name, data) else []

    rejected = inbound_dir(bank) / "rejected"
    error = (rejected / f"{name}.error.txt").read_text(encoding="utf-8")
    assert item.moved_to == "rejected"
    assert item.detail["code"] == (code or "malformed_status_report")
    assert f"code: {item.detail['code']}\n" in error
    assert f"detail: {item.detail['detail']}\n" in error and item.detail["detail"]
    kept = rejected / f"{name}.enc"
    assert sealed_files.read_clear(kept, runtime.cipher, kind=INBOUND_FILE_KIND) == data
    assert not (inbound_dir(bank) / name).exists()


def test_the_same_files_twice_change_nothing_the_second_time(
    runtime: Runtime,  # noqa: F811
    merchant: str,  # noqa: F811
    files: H2hFiles,  # noqa: F811
    bank: H2hBankChannel,  # noqa: F811
    inbox: H2hInbox,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    [order], report = paid_payouts(runtime, merchant, files, bank, tmp_path, (40_000,))
    drop(bank, "STS-1.xml", report)
    inbox.collect(bank)
    paid_at = runtime.payments.get(merchant_id=None, order_id=order).finished_at or clock.now()
    statement = camt053(tmp_path / "statement.xml", [(order, 40_000, paid_at)])
    drop(bank, "camt053.xml", statement)
    [first_import] = inbox.collect(bank)
    entries_before = runtime.ledger.check()

    # Sent again (or moved back after a crash before the move): applied again, harmlessly.
    drop(bank, "STS-1.xml", report)
    drop(bank, "camt053.xml", statement)
    again = {item.name: item for item in inbox.collect(bank)}

    assert again["STS-1.xml"].detail["duplicate"] is True
    assert again["camt053.xml"].detail["new"] is False
    assert again["camt053.xml"].detail["import_id"] == first_import.detail["import_id"]
    assert again["camt053.xml"].detail["runs"][0]["breaks_new"] == 0
    assert wallet(runtime, merchant) == (60_000, 60_000)
    assert runtime.ledger.check() == entries_before
    processed = sorted(p.name for p in (inbound_dir(bank) / "processed").iterdir())
    assert processed == ["STS-1.xml.1.enc", "STS-1.xml.enc", "camt053.xml.1.enc", "camt053.xml.enc"]


def test_a_file_still_being_written_is_left_alone_until_it_is_renamed(
    runtime: Runtime,  # noqa: F811
    merchant: str,  # noqa: F811
    files: H2hFiles,  # noqa: F811
    bank: H2hBankChannel,  # noqa: F811
    inbox: H2hInbox,
    tmp_path: Path,
) -> None:
    [order], report = paid_payouts(runtime, merchant, files, bank, tmp_path, (9_000,))
    folder = inbound_dir(bank)
    folder.mkdir(parents=True)
    half = folder / "STS-1.xml.part"
    half.write_bytes(report[: len(report) // 2])

    while_writing = inbox.collect(bank)
    half.write_bytes(report)
    half.rename(folder / "STS-1.xml")
    [item] = inbox.collect(bank)

    assert while_writing == []
    assert item.moved_to == "processed"
    assert status_of(runtime, order) is OrderStatus.SUCCEEDED


def test_a_failure_that_is_not_the_files_fault_leaves_it_in_the_inbox_for_the_next_tick(
    runtime: Runtime,  # noqa: F811
    merchant: str,  # noqa: F811
    files: H2hFiles,  # noqa: F811
    bank: H2hBankChannel,  # noqa: F811
    inbox: H2hInbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [order], report = paid_payouts(runtime, merchant, files, bank, tmp_path, (9_000,))
    dropped = drop(bank, "STS-1.xml", report)
    with monkeypatch.context() as patched:
        patched.setattr(
            type(inbox._files), "apply_status_report", _raises(OSError("database away"))
        )
        during_outage = inbox.tick()  # logged, not raised: the flows worker goes on

    assert during_outage == [] and dropped.exists()
    runtime.recon_daily.tick()  # the flows worker's next tick: the daily close's
    [item] = runtime.recon_daily.collected
    assert item.moved_to == "processed"
    assert status_of(runtime, order) is OrderStatus.SUCCEEDED


def _raises(error: Exception) -> Callable[..., None]:
    def apply(*_args: object, **_kwargs: object) -> None:
        raise error

    return apply


def test_the_cli_collects_a_channels_inbox_and_prints_what_it_did(
    runtime: Runtime,  # noqa: F811
    merchant: str,  # noqa: F811
    files: H2hFiles,  # noqa: F811
    bank: H2hBankChannel,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> None:
    files_dir = tmp_path / "cli-files"
    channels_file = tmp_path / "channels.json"
    channels_file.write_text(json.dumps({
        "channels": [{"name": "bank-h2h", "type": "h2h", "base_url": "https://h2h.example",
                      "h2h": {"debtor_name": "Paycore Ltd", "debtor_account": "6222000011112222",
                              "files_dir": str(files_dir)}}],
        "routes": [{"product": "*", "candidates": [{"channel": "bank-h2h"}]}],
    }))  # fmt: skip
    env = {
        "PAYCORE_DATABASE_URL": database_url,
        "PAYCORE_DATA_DIR": str(tmp_path),
        "PAYCORE_CHANNELS_FILE": str(channels_file),
    }
    order = payout(runtime, merchant, 10_000)
    report = status_report(files.open_file(files.export(bank)), {})
    (files_dir / "inbound").mkdir(parents=True)
    shutil.copy(FIXTURES / "pain002_truncated.xml", files_dir / "inbound" / "bad.xml")
    (files_dir / "inbound" / "STS-1.xml").write_bytes(report)

    collected = CliRunner().invoke(h2h_app, ["inbox", "bank-h2h"], env=env)
    unknown = CliRunner().invoke(h2h_app, ["inbox", "nope"], env=env)

    assert collected.exit_code == 0, collected.output
    moved = {f["file"]: f["moved_to"] for f in json.loads(collected.stdout)["files"]}
    assert moved == {"STS-1.xml": "processed", "bad.xml": "rejected"}
    assert "1 file(s) rejected" in collected.stderr
    assert status_of(runtime, order) is OrderStatus.PROCESSING  # the report decided nothing
    assert unknown.exit_code == 2 and "h2h_channel_not_found" in unknown.stderr


def test_http_collects_a_channels_inbox_for_platform_keys(
    runtime: Runtime,  # noqa: F811
    merchant: str,  # noqa: F811
    files: H2hFiles,  # noqa: F811
    bank: H2hBankChannel,  # noqa: F811
    client: TestClient,  # noqa: F811
    tmp_path: Path,
) -> None:
    [order], report = paid_payouts(runtime, merchant, files, bank, tmp_path, (2_000,))
    drop(bank, "STS-1.xml", report)
    _key, merchant_key = runtime.api_keys.issue(merchant_id=merchant, scopes=None)

    refused = client.post(
        "/v1/recon/h2h/bank-h2h/inbox", headers={"Authorization": f"Bearer {merchant_key}"}
    )
    collected = client.post("/v1/recon/h2h/bank-h2h/inbox")
    unknown = client.post("/v1/recon/h2h/nope/inbox")

    assert refused.status_code == 403
    assert collected.status_code == 200, collected.text
    [item] = collected.json()["files"]
    assert (item["file"], item["kind"], item["moved_to"]) == ("STS-1.xml", "pain002", "processed")
    assert status_of(runtime, order) is OrderStatus.SUCCEEDED
    assert unknown.status_code == 404
