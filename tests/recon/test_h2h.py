"""Payouts through a host-to-host bank: pain.001 out, pain.002 in, the ledger follows."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine
from typer.testing import CliRunner

from paycore.channels.config import build_channels, parse_config
from paycore.channels.h2h import H2hBankChannel, H2hSettings
from paycore.channels.model import (
    BankAccount,
    ChannelStatus,
    ChannelUnavailable,
    Operation,
    Payer,
    PayinRequest,
    RefundRequest,
)
from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.ledger.service import Ledger
from paycore.money import to_major
from paycore.payments import bookkeeping as books
from paycore.payments.model import OrderStatus
from paycore.payments.service import PayoutCommand
from paycore.platform.config import Settings
from paycore.recon import xsd
from paycore.recon.h2h_api import router as h2h_router
from paycore.recon.h2h_cli import h2h_app
from paycore.recon.h2h_service import H2hFiles, h2h_files
from paycore.recon.model import parse_amount
from paycore.recon.pain import PAIN001_NAMESPACE, parse_pain002
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from paycore.web.app import create_app
from tests.payments.conftest import fund_merchant
from tests.payments.http_conftest import scripted_runtime
from tests.recon.h2h_bank import end_to_end_ids, read_pain001, status_report

FIXTURES = Path(__file__).parent / "fixtures" / "pain"
_keys = itertools.count(1)


def h2h_channel(engine: Engine, clock: ManualClock, files_dir: Path) -> H2hBankChannel:
    settings = H2hSettings.parse(
        {"debtor_name": "Paycore Ltd", "debtor_account": "6222000011112222"},
        default_dir=files_dir,
    )
    return H2hBankChannel("bank-h2h", settings, engine=engine, clock=clock)


@pytest.fixture
def bank(engine: Engine, clock: ManualClock, tmp_path: Path) -> H2hBankChannel:
    return h2h_channel(engine, clock, tmp_path / "h2h")


@pytest.fixture
def runtime(
    database_url: str,
    engine: Engine,
    clock: ManualClock,
    ledger: Ledger,
    field_cipher: FieldCipher,
    bank: H2hBankChannel,
) -> Iterator[Runtime]:
    yield from scripted_runtime(
        database_url=database_url,
        engine=engine,
        clock=clock,
        ledger=ledger,
        cipher=field_cipher,
        channels=[bank],
    )


@pytest.fixture
def files(runtime: Runtime) -> H2hFiles:
    return h2h_files(runtime)


@pytest.fixture
def merchant(runtime: Runtime) -> str:
    created, _secret = runtime.merchants.create(name="Landlord Co", fee_bps=0)
    fund_merchant(runtime.ledger, created.id, 100_000)
    return created.id


def payout(runtime: Runtime, merchant: str, amount: int, name: str = "李四") -> str:
    command = PayoutCommand(
        merchant_id=merchant,
        amount=amount,
        currency="CNY",
        beneficiary=BankAccount(account_number="6217000010001234567", name=name),
    )
    created = runtime.payments.create_payout(command, idempotency_key=f"k{next(_keys)}")
    order_id: str = created.body["id"]
    return order_id


def wallet(runtime: Runtime, merchant: str) -> tuple[int, int]:
    account = runtime.ledger.get_account(books.wallet_account(merchant, "CNY"))
    assert account is not None
    return account.credits_posted - account.debits_posted, account.available


def status_of(runtime: Runtime, order_id: str) -> OrderStatus:
    return runtime.payments.get(merchant_id=None, order_id=order_id).status


def test_payouts_through_an_h2h_channel_wait_processing_with_the_hold_taken(
    runtime: Runtime, merchant: str, bank: H2hBankChannel
) -> None:
    first = payout(runtime, merchant, 30_000)
    second = payout(runtime, merchant, 20_000)

    assert [status_of(runtime, o) for o in (first, second)] == [OrderStatus.PROCESSING] * 2
    assert wallet(runtime, merchant) == (100_000, 50_000)
    assert bank.query(Operation.PAYOUT, first).status is ChannelStatus.PROCESSING
    assert bank.query(Operation.PAYOUT, "po_never_sent").status is ChannelStatus.NOT_FOUND


def test_pay_ins_and_refunds_are_refused_as_not_processed_so_the_router_fails_over(
    bank: H2hBankChannel,
) -> None:
    with pytest.raises(ChannelUnavailable):
        bank.pay_in(
            PayinRequest(
                "pay_1",
                100,
                "CNY",
                payer=Payer(card_number="6222021234567890123"),
                description="",
                expires_at=datetime(2026, 1, 2, tzinfo=UTC),
                notify_url="",
            )
        )
    with pytest.raises(ChannelUnavailable):
        bank.refund(RefundRequest("rf_1", "pay_1", None, 100, "CNY", notify_url=""))


def test_export_makes_one_xsd_valid_pain001_and_exporting_again_gives_the_same_file(
    runtime: Runtime, merchant: str, files: H2hFiles, bank: H2hBankChannel
) -> None:
    orders = sorted(payout(runtime, merchant, amount) for amount in (12_345, 20_000, 5))

    exported = files.export(bank)
    again = files.export(bank)

    data = files.open_file(exported)
    assert xsd.validate_bytes(data) == PAIN001_NAMESPACE  # sepaxml's pain.001.001.03 XSD
    header = read_pain001(data).cstmr_cdt_trf_initn.grp_hdr
    assert (header.msg_id, header.nb_of_txs, header.ctrl_sum) == (
        exported.msg_id,
        "3",
        Decimal("323.50"),
    )
    assert sorted(end_to_end_ids(data)) == orders
    assert exported.new and not again.new
    assert files.open_file(again) == data


def test_a_payout_made_after_an_export_goes_into_the_next_file_never_into_two(
    runtime: Runtime, merchant: str, files: H2hFiles, bank: H2hBankChannel
) -> None:
    early = payout(runtime, merchant, 1_000)
    first = files.export(bank)
    late = payout(runtime, merchant, 2_000)
    second = files.export(bank)
    first.path.unlink()  # lost on disk: rebuilt the same from the database

    rebuilt = files.export(bank, msg_id=first.msg_id)

    assert end_to_end_ids(files.open_file(rebuilt)) == [early]
    assert end_to_end_ids(files.open_file(second)) == [late]
    assert second.msg_id != first.msg_id
    assert hashlib.sha256(files.open_file(rebuilt)).hexdigest() == _stored_hash(files, first.msg_id)


def _stored_hash(files: H2hFiles, msg_id: str) -> str:
    from paycore.recon import h2h_store

    with files.engine.connect() as conn:
        row = h2h_store.get_file(conn, msg_id)
    assert row is not None
    return str(row["sha256"])


def test_nothing_waiting_and_no_file_yet_is_refused(files: H2hFiles, bank: H2hBankChannel) -> None:
    with pytest.raises(Rejected) as refused:
        files.export(bank)
    assert refused.value.code == "nothing_to_export"


def test_a_status_report_posts_the_accepted_payouts_and_voids_the_rejected_one(
    runtime: Runtime, merchant: str, files: H2hFiles, bank: H2hBankChannel, tmp_path: Path
) -> None:
    paid, closed_account, waiting = (payout(runtime, merchant, a) for a in (30_000, 20_000, 7))
    exported = files.export(bank)
    report = tmp_path / "pain002.xml"
    report.write_bytes(
        status_report(
            files.open_file(exported),
            {paid: ("ACSC", None), closed_account: ("RJCT", "AC04"), waiting: ("PDNG", None)},
        )
    )

    outcome = files.apply_status_report(report)

    assert (outcome.succeeded, outcome.failed, outcome.pending) == (1, 1, 1)
    assert status_of(runtime, paid) is OrderStatus.SUCCEEDED
    failed = runtime.payments.get(merchant_id=None, order_id=closed_account)
    assert failed.status is OrderStatus.FAILED
    assert failed.failure is not None
    assert (failed.failure.code, failed.failure.failure_class.value) == ("AC04", "user")
    assert status_of(runtime, waiting) is OrderStatus.PROCESSING
    assert wallet(runtime, merchant) == (70_000, 69_993)  # 30,000 paid, 7 still held
    assert runtime.ledger.check().ok


def test_the_same_status_report_twice_changes_nothing(
    runtime: Runtime, merchant: str, files: H2hFiles, bank: H2hBankChannel, tmp_path: Path
) -> None:
    order = payout(runtime, merchant, 40_000)
    exported = files.export(bank)
    report = tmp_path / "pain002.xml"
    report.write_bytes(status_report(files.open_file(exported), {order: ("ACSC", None)}))
    files.apply_status_report(report)
    entries_before = len(runtime.ledger.entries(books.wallet_account(merchant, "CNY")).entries)

    replay = files.apply_status_report(report)

    assert replay.duplicate and replay.succeeded == 1
    assert wallet(runtime, merchant) == (60_000, 60_000)
    entries = runtime.ledger.entries(books.wallet_account(merchant, "CNY")).entries
    assert len(entries) == entries_before
    assert runtime.ledger.check().ok


def test_a_rejected_group_fails_every_payout_of_the_file(
    runtime: Runtime, merchant: str, files: H2hFiles, bank: H2hBankChannel, tmp_path: Path
) -> None:
    orders = [payout(runtime, merchant, a) for a in (10_000, 15_000)]
    exported = files.export(bank)
    report = tmp_path / "pain002.xml"
    report.write_bytes(
        status_report(files.open_file(exported), {}, group_status="RJCT", group_reason="DU01")
    )

    outcome = files.apply_status_report(report)

    assert outcome.failed == 2
    assert [status_of(runtime, o) for o in orders] == [OrderStatus.FAILED] * 2
    assert wallet(runtime, merchant) == (100_000, 100_000)
    assert bank.query(Operation.PAYOUT, orders[0]).failure_code == "DU01"


def test_a_later_report_cannot_turn_a_settled_payout_around(
    runtime: Runtime, merchant: str, files: H2hFiles, bank: H2hBankChannel, tmp_path: Path
) -> None:
    order = payout(runtime, merchant, 10_000)
    exported = files.export(bank)
    (tmp_path / "ok.xml").write_bytes(
        status_report(files.open_file(exported), {order: ("ACSC", None)})
    )
    (tmp_path / "no.xml").write_bytes(
        status_report(files.open_file(exported), {order: ("RJCT", "AC01")}, report_id="STS-2")
    )
    files.apply_status_report(tmp_path / "ok.xml")

    outcome = files.apply_status_report(tmp_path / "no.xml")

    assert outcome.conflicts == [order]
    assert status_of(runtime, order) is OrderStatus.SUCCEEDED


def test_an_unknown_end_to_end_id_is_reported_not_a_crash(
    runtime: Runtime, merchant: str, files: H2hFiles, bank: H2hBankChannel, tmp_path: Path
) -> None:
    order = payout(runtime, merchant, 10_000)
    exported = files.export(bank)
    report = tmp_path / "pain002.xml"
    report.write_bytes(
        status_report(
            files.open_file(exported), {order: ("ACSC", None)}, extra={"po_not_ours": "ACSC"}
        )
    )

    outcome = files.apply_status_report(report)

    assert outcome.unknown == ["po_not_ours"]
    assert outcome.succeeded == 1
    assert status_of(runtime, order) is OrderStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("fixture", "says"),
    [
        ("pain002_truncated.xml", "not well-formed"),
        ("pain002_wrong_namespace.xml", "namespace"),
        ("pain002_unknown_element.xml", "Bonus"),
        ("pain002_missing_tx_status.xml", "TxSts is missing"),
        ("pain002_unknown_status_code.xml", "DONE"),
    ],
)
def test_a_malformed_status_report_is_refused_saying_what_is_wrong(
    files: H2hFiles, fixture: str, says: str
) -> None:
    with pytest.raises(Rejected) as refused:
        files.apply_status_report(FIXTURES / fixture)
    assert refused.value.code == "malformed_status_report"
    assert says in refused.value.detail


def test_a_report_on_a_file_we_never_sent_is_refused(files: H2hFiles) -> None:
    with pytest.raises(Rejected) as refused:
        files.apply_status_report(FIXTURES / "pain002_accepted_and_rejected.xml")
    assert refused.value.code == "h2h_file_not_found"


def test_the_fixture_report_reads_as_three_transaction_statuses() -> None:
    report = parse_pain002((FIXTURES / "pain002_accepted_and_rejected.xml").read_bytes())
    assert report.original_msg_id == "msg_FIXTURE"
    assert [(t.end_to_end_id, t.status, t.reason) for t in report.transactions] == [
        ("po_fixture_1", "ACSC", None),
        ("po_fixture_2", "RJCT", "AC04"),
        ("po_fixture_3", "PDNG", None),
    ]


def test_a_restart_keeps_the_waiting_payouts(
    runtime: Runtime, merchant: str, engine: Engine, clock: ManualClock, tmp_path: Path
) -> None:
    order = payout(runtime, merchant, 9_000)
    reborn = h2h_channel(engine, clock, tmp_path / "h2h")  # a new process: nothing in memory
    files = H2hFiles(engine=engine, payments=runtime.payments, clock=clock, cipher=runtime.cipher)

    exported = files.export(reborn)

    assert end_to_end_ids(files.open_file(exported)) == [order]
    assert reborn.query(Operation.PAYOUT, order).status is ChannelStatus.PROCESSING


def test_the_janitor_settles_from_a_decision_the_report_run_did_not_finish(
    runtime: Runtime, merchant: str, files: H2hFiles, bank: H2hBankChannel, clock: ManualClock
) -> None:
    order = payout(runtime, merchant, 10_000)
    exported = files.export(bank)
    report = parse_pain002(status_report(files.open_file(exported), {order: ("ACSC", None)}))
    files._decide(report, "a" * 64)  # decided, then the process stopped before settling
    clock.advance(3600)

    runtime.janitor.sweep()

    assert status_of(runtime, order) is OrderStatus.SUCCEEDED
    assert wallet(runtime, merchant) == (90_000, 90_000)


def test_an_h2h_channel_is_configured_from_the_channels_file(tmp_path: Path) -> None:
    settings = Settings(database_url="sqlite://", expiry_interval_s=1.0, data_dir=str(tmp_path))
    data = {
        "channels": [
            {
                "name": "bank-h2h",
                "type": "h2h",
                "base_url": "https://h2h.bank.example",
                "h2h": {"debtor_name": "Paycore Ltd", "debtor_account": "6222000011112222"},
            }
        ],
        "routes": [{"product": "*", "operations": ["payout"],
                    "candidates": [{"channel": "bank-h2h"}]}],
    }  # fmt: skip
    config = parse_config(json.loads(json.dumps(data)), settings=settings)
    channel = build_channels(config).registry.get("bank-h2h")
    assert isinstance(channel, H2hBankChannel)
    assert channel.settings.files_dir == tmp_path / "sandbox-bank" / "h2h-bank-h2h"
    with pytest.raises(Rejected) as refused:
        H2hSettings.parse({"debtor_name": "x", "debtor_account": "no!"}, default_dir=tmp_path)
    assert "h2h.debtor_account" in refused.value.detail


@given(
    amount=st.integers(min_value=0, max_value=10**15),
    code=st.sampled_from(["CNY", "JPY", "KWD", "EUR"]),
)
def test_a_file_amount_reads_back_as_the_same_minor_units(amount: int, code: str) -> None:
    assert parse_amount(str(to_major(amount, code)), code) == amount


def test_http_exports_a_file_and_applies_a_report(
    runtime: Runtime, client: TestClient, merchant: str, tmp_path: Path
) -> None:
    order = payout(runtime, merchant, 10_000)

    _key, revealer = runtime.api_keys.issue(merchant_id=None, scopes=["admin", "pii:reveal"])
    as_revealer = {"Authorization": f"Bearer {revealer}"}
    reason = {"reason": "manual upload to the bank portal, ticket 42"}
    exported = client.post("/v1/recon/h2h/bank-h2h/exports", json=reason, headers=as_revealer)
    again = client.get(
        f"/v1/recon/h2h/bank-h2h/files/{exported.headers['x-msg-id']}",
        params=reason,
        headers=as_revealer,
    )
    pain001 = tmp_path / "out.xml"
    pain001.write_bytes(exported.content)
    applied = client.post(
        "/v1/recon/h2h/status-reports",
        content=status_report(pain001, {order: ("ACSC", None)}),
        headers={"content-type": "application/xml"},
    )

    assert exported.status_code == 201 and again.status_code == 200
    assert again.content == exported.content
    assert applied.status_code == 200, applied.text
    assert applied.json()["succeeded"] == 1
    assert (
        client.post("/v1/recon/h2h/nope/exports", json=reason, headers=as_revealer).status_code
        == 404
    )
    audited = runtime.audit_log.list(limit=10)
    assert [(r.entry.action, r.entry.object_id) for r in audited] == [
        ("h2h.file", exported.headers["x-msg-id"])
    ] * 2


def test_http_hands_out_a_payout_file_only_with_pii_reveal_and_a_reason(
    runtime: Runtime, client: TestClient, merchant: str
) -> None:
    payout(runtime, merchant, 10_000)
    _key, revealer = runtime.api_keys.issue(merchant_id=None, scopes=["admin", "pii:reveal"])

    without_scope = client.post("/v1/recon/h2h/bank-h2h/exports", json={"reason": "x" * 20})
    without_reason = client.post(
        "/v1/recon/h2h/bank-h2h/exports", json={}, headers={"Authorization": f"Bearer {revealer}"}
    )

    assert without_scope.status_code == 403
    assert without_reason.status_code == 422
    assert without_reason.json()["code"] == "reveal_reason_required"
    assert runtime.audit_log.list(limit=10) == []


def test_http_refuses_merchant_keys(runtime: Runtime, client: TestClient, merchant: str) -> None:
    _key, clear = runtime.api_keys.issue(merchant_id=merchant, scopes=None)
    answer = client.post(
        "/v1/recon/h2h/bank-h2h/exports", json={}, headers={"Authorization": f"Bearer {clear}"}
    )
    assert answer.status_code == 403


@pytest.fixture
def client(runtime: Runtime, admin_key: str) -> Iterator[TestClient]:
    app = create_app(runtime=runtime)
    if not any(getattr(r, "path", "").startswith("/v1/recon/h2h") for r in app.routes):
        app.include_router(h2h_router)  # until the lead wires it into the app
    with TestClient(app, headers={"Authorization": f"Bearer {admin_key}"}) as test_client:
        yield test_client


def test_the_cli_applies_a_status_report_and_refuses_what_it_cannot_do(
    runtime: Runtime,
    merchant: str,
    files: H2hFiles,
    bank: H2hBankChannel,
    database_url: str,
    tmp_path: Path,
) -> None:
    order = payout(runtime, merchant, 10_000)
    exported = files.export(bank)
    report = tmp_path / "pain002.xml"
    report.write_bytes(status_report(files.open_file(exported), {order: ("ACSC", None)}))
    channels_file = tmp_path / "channels.json"
    channels_file.write_text(json.dumps({
        "channels": [{"name": "bank-h2h", "type": "h2h", "base_url": "https://h2h.example",
                      "h2h": {"debtor_name": "Paycore Ltd", "debtor_account": "6222000011112222",
                              "files_dir": str(tmp_path / "cli-files")}}],
        "routes": [{"product": "*", "candidates": [{"channel": "bank-h2h"}]}],
    }))  # fmt: skip
    env = {
        "PAYCORE_DATABASE_URL": database_url,
        "PAYCORE_DATA_DIR": str(tmp_path),
        "PAYCORE_CHANNELS_FILE": str(channels_file),
    }

    applied = CliRunner().invoke(h2h_app, ["status", str(report)], env=env)
    unknown = CliRunner().invoke(h2h_app, ["export", "nope"], env=env)
    malformed = CliRunner().invoke(
        h2h_app, ["status", str(FIXTURES / "pain002_truncated.xml")], env=env
    )

    assert applied.exit_code == 0, applied.output
    assert json.loads(applied.stdout)["succeeded"] == 1
    assert status_of(runtime, order) is OrderStatus.SUCCEEDED
    assert unknown.exit_code == 2 and "h2h_channel_not_found" in unknown.stderr
    assert malformed.exit_code == 2 and "malformed_status_report" in malformed.stderr
