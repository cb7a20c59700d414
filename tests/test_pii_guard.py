"""The suite's guard (tests/pii_guard.py) fails a test whose servers or commands show a
clear card, ID or phone number of the test data, and names where it appeared."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.pii_guard import Guard, known_values

CARD, ID_NUMBER, PHONE = "6228480402564890018", "11010519491231002X", "13812345678"
ROOT = Path(__file__).parent.parent


def test_the_guard_knows_the_card_id_and_phone_numbers_of_the_test_data() -> None:
    known = known_values()

    assert known[CARD] == "card number"
    assert known[ID_NUMBER] == "ID number"
    assert known[PHONE] == "phone number"
    assert "9558800000000001" not in known  # the platform's own account: not personal


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
    assert "6 passed, 4 errors" in said, said
    assert "clear card number 622848*********0018 in a log record of x.quiet" in said
    assert "clear card number 622848*********0018 in the body of GET /x (HTTP)" in said
    assert "clear phone number 138****5678 in the stdout of" in said
    assert "clear ID number 1****************X in the file server.log" in said
    for value in (CARD, ID_NUMBER, PHONE):
        assert value not in said
