"""The suite's guard (tests/pii_guard.py) fails a test whose servers, commands, files or
webhooks show a clear card, ID or phone number or a payer's name of the test data, and names
where it appeared."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from tests.pii_guard import Guard, known_values, text_of

CARD, ID_NUMBER, PHONE = "6228480402564890018", "11010519491231002X", "13812345678"
NAME = "张三"
ROOT = Path(__file__).parent.parent


def test_the_guard_knows_the_card_id_and_phone_numbers_of_the_test_data() -> None:
    known = known_values()

    assert known[CARD] == "card number"
    assert known[ID_NUMBER] == "ID number"
    assert known[PHONE] == "phone number"
    assert known[NAME] == "name"
    assert "9558800000000001" not in known  # the platform's own account: not personal
    assert "其他" not in known  # an account's name in a chart, on a line with "name_zh"
    assert "手续费" not in known  # Chinese text in tests, but never a person's


def test_the_guard_finds_names_anywhere_but_not_masked() -> None:
    guard = Guard({NAME: "name", "张三丰": "name"})
    guard.current_test = "t"

    guard.scan("a", "付款人张* 张**")
    guard.scan("b", "payer 张三丰, 张三")

    assert guard.take() == ["t: clear name 张* in b", "t: clear name 张** in b"]


def test_the_text_of_a_zip_member_and_of_a_pdf_page_is_read(tmp_path: Path) -> None:
    archive = tmp_path / "a.xlsx"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("xl/sharedStrings.xml", f"<t>{NAME}</t><t>{CARD}</t>")
    pdf = _one_page_pdf(f"card {CARD}")

    assert NAME in text_of(archive.read_bytes()) and CARD in text_of(archive.read_bytes())
    assert CARD in text_of(pdf)


def _one_page_pdf(text: str) -> bytes:
    """A PDF whose page draws `text` in a compressed stream (the bytes never show it)."""
    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    stream = DecodedStreamObject()
    stream.set_data(f"BT /F1 12 Tf 10 100 Td ({text}) Tj ET".encode())
    page[NameObject("/Contents")] = writer._add_object(stream.flate_encode())
    out = io.BytesIO()
    writer.write(out)
    assert CARD.encode() not in out.getvalue()
    return out.getvalue()


def test_the_guard_matches_whole_numbers_only_and_reports_them_masked() -> None:
    guard = Guard({CARD: "card number", PHONE: "phone number"})
    guard.current_test = "t"

    guard.scan("a", f"ref 9{CARD} and 1{PHONE}2 and {CARD[:-1]}")
    guard.scan("b", f"GET /v1/payins/{CARD} and tel:+86{PHONE}".encode())

    assert guard.take() == [
        "t: clear card number 622848*********0018 in b",
        "t: clear phone number 138****5678 in b",
    ]


LEAKING_TESTS = f'''
import logging, subprocess, sys
import httpx

def test_logs_a_card_number_that_redaction_masks():
    logging.getLogger("x").warning("card %s", "-".join("{CARD}"))

def test_logs_a_card_number_with_redaction_broken(monkeypatch):
    monkeypatch.setattr("paycore.security.masking.redact_personal_numbers", lambda t: t)
    logger = logging.getLogger("x.quiet")  # made but written nowhere: still a finding
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    logger.warning("card %s", "{CARD}")

def test_answers_a_card_number_in_a_body():
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="{CARD}"))
    httpx.Client(transport=transport).get("http://bank/x")

def test_a_child_process_prints_a_phone_number():
    subprocess.run([sys.executable, "-c", "print({PHONE!r})"], capture_output=True)

def test_a_server_log_file_has_an_id_number(tmp_path):
    (tmp_path / "server.log").write_text("id {ID_NUMBER}")

def test_masked_output_is_fine(tmp_path):
    (tmp_path / "server.log").write_text("card 622848*********0018")

def test_paycore_exports_an_xlsx_with_a_card_number(tmp_path):
    from paycore.bills.exports import Format, write_file
    write_file([{{"card": "{CARD}"}}], ["card"], tmp_path / "bill.xlsx", Format.XLSX)

def test_paycore_exports_a_name_outside_tmp_path(tmp_path_factory):
    from paycore.bills.exports import Format, write_file
    out = tmp_path_factory.mktemp("data") / "bill.csv"
    write_file([{{"name": "{NAME}"}}], ["name"], out, Format.CSV)

def test_a_child_process_leaves_a_file_with_a_phone_number(tmp_path):
    write = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
    subprocess.run([sys.executable, "-c", write, str(tmp_path / "r.json"), "{PHONE}"])

def test_a_webhook_names_the_payer():
    from datetime import UTC, datetime
    from paycore.notifications import model
    payload = {{"payer": {{"name": "{NAME}"}}}}
    event = model.Event("ev_1", "m_1", "payin.succeeded", "pay_1", payload, datetime.now(UTC))
    model.body_of(event)

def test_input_files_the_test_writes_are_not_looked_at(tmp_path):
    (tmp_path / "statement.csv").write_text("{CARD},{NAME}")
    (tmp_path / "moved.csv").write_text("{CARD},{NAME}")
    (tmp_path / "moved.csv").rename(tmp_path / "in.csv")
'''


def test_a_run_whose_tests_show_clear_numbers_fails_naming_each_test_and_place(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_leaks.py").write_text(textwrap.dedent(LEAKING_TESTS))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    plugins = ["-p", "tests.pii_guard", "-p", "no:cacheprovider", "-p", "no:logging"]
    command = [sys.executable, "-m", "pytest", *plugins, "--rootdir", str(tmp_path), "-q",
               str(tmp_path / "test_leaks.py")]  # fmt: skip
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True)
    said = done.stdout + done.stderr

    assert done.returncode == 1, said
    assert "11 passed, 8 errors" in said, said
    assert "clear card number 622848*********0018 in a log record of x.quiet" in said
    assert "clear card number 622848*********0018 in the body of GET /x (HTTP)" in said
    assert "clear phone number 138****5678 in the stdout of" in said
    assert "clear ID number 1****************X in the file server.log" in said
    assert "clear card number 622848*********0018 in the file bill.xlsx" in said
    assert "clear name 张* in the file bill.csv" in said
    assert "clear phone number 138****5678 in the file r.json" in said
    assert "clear name 张* in the body of a payin.succeeded webhook" in said
    assert "statement.csv" not in said and "in.csv" not in said
    for value in (CARD, ID_NUMBER, PHONE, NAME):
        assert value not in said


def test_the_guard_reads_the_answers_of_fastapis_test_client() -> None:
    """In this environment Starlette's TestClient is an httpx2 client, not an httpx one."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from tests import pii_guard

    app = FastAPI()
    app.get("/card")(lambda: {"card": CARD})
    assert pii_guard._guard is not None
    before = len(pii_guard._guard.findings)

    TestClient(app).get("/card")

    found = pii_guard._guard.findings[before:]
    pii_guard._guard.findings = pii_guard._guard.findings[:before]  # the finding was wanted
    assert [shown for _, _, shown in found] == [
        "clear card number 622848*********0018 in the body of GET /card (HTTP)"
    ]
