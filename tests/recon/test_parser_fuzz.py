"""Fuzzing every non-camt parser: random bytes and mutated valid files either parse or
are refused with `MalformedStatement` (a pain.002: `malformed_status_report`) naming the
field, never any other exception. The import on top of them stores a file whole or not
at all, whatever it holds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from paycore.errors import Rejected
from paycore.recon import alipay, sandbox_statement, store, wechat
from paycore.recon.model import MalformedStatement, Statement
from paycore.recon.pain import parse_pain002
from paycore.recon.service import Recon
from tests.recon.malformed_files import alipay_texts, alipay_zip, valid_bytes

PARSERS: dict[str, Callable[..., Statement]] = {
    "sandbox_csv": sandbox_statement.parse,
    "wechat": wechat.parse,
    "alipay": alipay.parse,
}
TOKENS = [b"\x00", b",", b"\n", b"\r", b'"', b"`", b"\t", b"#", b"\xef\xbb\xbf", b"\xff",
          b"9" * 25, "\u00b2".encode(), "\uff15".encode(), b"-", b".", b"0001-01-01 00:00:00",
          b"9999-12-31 23:59:59", b"<!DOCTYPE x>", b"&amp;", b"<", b"]]>", b"[/x]"]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """A valid file with a few bytes deleted, inserted, replaced or the end cut off."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["delete", "insert", "token", "flip", "cut", "repeat"]))
        if kind == "delete":
            del data[at : at + draw(st.integers(1, 40))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "token":
            data[at:at] = draw(st.sampled_from(TOKENS))
        elif kind == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at:]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 80))]
    return bytes(data)


def _mutated_alipay() -> st.SearchStrategy[bytes]:
    """Mostly the CSV inside the ZIP mutated (a mutated ZIP is nearly always not a ZIP)."""
    detail, summary = (text.encode("gbk") for text in alipay_texts())
    inside = st.tuples(mutated(detail), st.one_of(st.just(summary), mutated(summary)))
    return st.one_of(inside.map(lambda parts: alipay_zip(*parts)), mutated(valid_bytes("alipay")))


def _parse(format: str, path: Path) -> None:
    """Parse and read every line, as the import does; only a clean refusal may escape."""
    try:
        statement = PARSERS[format](path)
        list(statement.lines)
    except MalformedStatement as refused:
        assert refused.field, refused.detail  # every refusal names its field


FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip


@pytest.mark.parametrize("format", sorted(PARSERS))
@FUZZ
@given(data=st.binary(max_size=3000))
def test_random_bytes_parse_or_are_refused_cleanly(
    format: str, data: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "random"
    path.write_bytes(data)

    _parse(format, path)


@pytest.mark.parametrize("format", sorted(PARSERS))
@FUZZ
@given(data=st.data())
def test_mutated_valid_files_parse_or_are_refused_cleanly(
    format: str, data: st.DataObject, tmp_path: Path
) -> None:
    strategy = _mutated_alipay() if format == "alipay" else mutated(valid_bytes(format))
    path = tmp_path / "mutated"
    path.write_bytes(data.draw(strategy))

    _parse(format, path)


def _report(data: bytes) -> None:
    try:
        parse_pain002(data)
    except Rejected as refused:
        assert refused.code == "malformed_status_report", refused
        assert "field " in refused.detail, refused.detail


@FUZZ
@given(data=st.binary(max_size=3000))
def test_random_bytes_are_no_status_report(data: bytes) -> None:
    _report(data)


@FUZZ
@given(data=mutated(valid_bytes("pain002")))
def test_a_mutated_status_report_parses_or_is_refused_cleanly(data: bytes) -> None:
    _report(data)


def _stored(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(store.imports)).scalar_one(),
            conn.execute(select(func.count()).select_from(store.lines)).scalar_one(),
        )


@pytest.mark.parametrize("format", sorted(PARSERS))
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(data=st.data())
def test_an_import_of_a_mutated_file_is_whole_or_leaves_nothing(
    format: str, data: st.DataObject, recon: Recon, engine: Engine, tmp_path: Path
) -> None:
    strategy = _mutated_alipay() if format == "alipay" else mutated(valid_bytes(format))
    path = tmp_path / "mutated"
    path.write_bytes(data.draw(strategy))
    before = _stored(engine)

    try:
        imported, created = recon.import_file(path, format=format, source="fuzz")
    except Rejected:
        assert _stored(engine) == before
    else:
        if created:
            lines = imported["line_count"] - imported["repeated_lines"]
            assert _stored(engine) == (before[0] + 1, before[1] + lines)
