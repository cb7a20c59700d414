"""A pytest plugin: the test data's card, ID and phone numbers never appear in clear in what
the suite's servers and commands write. A test whose run shows one fails at teardown,
naming where it appeared (the value itself is reported masked).

What it knows: every string literal in tests/ that is a whole card-like number (13-19
digits), a resident ID number (17 digits and a digit or X) or a mainland mobile (with or
without +86), minus `NOT_PERSONAL` below. Matching is exact, on digit boundaries, so other
numbers never trip it.

Where it looks (each the output of something paycore runs, never the test's own input):
- log records, as made (after paycore's redaction, installed here as every paycore process
  installs it at start), whichever logger and whether or not a handler writes them;
- HTTP response bodies of every httpx client (FastAPI's TestClient is one; so are the
  clients of real `paycore serve` processes and of the sandbox bank);
- `CliRunner` results (stdout and stderr) and what `Popen.communicate` / `subprocess.run`
  collect from child processes;
- `*.log`, `*.out` and `*.err` files a test leaves in its `tmp_path`.
Request bodies, files the test writes as input (statements, H2H files for the bank),
databases and `BANK_CHANNELS` are not looked at: the clear number legitimately travels there.
"""

from __future__ import annotations

import logging
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from paycore.security.masking import install_redaction, redact_personal_numbers

TESTS_DIR = Path(__file__).parent
OUTPUT_SUFFIXES = (".log", ".out", ".err")
OUTPUT_FILE_BYTES_MAX = 20_000_000

NOT_PERSONAL = {
    # Accounts of the platform itself at its banks, not of a person.
    "9558800000000001": "the custody bank account of the sandbox statements",
    "9558800000000077": "a custody virtual account",
    "9558800000000078": "a custody virtual account",
    "6222000011112222": "Paycore Ltd's debtor account in H2H files",
}

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


def known_values(tests_dir: Path = TESTS_DIR) -> dict[str, str]:
    """value -> kind, from the literals of the test sources."""
    found: dict[str, str] = {}
    for path in sorted(tests_dir.rglob("*.py")):
        for match in _LITERAL.finditer(path.read_text(encoding="utf-8")):
            value = match.group(1)
            kind = _kind(value)
            if kind and value not in NOT_PERSONAL:
                found[value] = kind
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
        phones, others = either({"phone number"}), either(set(values.values()) - {"phone number"})
        self._pattern = re.compile(
            rf"(?<![0-9])(?:{others})(?![0-9])|(?:(?<![0-9])|(?<=86))(?:{phones})(?![0-9])"
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
            shown = f"clear {self.values[value]} {redact_personal_numbers(value)} in {where}"
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
            )
            if not kwargs.get("stream") and not allowed:
                where = f"the body of {request.method} {request.url.path} ({name})"
                guard.scan(redact_personal_numbers(where), response.content)
            return response

        return checked_send

    httpx.Client.send = wrap_send(httpx.Client.send, "HTTP")  # type: ignore[method-assign]

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


_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRIBUTES}


def _command(process: subprocess.Popen[Any]) -> str:
    args = process.args if isinstance(process.args, list | tuple) else [process.args]
    words = [str(a) for a in args if not str(a).startswith("-")][:4]
    return redact_personal_numbers(" ".join(Path(w).name if "/" in w else w for w in words))


def _scan_output_files(guard: Guard, directory: Path) -> None:
    for path in directory.rglob("*"):
        small = path.is_file() and path.stat().st_size <= OUTPUT_FILE_BYTES_MAX
        if path.suffix in OUTPUT_SUFFIXES and small:
            guard.scan(f"the file {path.relative_to(directory)}", path.read_bytes())


def pytest_configure(config: pytest.Config) -> None:
    global _guard
    if _guard is None:
        _guard = Guard(known_values())
        _install(_guard)


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
        if isinstance(tmp_path, Path) and tmp_path.is_dir():
            _scan_output_files(_guard, tmp_path)
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
