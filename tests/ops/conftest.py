"""Fixtures of the SLO tests. Kept small: each ops helper's own fixtures live in
conftest_<name>.py files that their tests import (conftest_incidents.py, conftest_report.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from paycore.clock import ManualClock
from paycore.ops.sli import SliRecorder
from paycore.ops.slo import SloConfig
from paycore.runtime import Runtime
from paycore.web.app import create_app


@pytest.fixture
def slo_config() -> SloConfig:
    return SloConfig()


@pytest.fixture
def recorder(slo_config: SloConfig, clock: ManualClock) -> SliRecorder:
    """An SLI recorder as one server process has it, named node `n1`."""
    return SliRecorder(slo_config, clock, node="n1")


@pytest.fixture
def ops_client(runtime: Runtime, admin_key: str) -> Iterator[TestClient]:
    """The API, with the SLO routes, and the admin key."""
    app = create_app(runtime=runtime)
    with TestClient(app, headers={"Authorization": f"Bearer {admin_key}"}) as client:
        yield client
