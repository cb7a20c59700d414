"""Whatever a bank drops into a host-to-host inbox, malformed in any way, ends in
inbound/rejected/ beside its reason, and the inbox goes on with the next file: no
exception escapes the tick."""

from __future__ import annotations

from paycore.channels.h2h import H2hBankChannel
from paycore.recon.inbox import H2hInbox, inbound_dir
from paycore.runtime import Runtime
from tests.recon.malformed_files import all_cases
from tests.recon.test_h2h import bank, runtime  # noqa: F401 - fixtures
from tests.recon.test_inbox import drop, inbox  # noqa: F401 - fixtures


def test_every_malformed_file_in_the_inbox_is_rejected_beside_its_line_and_field(
    runtime: Runtime,  # noqa: F811
    bank: H2hBankChannel,  # noqa: F811
    inbox: H2hInbox,  # noqa: F811
) -> None:
    cases = {f"{format}-{case.name}.xml": (format, case) for format, case in all_cases()}
    for name, (_format, case) in cases.items():
        drop(bank, name, case.make())

    items = inbox.collect(bank)

    rejected = inbound_dir(bank) / "rejected"
    assert sorted(item.name for item in items) == sorted(cases)
    assert {item.moved_to for item in items} == {"rejected"}
    assert [p.name for p in inbound_dir(bank).iterdir() if p.is_file()] == []
    for item in items:
        _format, case = cases[item.name]
        error = (rejected / f"{item.name}.error.txt").read_text(encoding="utf-8")
        assert f"code: {item.detail['code']}\n" in error
        if item.kind == "pain002":  # told apart as a report: refused naming where
            assert item.detail["code"] == "malformed_status_report", item
            flat = " ".join(error.split())
            assert f"field {case.field}" in flat, flat
            if case.line is not None:
                assert f"line {case.line}," in flat, flat
        else:  # not XML, or no root to tell it by
            assert item.detail["code"] in ("malformed_statement", "unsupported_inbound_file")
    reports = [item for item in items if item.kind == "pain002"]
    assert len(reports) >= 6, reports
