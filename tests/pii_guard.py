"""A pytest plugin: the test data's card, ID and phone numbers and payers' names never appear
in clear in what the suite's servers and commands write. A test whose run shows one fails at
teardown, naming where it appeared (the value itself is reported masked).

What it knows: every string literal in tests/ that is a whole card-like number (13-19
digits), a resident ID number (17 digits and a digit or X) or a mainland mobile (with or
without +86), minus `NOT_PERSONAL` below; and every literal of 2-4 Chinese characters that
starts with a common surname (张三, 李四, 王五: the test payers' names; a name is C2 under
JR/T 0171). Numbers match exactly, on digit boundaries, so other numbers never trip it; a
name matches anywhere, its masked form (张*) never.

Where it looks (each the output of something paycore runs, never the test's own input):
- log records, as made (after paycore's redaction, installed here as every paycore process
  installs it at start), whichever logger and whether or not a handler writes them;
- HTTP response bodies of every httpx (and httpx2) client (FastAPI's TestClient is one; so
  are the clients of real `paycore serve` processes and of the sandbox bank);
- `CliRunner` results (stdout and stderr) and what `Popen.communicate` / `subprocess.run`
  collect from child processes;
- `*.log`, `*.out` and `*.err` files a test leaves in its `tmp_path`;
- every file paycore writes in the test's process (found by an audit hook on `open` and
  `os.rename`: the innermost frame that is paycore's or a test's decides who wrote it) and every
  other file left in `tmp_path` that no test code wrote (a child `paycore` process's
  exports): bills CSV/XLSX/PDF exports, reward result files, statement copies, H2H files,
  reports. An XLSX (or any ZIP) is read member by member, a PDF as its pages' text;
- the body of every webhook the relay sends (`notifications.model.body_of`).
Request bodies, files the test code (or the sandbox bank and finance receiver, paycore's
stand-ins for its counterparties) writes as input, databases and `BANK_CHANNELS` are not
looked at: the clear number legitimately travels there.
"""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
import sysconfig
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

import paycore
from paycore.notifications import model as notifications_model
from paycore.notifications import relay as notifications_relay
from paycore.security.files import MAGIC
from paycore.security.masking import install_redaction, mask_name, redact_personal_numbers

TESTS_DIR = Path(__file__).parent
PAYCORE_DIR = Path(paycore.__file__).parent
COUNTERPARTY_DIRS = (str(PAYCORE_DIR / "sandbox_bank"), str(PAYCORE_DIR / "sandbox_finance"))
"""paycore's stand-ins for its bank and its finance system: what they write is paycore's
input (a bank statement states the payer's account in full), as a test's own files are."""
COUNTERPARTY_WRITERS = {
    # Bank statements made for the tests, the bench and the demo (as classification_files
    # says): a bank's file, input to paycore.
    (str(PAYCORE_DIR / "recon" / "camt_writer.py"), None),
    (str(PAYCORE_DIR / "recon" / "wechat.py"), "write_wechat_bill"),
    # paycore's payout files for the bank (pain.001): the bank must read the beneficiaries'
    # names and accounts in clear, so the file is a bank channel like a statement is (kept
    # 7 days; handed to a person over HTTP only with pii:reveal, audited).
    (str(PAYCORE_DIR / "recon" / "h2h_service.py"), "_write"),
}
OUTPUT_SUFFIXES = (".log", ".out", ".err")
OUTPUT_FILE_BYTES_MAX = 20_000_000
SEALED_MAGIC = MAGIC
DATABASE_SUFFIXES = (".db", ".db-wal", ".db-shm", ".db-journal", ".sqlite", ".sqlite3")
PDF_PAGES_READ_MAX = 20

NOT_PERSONAL = {
    # Accounts of the platform itself at its banks, not of a person.
    "9558800000000001": "the custody bank account of the sandbox statements",
    "9558800000000077": "a custody virtual account",
    "9558800000000078": "a custody virtual account",
    "6222000011112222": "Paycore Ltd's debtor account in H2H files",
    "6222020000000000000": "the OpenAPI document's example card (no test pays with it)",
    "其他": "an account's name in a chart of accounts",
}

REVEALS = re.compile(
    r"/v1/(?:(?:payins|payouts)/[^/]+/reveal|pii/reveal|pii/subjects/export"
    r"|recon/h2h/[^/]+/(?:exports|files/[^/]+))"
)
"""Answers that hand clear personal data to a person on purpose: each needs `pii:reveal`
and a reason and leaves an audit record (security/reveal.py). Only their successful
answers are let through; a refusal from them is scanned like any other."""
BANK_CHANNELS = {
    # The sandbox bank's own channels to its merchant, where a real bank states numbers in
    # full too: a statement names the payer's account of a credit transfer, and paycore
    # needs it whole to pay the money back (custody's auto-refund).
    ("GET", "/v1/statements/"): "the sandbox bank's statement file",
    ("POST", "/admin/credits"): "the sandbox bank's test-only echo of a credit it was given",
}

_LITERAL = re.compile(r"""["'](\+?[0-9]{11,19}|[0-9]{17}[Xx])["']""")
_ID = re.compile(r"[0-9]{17}[0-9Xx]")
_PHONE = re.compile(r"(?:\+?86)?1[3-9][0-9]{9}")
_CARD = re.compile(r"[0-9]{13,19}")


_NAME_LITERAL = re.compile(r"""["']([\u4e00-\u9fff]{2,4})["']""")
_NAME_CONTEXT = re.compile(r"name|counterparty|payer|payee|holder", re.IGNORECASE)
"""A person's name is told from other Chinese text by where it stands: on a line that names
a name field (Payer(name=...), "payer_name", Counterparty(...), --name)."""


def known_values(tests_dir: Path = TESTS_DIR) -> dict[str, str]:
    """value -> kind, from the literals of the test sources."""
    found: dict[str, str] = {}
    for path in sorted(tests_dir.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for match in _LITERAL.finditer(source):
            value = match.group(1)
            kind = _kind(value)
            if kind and value not in NOT_PERSONAL:
                found[value] = kind
        for line in source.splitlines():
            if _NAME_CONTEXT.search(line):
                for value in _NAME_LITERAL.findall(line):
                    if value not in NOT_PERSONAL:
                        found[value] = "name"
    return found


def _kind(value: str) -> str | None:
    if _ID.fullmatch(value):
        return "ID number"
    if _PHONE.fullmatch(value):
        return "phone number"
    if _CARD.fullmatch(value):
        return "card number"
    return None


class Guard:
    """Collects findings: (test, where, kind, masked value)."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

        def either(kinds: set[str]) -> str:
            chosen = [v for v in values if values[v] in kinds]
            return "|".join(re.escape(v) for v in sorted(chosen, key=len, reverse=True)) or "$^"

        # A mobile may follow its country code (+8613812345678): 86 may precede it.
        phones, names = either({"phone number"}), either({"name"})
        others = either(set(values.values()) - {"phone number", "name"})
        self._pattern = re.compile(
            rf"(?<![0-9])(?:{others})(?![0-9])|(?:(?<![0-9])|(?<=86))(?:{phones})(?![0-9])"
            rf"|{names}"
        )
        self.current_test = "(outside any test)"
        self.findings: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()

    def scan(self, where: str, text: str | bytes | None) -> None:
        if not text:
            return
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        for match in self._pattern.finditer(text):
            value = match.group(0)
            kind = self.values[value]
            masked = mask_name(value) if kind == "name" else redact_personal_numbers(value)
            shown = f"clear {kind} {masked} in {where}"
            with self._lock:
                self.findings.append((self.current_test, where, shown))

    def take(self, test: str | None = None) -> list[str]:
        with self._lock:
            taken = [f for f in self.findings if test is None or f[0] == test]
            self.findings = [f for f in self.findings if f not in taken]
        lines = {f"{redact_personal_numbers(test_id)}: {shown}" for test_id, _, shown in taken}
        return sorted(lines)


_guard: Guard | None = None


def _install(guard: Guard) -> None:
    install_redaction()  # as every paycore process does at start (cli.main, create_app)
    make_record = logging.getLogRecordFactory()

    def checked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            text = record.getMessage()
        except Exception:  # a broken record: logging shows its msg and args
            text = f"{record.msg} {record.args}"
        parts = [text, record.exc_text, record.stack_info, repr(_extras(record))]
        guard.scan(f"a log record of {record.name}", "\n".join(p for p in parts if p))
        return record

    checked_record.redacts = True  # type: ignore[attr-defined]  # already behind redaction
    logging.setLogRecordFactory(checked_record)

    def wrap_send(send: Callable[..., Any], name: str) -> Callable[..., Any]:
        def checked_send(self: Any, request: httpx.Request, **kwargs: Any) -> Any:
            response = send(self, request, **kwargs)
            allowed = any(
                request.method == method and request.url.path.startswith(prefix)
                for method, prefix in BANK_CHANNELS
            ) or (response.status_code < 300 and bool(REVEALS.fullmatch(request.url.path)))
            if not kwargs.get("stream") and not allowed:
                where = f"the body of {request.method} {request.url.path} ({name})"
                guard.scan(redact_personal_numbers(where), response.content)
            return response

        return checked_send

    for client in _http_clients():
        client.send = wrap_send(client.send, "HTTP")

    invoke = CliRunner.invoke

    def checked_invoke(self: CliRunner, *args: Any, **kwargs: Any) -> Result:
        result = invoke(self, *args, **kwargs)
        guard.scan("a CLI command's output", result.output)
        if result.stderr_bytes:
            guard.scan("a CLI command's stderr", result.stderr_bytes)
        return result

    CliRunner.invoke = checked_invoke  # type: ignore[method-assign]

    communicate = subprocess.Popen.communicate

    def checked_communicate(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> Any:
        out, err = communicate(self, *args, **kwargs)
        guard.scan(f"the stdout of {_command(self)}", out)
        guard.scan(f"the stderr of {_command(self)}", err)
        return out, err

    subprocess.Popen.communicate = checked_communicate  # type: ignore[method-assign]

    body_of = notifications_model.body_of

    def checked_body_of(event: notifications_model.Event) -> bytes:
        body = body_of(event)
        guard.scan(f"the body of a {event.type} webhook", body)
        return body

    notifications_model.body_of = checked_body_of
    notifications_relay.body_of = checked_body_of  # type: ignore[attr-defined]


class Writes:
    """Who wrote which file, as the process's audit events tell: `outputs` were written (or
    moved into place) by paycore, `inputs` by a test or a counterparty stand-in."""

    def __init__(self) -> None:
        self.outputs: set[str] = set()
        self.inputs: set[str] = set()

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = args
            writing = (
                any(c in mode for c in "wax+")
                if isinstance(mode, str)
                else bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            )
            if writing and isinstance(path, str | Path):
                self._note(os.fspath(path))
        elif event == "os.rename" and isinstance(args[1], str | Path):
            self._note(os.fspath(args[1]))

    def _note(self, path: str) -> None:
        frame = sys._getframe(2)
        while frame is not None:
            name = frame.f_code.co_filename
            if name.startswith(_PAYCORE_PREFIX):
                by_paycore = not name.startswith(COUNTERPARTY_DIRS) and not (
                    (name, None) in COUNTERPARTY_WRITERS
                    or (name, frame.f_code.co_name) in COUNTERPARTY_WRITERS
                )
                (self.outputs if by_paycore else self.inputs).add(path)
                (self.inputs if by_paycore else self.outputs).discard(path)
                return
            if not name.startswith(_LIBRARY_PREFIXES) and name != __file__:  # a test's code
                self.inputs.add(path)
                self.outputs.discard(path)
                return
            frame = frame.f_back  # type: ignore[assignment]

    def take_outputs(self) -> list[Path]:
        taken, self.outputs = self.outputs, set()
        return [Path(p) for p in sorted(taken)]


_PAYCORE_PREFIX = str(PAYCORE_DIR) + os.sep
_LIBRARY_PREFIXES = ("<", *{sysconfig.get_path(p) for p in ("stdlib", "purelib", "platlib")})


def text_of(data: bytes) -> str:
    """What a reader of the file sees: a ZIP's members (an XLSX is XML in a ZIP), a PDF's
    pages, otherwise the bytes as UTF-8."""
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = [archive.read(info) for info in archive.infolist()]
            return "\n".join(text_of(member) for member in members)
        except (zipfile.BadZipFile, OSError, RuntimeError, EOFError):
            pass
    if data[:5] == b"%PDF-":
        return data.decode("latin-1") + "\n" + _pdf_text(data)
    return data.decode("utf-8", "replace")


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader  # only when a PDF shows up: the import costs 0.1 s

    try:
        pages = PdfReader(io.BytesIO(data)).pages[:PDF_PAGES_READ_MAX]
        return "\n".join(page.extract_text() for page in pages)
    except Exception as exc:  # a PDF pypdf cannot read is reported, never passed over
        return f"(unreadable PDF: {exc!r})"


def _http_clients() -> list[type[Any]]:
    """httpx's client, and httpx2's where installed: Starlette's TestClient is an
    httpx2.Client there, and its answers are the suite's bulk."""
    clients: list[type[Any]] = [httpx.Client]
    try:
        import httpx2
    except ImportError:
        return clients
    return [*clients, httpx2.Client]


_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRIBUTES}


def _command(process: subprocess.Popen[Any]) -> str:
    args = process.args if isinstance(process.args, list | tuple) else [process.args]
    words = [str(a) for a in args if not str(a).startswith("-")][:4]
    return redact_personal_numbers(" ".join(Path(w).name if "/" in w else w for w in words))


def _scan_output_files(guard: Guard, writes: Writes, directory: Path | None) -> None:
    """Output files of the test's servers (*.log, *.out, *.err, whoever opened them), the
    files paycore wrote, and the files in tmp_path that no test code wrote."""
    chosen = {path: path.name for path in writes.take_outputs()}
    if directory is not None:
        for path in directory.rglob("*"):
            if path.suffix in OUTPUT_SUFFIXES or str(path) not in writes.inputs:
                chosen[path] = str(path.relative_to(directory))
    for path, shown in chosen.items():
        if path.name.endswith(DATABASE_SUFFIXES) or not path.is_file():
            continue
        if path.stat().st_size <= OUTPUT_FILE_BYTES_MAX:
            data = path.read_bytes()
            # A sealed file (security/files.py) is AES-GCM ciphertext after its header:
            # nothing in it reads as a number, and a backup's hundreds of MB of it took
            # seconds per test to decode and search.
            if not data.startswith((b"SQLite format 3", SEALED_MAGIC)):
                guard.scan(f"the file {redact_personal_numbers(shown)}", text_of(data))


_writes = Writes()


def pytest_configure(config: pytest.Config) -> None:
    global _guard
    if _guard is None:
        _guard = Guard(known_values())
        _install(_guard)
        sys.addaudithook(_writes.hook)  # for the process's life: audit hooks stay


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    if _guard is not None:
        _guard.current_test = item.nodeid
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """After the test's fixtures are torn down (servers stopped, their output written):
    a finding fails the test's teardown."""
    tmp_path = getattr(item, "funcargs", {}).get("tmp_path")
    result = yield
    if _guard is not None:
        directory = tmp_path if isinstance(tmp_path, Path) and tmp_path.is_dir() else None
        _scan_output_files(_guard, _writes, directory)
        _writes.inputs.clear()
        found = _guard.take(item.nodeid)
        if found:
            pytest.fail("personal data in clear:\n" + "\n".join(found), pytrace=False)
    return result


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _guard is None:
        return
    left = _guard.take()
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("personal data in clear, outside any test's teardown:", red=True)
            for line in left:
                reporter.write_line(f"  {line}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
