"""Every malformed statement file, of every non-camt format, is refused cleanly: exit 2
on the command line and 422 problem+json over HTTP, naming the line and the field, with
nothing stored (an import is all-or-nothing)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from paycore.errors import Rejected
from paycore.recon import h2h_api, h2h_store, store
from paycore.recon.api import router as recon_router
from paycore.recon.cli import recon_app
from paycore.recon.h2h_api import router as h2h_router
from paycore.recon.h2h_cli import h2h_app
from paycore.recon.service import Recon
from paycore.runtime import Runtime
from paycore.web.app import create_app
from tests.recon.conftest import Row, write_statement
from tests.recon.malformed_files import Case, all_cases

CASES = all_cases()
IDS = [f"{format}-{case.name}" for format, case in CASES]


@pytest.fixture
def http(runtime: Runtime, admin_key: str) -> Iterator[TestClient]:
    app = create_app(runtime=runtime)
    mounted = {getattr(route, "path", "") for route in app.routes}
    if "/v1/recon/imports" not in mounted:
        app.include_router(recon_router)
    if "/v1/recon/h2h/status-reports" not in mounted:
        app.include_router(h2h_router)
    with TestClient(app, headers={"Authorization": f"Bearer {admin_key}"}) as client:
        yield client


def _stored(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (store.imports, store.lines, h2h_store.reports)
        )


def _names_where(text: str, case: Case) -> None:
    """The refusal names the line (when the fault has one) and the field."""
    flat = " ".join(text.split())  # the terminal wraps long refusals
    if case.line is not None:
        assert f"line {case.line}," in flat, flat
    assert f"field {case.field}" in flat, flat


def _cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    channels = tmp_path / "channels.json"
    channels.write_text(json.dumps({
        "channels": [{"name": "bank-h2h", "type": "h2h", "base_url": "https://h2h.example",
                      "h2h": {"debtor_name": "Paycore Ltd", "debtor_account": "6222000011112222",
                              "files_dir": str(tmp_path / "h2h-files")}}],
        "routes": [{"product": "*", "candidates": [{"channel": "bank-h2h"}]}],
    }))  # fmt: skip
    return {
        "PAYCORE_DATABASE_URL": database_url,
        "PAYCORE_DATA_DIR": str(tmp_path),
        "PAYCORE_CHANNELS_FILE": str(channels),
    }


@pytest.mark.parametrize(("format", "case"), CASES, ids=IDS)
def test_a_malformed_file_exits_2_on_the_command_line_naming_its_line_and_field(
    format: str, case: Case, engine: Engine, runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / f"statement.{format}"
    path.write_bytes(case.make())
    env = _cli_env(database_url, tmp_path)

    if format == "pain002":
        answer = CliRunner().invoke(h2h_app, ["status", str(path)], env=env)
        code = "malformed_status_report"
    else:
        args = ["import", str(path), "--format", format, "--source", "alpha"]
        answer = CliRunner().invoke(recon_app, args, env=env)
        code = "malformed_statement"

    assert answer.exit_code == 2, (answer.output, answer.exception)
    assert code in answer.stderr
    _names_where(answer.stderr, case)
    assert _stored(engine) == (0, 0, 0)


@pytest.mark.parametrize(("format", "case"), CASES, ids=IDS)
def test_a_malformed_file_is_a_422_problem_over_http_naming_its_line_and_field(
    format: str, case: Case, engine: Engine, http: TestClient
) -> None:
    data = case.make()

    if format == "pain002":
        answer = http.post("/v1/recon/h2h/status-reports", content=data)
        code = "malformed_status_report"
    else:
        query = {"format": format, "source": "alpha"}
        answer = http.post("/v1/recon/imports", params=query, content=data)
        code = "empty_statement" if not data else "malformed_statement"

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code
    if code != "empty_statement":
        _names_where(answer.json()["detail"], case)
    assert _stored(engine) == (0, 0, 0)


def test_a_nul_a_parser_let_through_is_refused_by_the_import_naming_the_line_and_field(
    recon: Recon, engine: Engine, tmp_path: Path
) -> None:
    """PostgreSQL cannot store a NUL; the tests' own format does not look for one."""
    path = write_statement(tmp_path / "s.csv", [Row("S1", 500), Row("S2", 700, reference="a\x00b")])

    with pytest.raises(Rejected) as refused:
        recon.import_file(path, format="test_csv", source="alpha")

    assert refused.value.code == "malformed_statement"
    assert refused.value.detail.startswith("line 3, field reference: a NUL")
    assert _stored(engine) == (0, 0, 0)


def test_lines_adding_up_past_a_64_bit_total_are_refused_not_overflowed(
    recon: Recon, engine: Engine, tmp_path: Path
) -> None:
    half = 2**62  # each line fits; their sum does not fit recon_imports.credits
    path = write_statement(tmp_path / "s.csv", [Row("S1", half), Row("S2", half)])

    with pytest.raises(Rejected) as refused:
        recon.import_file(path, format="test_csv", source="alpha")

    assert refused.value.code == "malformed_statement"
    assert "credits add up to more than" in refused.value.detail
    assert _stored(engine) == (0, 0, 0)


def test_an_error_a_parser_did_not_foresee_is_still_a_refusal_of_the_file_and_logged(
    recon: Recon, engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "odd.dat"
    path.write_bytes(b"anything")

    with pytest.raises(Rejected) as refused:
        recon.import_file(path, format="unforeseen", source="alpha")

    assert refused.value.code == "malformed_statement"
    assert refused.value.detail == (
        "line 2, field file: the file cannot be read as unforeseen (IndexError)"
    )
    assert _stored(engine) == (0, 0, 0)
    assert any(record.exc_info for record in caplog.records), "logged with its trace"


def test_a_status_report_over_the_limit_is_refused_while_it_streams_in(
    http: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(h2h_api, "REPORT_BYTES_MAX", 1_000)

    answer = http.post("/v1/recon/h2h/status-reports", content=b"<" * 5_000)

    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "malformed_status_report"
    assert answer.json()["detail"].startswith("field size: over 1000 bytes")
    assert _stored(engine) == (0, 0, 0)
