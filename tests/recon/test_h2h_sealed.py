"""A pain.001 is kept sealed at rest and opened only when it is handed over."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from paycore.channels.h2h import H2hBankChannel
from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.recon import h2h_service, xsd
from paycore.recon.h2h_cli import h2h_app
from paycore.recon.h2h_outbound import clear_path, sealed_path
from paycore.recon.h2h_service import H2hFiles
from paycore.recon.pain import PAIN001_NAMESPACE
from paycore.runtime import Runtime
from paycore.security import files as sealed_files
from paycore.security.crypto import FieldCipher
from paycore.security.retention import DEFAULT_DAYS, Retention, rules_of
from tests.recon.h2h_bank import end_to_end_ids
from tests.recon.test_h2h import (  # noqa: F401 - fixtures
    bank,
    client,
    files,
    merchant,
    payout,
    runtime,
)

PAYEE = "Wang Xiaoming"
ACCOUNT = "6217000010001234567"  # the account `payout` gives every beneficiary
FIELD_KEY = bytes(range(1, 33))
REASON = "manual upload to the bank portal, ticket 77"


@pytest.fixture
def field_cipher() -> FieldCipher:
    """The key the CLI gets in PAYCORE_FIELD_KEYS, so it opens what the test sealed."""
    return FieldCipher({"cli1": FIELD_KEY}, "cli1")


def kept_bytes(folder: Path) -> list[tuple[str, bytes]]:
    return sorted((p.name, p.read_bytes()) for p in folder.rglob("*") if p.is_file())


def revealer(runtime: Runtime) -> dict[str, str]:  # noqa: F811
    _key, secret = runtime.api_keys.issue(merchant_id=None, scopes=["admin", "pii:reveal"])
    return {"Authorization": f"Bearer {secret}"}


def test_the_kept_pain001_holds_none_of_the_payees_name_or_account_bytes(
    runtime: Runtime,  # noqa: F811
    merchant: str,  # noqa: F811
    files: H2hFiles,  # noqa: F811
    bank: H2hBankChannel,  # noqa: F811
) -> None:
    payout(runtime, merchant, 10_000, name=PAYEE)
    payout(runtime, merchant, 2_000, name="李四")

    exported = files.export(bank)

    kept = kept_bytes(bank.settings.files_dir)
    assert [name for name, _data in kept] == [f"{exported.msg_id}.pain.001.xml.enc"]
    for secret in (PAYEE, "李四", ACCOUNT):
        assert not any(secret.encode() in data for _name, data in kept)
    assert sealed_files.is_sealed(exported.path)
    assert (os.stat(exported.path).st_mode & 0o777) == 0o600


def test_the_hand_over_opens_the_xml_that_validates_and_hashes_to_the_stored_sha256(
    runtime: Runtime,  # noqa: F811
    merchant: str,  # noqa: F811
    files: H2hFiles,  # noqa: F811
    bank: H2hBankChannel,  # noqa: F811
) -> None:
    order = payout(runtime, merchant, 10_000, name=PAYEE)
    exported = files.export(bank)

    data = files.open_file(exported)
    again = files.export(bank)  # the same file: kept as it was, not sealed anew

    assert xsd.validate_bytes(data) == PAIN001_NAMESPACE
    assert PAYEE.encode() in data and ACCOUNT.encode() in data
    assert end_to_end_ids(data) == [order]
    assert hashlib.sha256(data).hexdigest() == exported.sha256 == again.sha256
    assert files.open_file(again) == data and not again.new


def test_a_file_the_xsd_refuses_is_never_written_not_even_in_part(
    runtime: Runtime,  # noqa: F811
    merchant: str,  # noqa: F811
    files: H2hFiles,  # noqa: F811
    bank: H2hBankChannel,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payout(runtime, merchant, 10_000, name=PAYEE)
    real = h2h_service.build_pain001

    def broken(batch: Any) -> bytes:
        return real(batch).replace(b"<Ccy>", b"<Cur>").replace(b"</Ccy>", b"</Cur>")

    monkeypatch.setattr(h2h_service, "build_pain001", broken)

    with pytest.raises(Rejected) as refused:
        files.export(bank)

    assert refused.value.code == "invalid_pain001"
    assert kept_bytes(bank.settings.files_dir) == []


def test_a_tampered_sealed_file_is_refused_and_handed_to_no_one(
    runtime: Runtime,  # noqa: F811
    merchant: str,  # noqa: F811
    files: H2hFiles,  # noqa: F811
    bank: H2hBankChannel,  # noqa: F811
    client: TestClient,  # noqa: F811
) -> None:
    payout(runtime, merchant, 10_000, name=PAYEE)
    exported = files.export(bank)
    sealed = bytearray(exported.path.read_bytes())
    sealed[-5] ^= 0x01
    exported.path.write_bytes(bytes(sealed))

    with pytest.raises(Rejected) as refused:
        files.export(bank, msg_id=exported.msg_id)
    answer = client.get(
        f"/v1/recon/h2h/bank-h2h/files/{exported.msg_id}",
        params={"reason": REASON},
        headers=revealer(runtime),
    )

    assert refused.value.code == "file_tampered"
    assert answer.status_code == 422 and answer.json()["code"] == "file_tampered"
    assert PAYEE not in answer.text
    assert runtime.audit_log.list(limit=10) == []  # nothing handed out, nothing audited
    assert exported.path.read_bytes() == bytes(sealed)  # left for an operator to look at


def test_clear_bytes_under_the_sealed_name_are_refused_as_tampered(
    runtime: Runtime,  # noqa: F811
    merchant: str,  # noqa: F811
    files: H2hFiles,  # noqa: F811
    bank: H2hBankChannel,  # noqa: F811
) -> None:
    payout(runtime, merchant, 10_000)
    exported = files.export(bank)
    exported.path.write_bytes(files.open_file(exported).replace(b"Paycore", b"Payc0re"))

    with pytest.raises(Rejected) as refused:
        files.open_file(exported)

    assert refused.value.code == "file_tampered"


def test_a_file_kept_in_clear_before_is_handed_over_and_replaced_by_its_sealed_copy(
    runtime: Runtime,  # noqa: F811
    merchant: str,  # noqa: F811
    files: H2hFiles,  # noqa: F811
    bank: H2hBankChannel,  # noqa: F811
) -> None:
    order = payout(runtime, merchant, 10_000, name=PAYEE)
    exported = files.export(bank)
    clear = files.open_file(exported)
    exported.path.unlink()  # as a deployment before the sealing left it:
    clear_path(bank.settings.files_dir, exported.msg_id).write_bytes(clear)

    again = files.export(bank, msg_id=exported.msg_id)

    assert files.open_file(again) == clear and end_to_end_ids(clear) == [order]
    assert not clear_path(bank.settings.files_dir, exported.msg_id).exists()
    assert again.path == sealed_path(bank.settings.files_dir, exported.msg_id)
    assert not any(PAYEE.encode() in data for _n, data in kept_bytes(bank.settings.files_dir))


def test_the_retention_purges_sealed_and_clear_pain001_files_past_seven_days(
    runtime: Runtime,  # noqa: F811
    merchant: str,  # noqa: F811
    files: H2hFiles,  # noqa: F811
    bank: H2hBankChannel,  # noqa: F811
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    payout(runtime, merchant, 10_000)
    old = files.export(bank)
    payout(runtime, merchant, 3_000)
    recent = files.export(bank)
    before = clear_path(bank.settings.files_dir, "MSG-BEFORE")
    before.write_bytes(b"<Document/>")
    for path, days in ((old.path, 8), (before, 8), (recent.path, 6)):
        stamp = (clock.now() - timedelta(days=days)).timestamp()
        os.utime(path, (stamp, stamp))
    retention = Retention(
        rules_of(tmp_path / "data", [bank.settings.files_dir], DEFAULT_DAYS), clock=clock
    )

    done = retention.purge()

    assert done.removed == {"h2h_outbound": 2}
    assert sorted(done.paths) == sorted([old.path, before])
    assert recent.path.exists()


def test_the_cli_writes_the_clear_xml_only_with_a_reason_and_audits_it(
    runtime: Runtime,  # noqa: F811
    merchant: str,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> None:
    order = payout(runtime, merchant, 10_000, name=PAYEE)
    env = _cli_env(database_url, tmp_path)
    out = tmp_path / "for-the-bank.xml"

    no_reason = CliRunner().invoke(h2h_app, ["export", "bank-h2h", "--out", str(out)], env=env)
    assert no_reason.exit_code == 2 and not out.exists()
    done = CliRunner().invoke(
        h2h_app, ["export", "bank-h2h", "--out", str(out), "--reason", REASON], env=env
    )
    over = CliRunner().invoke(
        h2h_app, ["export", "bank-h2h", "--out", str(out), "--reason", REASON], env=env
    )

    assert done.exit_code == 0, done.output
    assert PAYEE not in done.output and ACCOUNT not in done.output
    assert xsd.validate(out) == PAIN001_NAMESPACE and end_to_end_ids(out) == [order]
    assert (os.stat(out).st_mode & 0o777) == 0o600
    assert over.exit_code == 2  # an existing file is never overwritten
    kept = tmp_path / "cli-files"
    assert not any(PAYEE.encode() in data for _n, data in kept_bytes(kept))
    audited = runtime.audit_log.list(limit=10)
    assert [(r.entry.action, r.entry.object_id) for r in audited] == [
        ("h2h.file", json.loads(done.stdout)["msg_id"])
    ]
    out.unlink()  # the clear copy the test asked for: not the test's output


def _cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    channels_file = tmp_path / "channels.json"
    channels_file.write_text(json.dumps({
        "channels": [{"name": "bank-h2h", "type": "h2h", "base_url": "https://h2h.example",
                      "h2h": {"debtor_name": "Paycore Ltd", "debtor_account": "6222000011112222",
                              "files_dir": str(tmp_path / "cli-files")}}],
        "routes": [{"product": "*", "candidates": [{"channel": "bank-h2h"}]}],
    }))  # fmt: skip
    return {
        "PAYCORE_DATABASE_URL": database_url,
        "PAYCORE_DATA_DIR": str(tmp_path),
        "PAYCORE_CHANNELS_FILE": str(channels_file),
        "PAYCORE_FIELD_KEYS": "cli1:" + base64.b64encode(FIELD_KEY).decode(),
        "PAYCORE_FIELD_KEY_ID": "",
    }


@pytest.fixture(autouse=True)
def _no_leftover_clear_files(tmp_path: Path) -> Iterator[None]:
    yield
    leftovers = [p for p in tmp_path.rglob("*.partial")] + list(tmp_path.rglob("*.sealing"))
    assert leftovers == []
