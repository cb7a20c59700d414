"""A statement file is one import: the same bytes again under the same source and format
answer the first import; under another source or format they are refused, naming the
earlier import's id and source (a file cannot be two channels' statement)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from paycore.errors import Rejected
from paycore.recon import store
from paycore.recon.api import router
from paycore.recon.cli import recon_app
from paycore.recon.service import Recon
from paycore.runtime import Runtime
from paycore.web.app import create_app
from tests.recon.conftest import Row, write_statement
from tests.recon.malformed_files import valid_bytes


def _imports(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(store.imports)).scalar_one())


@pytest.fixture
def statement(tmp_path: Path) -> Path:
    return write_statement(tmp_path / "s.csv", [Row("S1", 500), Row("S2", 700)])


def test_the_same_file_under_the_same_source_and_format_answers_the_first_import(
    recon: Recon, statement: Path, engine: Engine
) -> None:
    first, created = recon.import_file(statement, format="test_csv", source="alpha")
    again, created_again = recon.import_file(statement, format="test_csv", source="alpha")

    assert (created, created_again) == (True, False)
    assert again["id"] == first["id"]
    assert _imports(engine) == 1


def test_the_same_file_under_another_source_is_refused_naming_the_earlier_import(
    recon: Recon, statement: Path, engine: Engine
) -> None:
    first, _ = recon.import_file(statement, format="test_csv", source="alpha")

    with pytest.raises(Rejected) as refused:
        recon.import_file(statement, format="test_csv", source="beta")

    assert refused.value.code == "exists_with_different_source"
    assert first["id"] in refused.value.detail and "alpha" in refused.value.detail
    assert _imports(engine) == 1


def test_the_same_file_under_another_format_is_refused_naming_the_earlier_import(
    recon: Recon, tmp_path: Path, engine: Engine
) -> None:
    path = tmp_path / "statement.csv"
    path.write_bytes(valid_bytes("sandbox_csv"))
    first, _ = recon.import_file(path, format="sandbox_csv", source="sandbox")

    with pytest.raises(Rejected) as refused:
        recon.import_file(path, format="wechat", source="sandbox")

    assert refused.value.code == "exists_with_different_format"
    detail = refused.value.detail
    assert first["id"] in detail and "sandbox" in detail and "sandbox_csv" in detail
    assert _imports(engine) == 1


def test_the_same_file_without_a_source_answers_the_first_import_whatever_its_source(
    recon: Recon, statement: Path
) -> None:
    first, _ = recon.import_file(statement, format="test_csv", source="beta")

    again, created = recon.import_file(statement, format="test_csv", source=None)

    assert (again["id"], created) == (first["id"], False)


def test_a_concurrent_import_of_the_same_file_under_another_source_is_refused_too(
    recon: Recon, statement: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both looked for the file before either committed: the loser finds the winner's
    import only when its insert fails, and must not answer it as its own."""
    first, _ = recon.import_file(statement, format="test_csv", source="alpha")
    looked_up = store.import_by_hash
    misses = [None]  # the first look, before the other import committed, finds nothing

    def racing(conn: Any, digest: str) -> dict[str, Any] | None:
        return misses.pop() if misses else looked_up(conn, digest)

    monkeypatch.setattr(store, "import_by_hash", racing)

    with pytest.raises(Rejected) as refused:
        recon.import_file(statement, format="test_csv", source="beta")

    assert refused.value.code == "exists_with_different_source"
    assert first["id"] in refused.value.detail


@pytest.fixture
def http(runtime: Runtime, admin_key: str) -> Iterator[TestClient]:
    app = create_app(runtime=runtime)
    if not any(getattr(r, "path", "") == "/v1/recon/imports" for r in app.routes):
        app.include_router(router)
    with TestClient(app, headers={"Authorization": f"Bearer {admin_key}"}) as client:
        yield client


def test_over_http_the_same_file_under_another_source_is_a_409_naming_the_earlier_import(
    http: TestClient, statement: Path
) -> None:
    data = statement.read_bytes()
    first = http.post("/v1/recon/imports", params={"format": "test_csv", "source": "alpha"},
                      content=data)  # fmt: skip
    other = http.post("/v1/recon/imports", params={"format": "test_csv", "source": "beta"},
                      content=data)  # fmt: skip

    assert first.status_code == 201, first.text
    assert other.status_code == 409, other.text
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["code"] == "exists_with_different_source"
    assert first.json()["id"] in other.json()["detail"]


def test_on_the_command_line_the_same_file_under_another_source_exits_2_naming_it(
    recon: Recon, statement: Path, database_url: str, tmp_path: Path
) -> None:
    first, _ = recon.import_file(statement, format="test_csv", source="alpha")
    env = {"PAYCORE_DATABASE_URL": database_url, "PAYCORE_DATA_DIR": str(tmp_path)}

    answer = CliRunner().invoke(
        recon_app, ["import", str(statement), "--format", "test_csv", "--source", "beta"], env=env
    )

    assert answer.exit_code == 2, answer.output
    assert "exists_with_different_source" in answer.stderr
    assert first["id"] in " ".join(answer.stderr.split())
